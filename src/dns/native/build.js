// npm's install step for the batched UDP addon (src/dns/README.md): node-gyp with the machine's own
// compiler and the Node headers that came with this node (PREFIX/include/node), so nothing is
// downloaded. No headers or no compiler: say so in one line and exit 0; serve then uses dgram.
const { spawnSync } = require('node:child_process');
const { existsSync } = require('node:fs');
const { join, resolve } = require('node:path');

const prefix = resolve(process.execPath, '../..');
const skip = (why) => {
  console.log(`geosteer: batched UDP addon not built (${why}); serve will use Node's dgram`);
  process.exit(0);
};
if (process.platform !== 'linux') skip(`recvmmsg/sendmmsg need Linux, this is ${process.platform}`);
if (!existsSync(join(prefix, 'include/node/node_api.h'))) skip(`no Node headers at ${prefix}/include/node`);
const cc = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
if (cc.error || cc.status !== 0) skip('no C compiler (cc)');
// npm passes its bundled node-gyp in npm_config_node_gyp; else one on the PATH.
const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []];
const r = spawnSync(cmd, [...args, 'rebuild', `--directory=${__dirname}`, `--nodedir=${prefix}`, '--loglevel=warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
if (r.error || r.status !== 0) skip(`node-gyp failed${r.error ? `: ${r.error.message}` : ''}`);
console.log('geosteer: batched UDP addon built (src/dns/native/build/Release/udp_batch.node)');
