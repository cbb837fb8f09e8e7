import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig';
import { stopChild } from '../helpers/process';
import { freePort } from '../helpers/redis';
import { until } from '../helpers/wait';

// What an operator installs: `npm pack` in a checkout that was never built (prepack builds dist), then
// `npm install -g` of that tarball into a throwaway prefix, then the `geosteer` that lands on the PATH,
// run from a directory that is not the checkout. The install fetches the package's dependencies the
// way an operator's does: from the npm cache that `npm ci` filled, else the registry (--prefer-offline;
// --offline fails because `npm ci` caches tarballs but not the registry's package documents).

const ROOT = resolve(__dirname, '../../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };

/** The environment without what `npm test` exports to its children (npm_config_prefix and the like would redirect the install). */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && !k.startsWith('GEOSTEER_') && !k.startsWith('REDIS_')) env[k] = v;
  return { ...env, ...extra };
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw r.error;
  return r;
}
const show = (r: SpawnSyncReturns<string>): string => `exit ${r.status} ${r.signal ?? ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('npm pack makes a tarball that npm install -g turns into a working geosteer', { timeout: 90_000 }, () => {
  let tmp: string;
  let files: string[] = [];
  let tarball = '';
  let prefix = '';
  let work = '';
  let env: NodeJS.ProcessEnv = {};

  before(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'geosteer-pack-')));
    // A checkout without dist/ (what a fresh clone has), sharing node_modules so prepack's tsc runs offline.
    const src = join(tmp, 'src');
    const top = new Set(['node_modules', 'dist', '.git']);
    cpSync(ROOT, src, { recursive: true, filter: (p) => !top.has(p.slice(ROOT.length + 1)) });
    symlinkSync(join(ROOT, 'node_modules'), join(src, 'node_modules'));
    const packed = run('npm', ['pack', '--json', '--pack-destination', tmp], src, cleanEnv(), 60_000);
    assert.equal(packed.status, 0, show(packed));
    // prepack's own output precedes the JSON on stdout.
    const json = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('\n[') + 1)) as Array<{ filename: string; files: Array<{ path: string }> }>;
    files = json[0].files.map((f) => f.path);
    tarball = join(tmp, json[0].filename);
    prefix = join(tmp, 'prefix');
    const installed = run('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], tmp, cleanEnv(), 60_000);
    assert.equal(installed.status, 0, show(installed));
    work = join(tmp, 'work');
    mkdirSync(work);
    // An operator's own copy of the map, away from the package: `geoip: default` still finds the bundled GeoLite2.
    cpSync(join(ROOT, 'geodata/map.yaml'), join(work, 'map.yaml'));
    env = cleanEnv({ PATH: `${join(prefix, 'bin')}:${process.env.PATH}`, LOG_LEVEL: 'info' });
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  // docs/map.schema.json: the sample map's `yaml-language-server: $schema=../docs/map.schema.json` line points there.
  // The batched UDP addon ships as C source: npm install builds it with the operator's compiler (src/dns/native).
  const NATIVE = ['src/dns/native/binding.gyp', 'src/dns/native/udp_batch.c', 'src/dns/native/build.js'];
  test('the tarball holds the built CLI, the worker, geodata, the schema and the addon source, and no tests or TypeScript sources', () => {
    assert.ok(existsSync(tarball));
    for (const f of ['package.json', 'README.md', 'bin/geosteer.js', 'dist/src/cli/main.js', 'dist/src/geo/region-trie-worker.js', 'geodata/map.yaml', 'geodata/demo.yaml', 'docs/map.schema.json', 'docs/geosteer.service', ...NATIVE]) {
      assert.ok(files.includes(f), `${f} missing from the tarball`);
    }
    for (const f of files) {
      if (NATIVE.includes(f)) continue;
      assert.ok(!/^(dist\/test|dist\/bench|test|src|bench|\.ci)\//.test(f), `${f} should not be in the tarball`);
      assert.ok(!f.endsWith('.ts'), `${f}: TypeScript source in the tarball`);
    }
  });

  test('geosteer on the PATH prints its usage and the package version', () => {
    const help = run('geosteer', ['--help'], work, env, 20_000);
    assert.equal(help.status, 0, show(help));
    assert.match(help.stdout + help.stderr, /geosteer check FILE/);
    const version = run('geosteer', ['--version'], work, env, 20_000);
    assert.equal(version.status, 0, show(version));
    assert.equal(version.stdout.trim(), `${pkg.name} ${pkg.version}`);
  });

  test('geosteer check accepts the installed sample map and a map outside the package, with the bundled GeoLite2', () => {
    const sample = join(prefix, 'lib/node_modules', pkg.name, 'geodata/map.yaml');
    const ok = run('geosteer', ['check', sample], work, env, 30_000);
    assert.equal(ok.status, 0, show(ok));
    const own = run('geosteer', ['check', 'map.yaml'], work, env, 30_000);
    assert.equal(own.status, 0, show(own));
  });

  test('the installed geosteer serve answers dig with the installed default map', async () => {
    const port = await freePort();
    const proc = spawn('geosteer', ['serve', '--listen', `127.0.0.1:${port}`, '--workers', '1', '--no-probe', '--metrics-listen', 'off'], {
      cwd: work,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise((r) => proc.once('exit', r));
    try {
      await until('the installed serve to start', () => {
        if (proc.exitCode !== null) throw new Error(`serve exited ${proc.exitCode}:\n${output}`);
        return output.includes('"msg":"geosteer serving"');
      }, 30_000);
      // 113.108.0.1 is Guangdong in the bundled GeoLite2: the south region, datacenter gz.
      const r = await dig(port, ['www.example.com', 'A', '+subnet=113.108.0.0/24']);
      assert.equal(r.status, 'NOERROR', r.raw);
      assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10'], r.raw);
      // npm install -g built the addon from the tarball's C source (this machine has cc): the batched path runs.
      assert.match(output, /"msg":"UDP path: batched/, output);
    } finally {
      await stopChild(proc, exited);
    }
  });
});
