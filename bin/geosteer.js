#!/usr/bin/env node
// The `geosteer` command that npm links (package.json "bin"). It lives outside dist/ on purpose: git keeps
// its exec bit, so it runs before the first build, after every rebuild (which deletes dist/) and through
// `npm link` / `npm install -g .` on a clone that was never built (npm links no bin whose file is missing).
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const main = join(root, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(main)) {
  process.stderr.write(`geosteer: not built yet: run \`npm run build\` in ${root}\n`);
  process.exit(1);
}
require(main);
