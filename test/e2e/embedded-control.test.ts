import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, cliEnv, runCli, showRun } from '../helpers/cli';
import { dig } from '../helpers/dig';
import { stopChild } from '../helpers/process';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { mapWithPrimaryService } from '../helpers/server';
import { until } from '../helpers/wait';

// One server without Redis, steered with the same verbs: `geosteer drain/undrain/promote/status
// --server HOST:PORT` reach the embedded table through the admin port (single process and
// cluster primary), with the server checking names against its live map.

const SVC = 'www.example.com';
const DB = 'db.example.com';
const GD = '183.6.0.0/24'; // south: gz, bj, sg
const ADDR = { gz: '192.0.2.50', bj: '198.51.100.50', sg: '203.0.113.50' };
const dir = mkdtempSync(join(tmpdir(), 'geosteer-control-'));
const map = join(dir, 'map.yaml');

interface Served {
  child: ChildProcess;
  dns: number;
  admin: number;
  log: () => string;
  stop(): Promise<void>;
}

async function serveProc(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const [dns, admin] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [CLI, 'serve', '--config', map, '--listen', `127.0.0.1:${dns}`, '--metrics-listen', `127.0.0.1:${admin}`, ...args], {
    env: { ...cliEnv({ LOG_LEVEL: 'info', TMPDIR: dir }), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  await until('serve to answer', async () => {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}:\n${out}`);
    return (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => null))?.status === 200 && out.includes('geosteer serving');
  }, 20_000);
  return { child, dns, admin, log: () => out, stop: () => stopChild(child, exited) };
}

const ctl = (s: Served, verb: string, ...args: string[]) => runCli([verb, ...args, '--server', `127.0.0.1:${s.admin}`], { timeoutMs: 15_000 });
const answer = async (s: Served, name = SVC): Promise<string> => (await dig(s.dns, [name, 'A', `+subnet=${GD}`])).answer.map((x) => x[4]).join(',');

before(() => {
  writeFileSync(map, mapWithPrimaryService(DB, ADDR));
});
after(() => rmSync(dir, { recursive: true, force: true }));

for (const workers of ['1', '2']) {
  describe(`serve --workers ${workers}, embedded table`, () => {
    let s: Served;
    before(async () => {
      s = await serveProc(['--workers', workers]);
    });
    after(async () => {
      await s?.stop();
    });

    test('drain, status, undrain and promote through --server: the answers move, the output and audit are the shared table\'s', async () => {
      assert.equal(await answer(s), '192.0.2.10');
      const d = await ctl(s, 'drain', 'gz', '--service', SVC, '--for', '10m', '--reason', 'kernel upgrade', '--by', 'alice');
      assert.equal(d.code, 0, showRun(d));
      assert.equal(d.stdout.trim(), `drained gz for ${SVC} for 600s: kernel upgrade`);
      await until('south leaves gz', async () => (await answer(s)) === '198.51.100.10', 5000);

      const st = await ctl(s, 'status');
      assert.equal(st.code, 0, showRun(st));
      assert.match(st.stdout, new RegExp(`^health table: embedded, the server at 127\\.0\\.0\\.1:${s.admin}`, 'm'));
      assert.match(st.stdout, /^www\.example\.com\s+gz\s+drained\s+until \+10m \(kernel upgrade\)/m);
      assert.match(st.stdout, /^db\.example\.com\s+bj\s+/m, 'every pair of the live map is listed');
      assert.match(st.stdout, /gz for www\.example\.com, 10m left, by alice: kernel upgrade/);
      assert.match(st.stdout, /"action":"drain","dc":"gz","service":"www\.example\.com","forMs":600000,"reason":"kernel upgrade","by":"alice"/);
      assert.doesNotMatch(st.stdout, /fleet registry/, 'one server: no fleet section');
      const js = await ctl(s, 'status', '--json');
      const doc = JSON.parse(js.stdout) as { server: string; drains: Array<{ dc: string }>; hosts: unknown[] };
      assert.deepEqual(doc.drains.map((x) => x.dc), ['gz']);
      assert.deepEqual(doc.hosts, []);

      const u = await ctl(s, 'undrain', 'gz', '--service', SVC, '--by', 'alice');
      assert.equal(u.code, 0, showRun(u));
      assert.equal(u.stdout.trim(), `undrained gz for ${SVC}`);
      await until('south back on gz', async () => (await answer(s)) === '192.0.2.10', 5000);
      const again = await ctl(s, 'undrain', 'gz', '--service', SVC);
      assert.equal(again.code, 1, showRun(again));
      assert.equal(again.stdout.trim(), `no drain of gz for ${SVC}`);

      assert.equal(await answer(s, DB), ADDR.bj);
      const p = await ctl(s, 'promote', DB, 'sg', '--reason', 'bj maintenance');
      assert.equal(p.code, 0, showRun(p));
      assert.equal(p.stdout.trim(), `${DB}: primary is now sg`);
      await until('db on sg', async () => (await answer(s, DB)) === ADDR.sg, 5000);
      const back = await ctl(s, 'promote', DB, 'bj');
      assert.equal(back.code, 0, showRun(back));
      await until('db back on bj', async () => (await answer(s, DB)) === ADDR.bj, 5000);
    });

    test('names are checked against the live map: an unknown datacenter or service, a non-primary service: exit 2, nothing written', async () => {
      const cases: Array<[string[], RegExp]> = [
        [['drain', 'xx', '--for', '1m', '--reason', 'typo'], /unknown datacenter "xx" \(known: gz, bj, sg\)/],
        [['drain', 'gz', '--service', 'nosuch.example.com', '--for', '1m', '--reason', 'typo'], /unknown service "nosuch\.example\.com"/],
        [['promote', SVC, 'gz'], /"www\.example\.com" is not a policy: primary service \(db\.example\.com\)/],
      ];
      for (const [[verb, ...args], why] of cases) {
        const r = await ctl(s, verb, ...args);
        assert.equal(r.code, 2, showRun(r));
        assert.match(r.stderr, why);
      }
      const st = JSON.parse((await ctl(s, 'status', '--json')).stdout) as { drains: unknown[] };
      assert.deepEqual(st.drains, []);
    });
  });
}

test('the control routes refuse what a web page can send: an Origin, a cross-site fetch, a form body', async () => {
  const s = await serveProc(['--workers', '1']);
  try {
    const post = (headers: Record<string, string>, body: string) => fetch(`http://127.0.0.1:${s.admin}/api/drain`, { method: 'POST', headers, body });
    const drain = JSON.stringify({ dc: 'gz', service: SVC, forMs: 60_000, reason: 'csrf', by: 'evil' });
    assert.equal((await post({ 'content-type': 'application/json', origin: 'https://evil.example' }, drain)).status, 403);
    assert.equal((await post({ 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' }, drain)).status, 403);
    assert.equal((await post({ 'content-type': 'text/plain' }, drain)).status, 415);
    assert.equal((await post({ 'content-type': 'application/x-www-form-urlencoded' }, 'dc=gz')).status, 415);
    const bad = await post({ 'content-type': 'application/json' }, '{"dc": "gz"');
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /not JSON/);
    assert.equal((await fetch(`http://127.0.0.1:${s.admin}/api/drain`)).status, 405, 'GET is not a drain');
    assert.equal(await answer(s), '192.0.2.10', 'nothing was drained');
  } finally {
    await s.stop();
  }
});

test('off loopback rules: with GEOSTEER_ADMIN_TOKEN the CLI needs the token; a wrong one is refused', async () => {
  const s = await serveProc(['--workers', '1'], { GEOSTEER_ADMIN_TOKEN: 'sesame-0123456789' });
  try {
    const args = ['status', '--server', `127.0.0.1:${s.admin}`];
    const none = await runCli(args);
    assert.equal(none.code, 1, showRun(none));
    assert.match(none.stderr, /wants a bearer token: set GEOSTEER_ADMIN_TOKEN/);
    const wrong = await runCli(args, { env: cliEnv({ GEOSTEER_ADMIN_TOKEN: 'not-it' }) });
    assert.equal(wrong.code, 1, showRun(wrong));
    const right = await runCli(args, { env: cliEnv({ GEOSTEER_ADMIN_TOKEN: 'sesame-0123456789' }) });
    assert.equal(right.code, 0, showRun(right));
    assert.doesNotMatch(right.stdout + right.stderr, /sesame/, 'the token is never printed');
  } finally {
    await s.stop();
  }
});

test('nothing listening at --server, or REDIS and --server together: a clear error', async () => {
  const port = await freePort();
  const r = await runCli(['drain', 'gz', '--for', '1m', '--reason', 'x', '--server', `127.0.0.1:${port}`]);
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, new RegExp(`no geosteer serve answers at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  const both = await runCli(['status', '--redis', 'redis://127.0.0.1:1', '--server', `127.0.0.1:${port}`]);
  assert.equal(both.code, 2, showRun(both));
  assert.match(both.stderr, /give REDIS \(the shared table\) or --server HOST:PORT/);
});

test('a server on the shared table has no control routes: the CLI says to use --redis', { skip: redisAvailable() ? false : 'redis-server not installed' }, async () => {
  const redis = await TestRedis.start();
  try {
    const s = await serveProc(['--workers', '1', '--redis', redis.url, '--no-probe']);
    try {
      const r = await ctl(s, 'status');
      assert.equal(r.code, 1, showRun(r));
      assert.match(r.stderr, /runs with the shared table \(steer it with --redis URL\)/);
    } finally {
      await s.stop();
    }
  } finally {
    await redis.stop();
  }
});

test('kill -HUP with the map unchanged says so (and reloads nothing)', async () => {
  const s = await serveProc(['--workers', '1']);
  try {
    s.child.kill('SIGHUP');
    await until('the unchanged line', () => /map unchanged \(version [0-9a-f]+\): nothing reloaded/.test(s.log()), 5000);
    assert.doesNotMatch(s.log(), /map reloaded/);
  } finally {
    await s.stop();
  }
});

test('kill -HUP while cluster workers are still starting: they start, get the reload once ready, and the server stays up', async () => {
  const [dns, admin] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [CLI, 'serve', '--config', map, '--workers', '2', '--listen', `127.0.0.1:${dns}`, '--metrics-listen', `127.0.0.1:${admin}`], {
    env: cliEnv({ LOG_LEVEL: 'info', TMPDIR: dir }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr?.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise((r) => child.once('exit', r));
  try {
    // The workers are forked right after this line and need a second or more to install their handlers.
    await until('the primary to start', () => out.includes('geosteer cluster primary started'), 10_000);
    child.kill('SIGHUP');
    await until('every worker ready', async () => {
      if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode}:\n${out}`);
      return (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => null))?.status === 200;
    }, 30_000);
    assert.doesNotMatch(out, /could not start/);
    assert.equal((await dig(dns, [SVC, 'A', `+subnet=${GD}`])).answer.map((x) => x[4]).join(','), '192.0.2.10');
  } finally {
    await stopChild(child, exited);
  }
});
