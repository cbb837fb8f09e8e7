import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig';
import { stopChild } from '../helpers/process';
import { httpGet } from '../helpers/prom';
import { freePort } from '../helpers/redis';
import { until } from '../helpers/wait';

// docs/geosteer.service, the unit operators install: systemd accepts it, it keeps the promises the
// README makes (check before start, SIGHUP reload, port 53 without root, hardening), and its command
// lines do what they say when run as systemd would run them (no shell; words split on spaces).

const ROOT = resolve(__dirname, '../../..');
const UNIT = join(ROOT, 'docs/geosteer.service');
const unitText = readFileSync(UNIT, 'utf8');

/** Each `Key=value` of the [Service] section, in order (a key may repeat). */
function serviceLines(text: string): Array<[string, string]> {
  const section = text.slice(text.indexOf('\n[Service]\n'), text.indexOf('\n[Install]\n'));
  return section
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}
const service = serviceLines(unitText);
const value = (k: string): string | undefined => service.find(([key]) => key === k)?.[1];

const analyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const skipAnalyze = analyze.status === 0 ? false : 'systemd-analyze not installed (Debian package systemd)';

/** The unit with the bare `geosteer` replaced by this checkout's bin, which systemd-analyze wants to find executable. */
function unitForThisCheckout(dir: string): string {
  const path = join(dir, 'geosteer.service');
  writeFileSync(path, unitText.replace(/^(Exec\w+=)geosteer /gm, `$1${join(ROOT, 'bin/geosteer.js')} `));
  return path;
}

describe('docs/geosteer.service', () => {
  let tmp: string;
  before(() => {
    tmp = realpathSync(mkdtempSync(join(tmpdir(), 'geosteer-unit-')));
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test('checks the map before starting, reloads with SIGHUP, binds 53 as its own user with one capability', () => {
    assert.match(value('ExecStartPre') ?? '', /^geosteer check \/etc\/geosteer\/map\.yaml$/);
    assert.match(value('ExecStart') ?? '', /^geosteer serve --config \/etc\/geosteer\/map\.yaml .*--listen 0\.0\.0\.0:53 --listen \[::\]:53/);
    assert.equal(value('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(value('User'), 'geosteer');
    assert.equal(value('AmbientCapabilities'), 'CAP_NET_BIND_SERVICE');
    assert.equal(value('CapabilityBoundingSet'), 'CAP_NET_BIND_SERVICE');
    for (const [k, v] of [['NoNewPrivileges', 'yes'], ['ProtectSystem', 'strict'], ['ProtectHome', 'yes'], ['PrivateTmp', 'yes'], ['RestrictNamespaces', 'yes'], ['Restart', 'always']]) {
      assert.equal(value(k), v, `${k}=${v}`);
    }
    // PrivateTmp empties /tmp on each restart, where the health snapshot would go by default.
    assert.match(value('ExecStart') ?? '', /--state-file \/var\/lib\/geosteer\//);
    assert.equal(value('StateDirectory'), 'geosteer');
  });

  test('the [Service] lines README.md shows are the unit\'s own', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const shown = [...readme.matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes('[Service]'));
    assert.ok(shown, 'README.md shows the unit in an ini block');
    const lines = serviceLines(shown.replace(/^ +/gm, '').replace('[Service]', '\n[Service]') + '\n[Install]\n');
    assert.ok(lines.length >= 4, shown);
    for (const [k, v] of lines) assert.ok(service.some(([uk, uv]) => uk === k && uv === v), `README.md shows ${k}=${v}, docs/geosteer.service does not have it`);
  });

  test('systemd-analyze verify accepts it without a warning', { skip: skipAnalyze }, () => {
    const r = spawnSync('systemd-analyze', ['verify', unitForThisCheckout(tmp)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim(), '', r.stderr);
  });

  test('systemd-analyze security rates its exposure 2.0 or lower (OK)', { skip: skipAnalyze }, () => {
    const dir = join(tmp, 'security');
    mkdirSync(dir);
    const r = spawnSync('systemd-analyze', ['security', '--offline=true', '--threshold=20', unitForThisCheckout(dir)], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    const level = /Overall exposure level for geosteer\.service: (\d+\.\d+)/.exec(r.stdout);
    assert.ok(level, r.stdout);
    assert.ok(Number(level[1]) <= 2.0, `exposure ${level[1]} (a hardening line was dropped?):\n${r.stdout}`);
  });

  test('its ExecStartPre, ExecStart and ExecReload lines run: check passes, serve answers, SIGHUP loads an edit, SIGTERM exits 0', async () => {
    const map = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');
    const etc = join(tmp, 'etc');
    const state = join(tmp, 'state');
    mkdirSync(etc);
    mkdirSync(state);
    writeFileSync(join(etc, 'map.yaml'), map);
    const port = await freePort();
    const admin = await freePort();
    // Only what a test cannot use as written: /etc and /var/lib paths, port 53 and the admin port.
    const words = (line: string): string[] =>
      line
        .replaceAll('/etc/geosteer/', `${etc}/`)
        .replaceAll('/var/lib/geosteer/', `${state}/`)
        .replace('--listen 0.0.0.0:53 --listen [::]:53', `--listen 127.0.0.1:${port} --metrics-listen 127.0.0.1:${admin}`)
        .split(' ');
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH}`, LOG_LEVEL: 'info' };
    for (const k of Object.keys(env)) if (k.startsWith('REDIS_') || k.startsWith('GEOSTEER_')) delete env[k];
    const bin = (argv: string[]): string[] => (argv[0] === 'geosteer' ? [join(ROOT, 'bin/geosteer.js'), ...argv.slice(1)] : argv);

    const [checkCmd, ...checkArgs] = bin(words(value('ExecStartPre') ?? ''));
    const pre = spawnSync(checkCmd, checkArgs, { env, encoding: 'utf8', timeout: 30_000 });
    assert.equal(pre.status, 0, `${pre.stdout}${pre.stderr}`);

    const [serveCmd, ...serveArgs] = bin(words(value('ExecStart') ?? ''));
    const proc = spawn(serveCmd, serveArgs, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
    const answer = async (): Promise<string> => (await dig(port, ['www.example.com', 'A', '+subnet=113.108.0.0/24'])).answer.map((a) => a[4]).join(',');
    try {
      await until('serve to start', () => {
        if (proc.exitCode !== null) throw new Error(`serve exited ${proc.exitCode}:\n${output}`);
        return output.includes('"msg":"geosteer serving"');
      }, 30_000);
      // Reload only once every worker is up: a SIGHUP forwarded to a worker still starting kills it
      // (cluster.ts forwards to all workers; a starting one has no handler yet) and serve exits 1.
      await until('every worker ready (/readyz)', async () => (await httpGet(admin, '/readyz')).status === 200, 30_000);
      assert.equal(await answer(), '192.0.2.10');

      const edited = map.replace('gz: { a: [192.0.2.10]', 'gz: { a: [192.0.2.11]');
      assert.notEqual(edited, map, 'the sample map changed: update the edit');
      writeFileSync(join(etc, 'map.yaml'), edited);
      const reload = words((value('ExecReload') ?? '').replace('$MAINPID', String(proc.pid)));
      const r = spawnSync(reload[0], reload.slice(1), { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // Every worker reloads: several answers in a row carry the edit.
      await until('every worker to answer from the edited map', async () => {
        for (let i = 0; i < 8; i++) if ((await answer()) !== '192.0.2.11') return false;
        return true;
      }, 20_000);
    } finally {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000))]);
      if (code === 'timeout') await stopChild(proc, exited, 0);
      assert.equal(code, 0, `serve exited ${code} on SIGTERM:\n${output}`);
    }
  });
});
