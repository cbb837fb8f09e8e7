import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { inspect } from 'node:util';
import { describeRedis, RedisConfigError, redisOptionsFrom, RedisStore, type RedisConnectionOptions, type Vote } from '../../src/health';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP } from '../helpers/server';
import { freePort, makeTestTls, redisAvailable, TestRedis, type TestTlsFiles } from '../helpers/redis';
import { until } from '../helpers/wait';
import { CLI, runCli, type CliRun } from '../helpers/cli';
import { stopChild } from '../helpers/process';

// Redis AUTH (requirepass, ACL users) and TLS against real redis-servers, with
// a throwaway CA made by the openssl CLI. Every secret is random, so finding
// one in any output (logs, errors, `status`, /api/status, /metrics) is a leak.

const skip = !redisAvailable() ? 'redis-server not installed' : spawnSync('openssl', ['version']).status !== 0 ? 'openssl not installed' : false;
const secret = (what: string): string => `${what}-${randomBytes(6).toString('hex')}`;
const PW = secret('default-pw');
const ACL_PW = secret('acl-pw');
const WRONG_PW = secret('wrong-pw');
const SENTINEL_PW = secret('sentinel-pw');
const SECRETS = [PW, ACL_PW, WRONG_PW, SENTINEL_PW];

let tls: TestTlsFiles;
let otherCa: TestTlsFiles;
let auth: TestRedis; // requirepass PW, ACL user geo/ACL_PW, user nochan without channels
let secure: TestRedis; // TLS only, requirepass PW
let dir: string;
const cleanups: Array<() => Promise<unknown> | void> = [];

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'geosteer-secure-'));
  tls = makeTestTls();
  otherCa = makeTestTls();
  [auth, secure] = await Promise.all([
    TestRedis.start(['--user', 'nochan', 'on', `>${ACL_PW}`, '~*', '+@all'], { password: PW, users: [{ name: 'geo', password: ACL_PW }] }),
    TestRedis.start([], { password: PW, tls: { files: tls } }),
  ]);
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await Promise.all([auth?.stop(), secure?.stop()]);
  for (const d of [dir, tls?.dir, otherCa?.dir]) if (d) rmSync(d, { recursive: true, force: true });
});

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function assertNoSecret(text: string, where: string): void {
  for (const s of SECRETS) assert.ok(!text.includes(s), `${where} shows a secret (${s.split('-').slice(0, 2).join('-')}):\n${text}`);
}

/** Options as the CLI builds them: from a URL and an environment only (never the test's own). */
function optionsFor(url: string, env: NodeJS.ProcessEnv = {}, ca?: string): RedisConnectionOptions {
  const o = redisOptionsFrom({ redis: url, ca }, env);
  assert.ok(o);
  return o;
}

/** Connects, writes a vote through Lua, reads it back: AUTH, ACL and TLS all had to work. */
async function roundTrip(o: RedisConnectionOptions): Promise<void> {
  const store = new RedisStore({ ...o, prefix: `rt${randomBytes(3).toString('hex')}:` });
  try {
    await store.whenReady(5000);
    const v: Omit<Vote, 'at'> = { prober: 'p1', service: 'www.example.com', dc: 'gz', up: false, ttlMs: 5000, detail: 'secure', latencyMs: 1 };
    await store.writeVote(v);
    const snap = await store.loadAll();
    assert.deepEqual(
      snap.votes.map((x) => [x.prober, x.up, x.detail]),
      [['p1', false, 'secure']],
    );
  } finally {
    await store.close();
  }
}

/**
 * The first 'down' error of a store that cannot get in, then whenReady's
 * rejection (short: by then the reason is known, and it must be in there).
 */
async function refusal(o: RedisConnectionOptions): Promise<{ ready: Error; down: Error }> {
  const store = new RedisStore(o);
  try {
    const [down] = (await once(store, 'down', { signal: AbortSignal.timeout(15_000) })) as [Error];
    const ready = await store.whenReady(500).then(
      () => assert.fail('the store got in'),
      (e: Error) => e,
    );
    return { ready, down };
  } finally {
    await store.close();
  }
}

/** The compiled CLI with exactly `env` (plus PATH): nothing of the test's environment leaks in. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> =>
  runCli(args, { env: { PATH: process.env.PATH, LOG_LEVEL: 'silent', ...env }, timeoutMs: 20_000 });

/** `geosteer serve` (one worker, debug logs) with every byte it prints kept. */
async function serveProcess(redisArgs: string[], env: NodeJS.ProcessEnv): Promise<{ dns: number; admin: number; output: () => string; stop: () => Promise<string> }> {
  const [dns, admin] = [await freePort(), await freePort()];
  const args = ['serve', '--config', DEFAULT_MAP, '--workers', '1', '--no-probe', '--listen', `127.0.0.1:${dns}`, '--metrics-listen', `127.0.0.1:${admin}`, '--state-file', join(dir, `state-${dns}.json`), ...redisArgs];
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH, LOG_LEVEL: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<string> => {
    await stopChild(child, exited, 5000);
    return out;
  };
  cleanups.push(stop);
  return { dns, admin, output: () => out, stop };
}

const SVC = 'www.example.com';
const GZ = '192.0.2.10';
const BJ = '198.51.100.10';
const guangdong = async (port: number): Promise<string> => (await dig(port, [SVC, 'A', '+subnet=183.6.0.0/24'])).answer.map((r) => r[4]).join(',');

// --- Options: where each setting comes from, and errors that name files, never contents.

test('precedence: URL user/password over REDIS_USERNAME/REDIS_PASSWORD over REDIS_PASSWORD_FILE; --redis-ca over REDIS_CA_FILE', { skip }, () => {
  const pwFile = file('pw-prec', 'from-file\n');
  const env = { REDIS_USERNAME: 'env-user', REDIS_PASSWORD: 'env-pw', REDIS_PASSWORD_FILE: pwFile };
  const url = optionsFor('redis://url-user:url-pw@h', env);
  assert.deepEqual([url.username, url.password], ['url-user', 'url-pw']);
  const fromEnv = optionsFor('redis://h', env);
  assert.deepEqual([fromEnv.username, fromEnv.password], ['env-user', 'env-pw']);
  assert.equal(optionsFor('redis://h', { REDIS_PASSWORD_FILE: pwFile }).password, 'from-file');
  // A higher source wins without the lower one being read at all.
  assert.equal(optionsFor('redis://:url-pw@h', { REDIS_PASSWORD_FILE: join(dir, 'missing') }).password, 'url-pw');

  const flag = optionsFor('rediss://h', { REDIS_CA_FILE: otherCa.ca }, tls.ca);
  assert.equal(flag.tlsCaFile, tls.ca);
  assert.match(flag.tlsCa ?? '', /BEGIN CERTIFICATE/);
  assert.equal(optionsFor('rediss://h', { REDIS_CA_FILE: otherCa.ca }).tlsCaFile, otherCa.ca);
});

test('a password file loses one trailing newline (LF or CRLF) and nothing else', { skip }, () => {
  assert.equal(optionsFor('redis://h', { REDIS_PASSWORD_FILE: file('pw-lf', ' spaced pw \n') }).password, ' spaced pw ');
  assert.equal(optionsFor('redis://h', { REDIS_PASSWORD_FILE: file('pw-crlf', 'pw\r\n') }).password, 'pw');
  assert.equal(optionsFor('redis://h', { REDIS_PASSWORD_FILE: file('pw-2nl', 'pw\n\n') }).password, 'pw\n');
});

test('bad secret and TLS settings are RedisConfigErrors that name the file and never show its content', { skip }, () => {
  const keyLike = file('not-a-cert.pem', `${PW}\n`);
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['missing password file', () => optionsFor('redis://h', { REDIS_PASSWORD_FILE: join(dir, 'nope') }), /REDIS_PASSWORD_FILE: cannot read ".*nope" \(ENOENT\)/],
    ['password file is a directory', () => optionsFor('redis://h', { REDIS_PASSWORD_FILE: dir }), /REDIS_PASSWORD_FILE: cannot read ".*" \(EISDIR\)/],
    ['empty password file', () => optionsFor('redis://h', { REDIS_PASSWORD_FILE: file('empty', '\n') }), /REDIS_PASSWORD_FILE: ".*empty" is empty/],
    ['missing CA (flag)', () => optionsFor('rediss://h', {}, join(dir, 'no-ca.pem')), /--redis-ca: cannot read ".*no-ca\.pem" \(ENOENT\)/],
    ['missing CA (env)', () => optionsFor('rediss://h', { REDIS_CA_FILE: join(dir, 'no-ca.pem') }), /REDIS_CA_FILE: cannot read/],
    ['CA that is no certificate', () => optionsFor('rediss://h', { REDIS_CA_FILE: keyLike }), /REDIS_CA_FILE: ".*not-a-cert\.pem" holds no PEM certificate/],
    ['CA without TLS', () => optionsFor('redis://h', {}, tls.ca), /--redis-ca given, but the connection is not TLS: use a rediss:\/\/ URL/],
    ['REDIS_TLS with redis://', () => optionsFor('redis://h', { REDIS_TLS: '1' }), /use rediss:\/\/ for TLS/],
    ['bad REDIS_TLS', () => optionsFor('rediss://h', { REDIS_TLS: 'maybe' }), /REDIS_TLS: "maybe" is not one of/],
    ['cert without key', () => optionsFor('rediss://h', { REDIS_TLS_CERT_FILE: tls.clientCert }), /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/],
    ['key that does not match the cert', () => optionsFor('rediss://h', { REDIS_TLS_CERT_FILE: tls.clientCert, REDIS_TLS_KEY_FILE: tls.serverKey }), /TLS files \(REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE\) are not usable/],
    ['sentinel CA without --redis-tls', () => redisOptionsFrom({ sentinels: 's:1', master: 'm', ca: tls.ca }, {}), /add --redis-tls \(or REDIS_TLS=1\)/],
    ['URL that is no URL', () => optionsFor(`redis//:${PW}@h`, {}), /not a URL like/],
  ];
  for (const [name, fn, want] of cases) {
    assert.throws(
      fn,
      (e: Error) => {
        assert.ok(e instanceof RedisConfigError, `${name}: ${inspect(e)}`);
        assert.equal(e.code, 'GS_ERR_REDIS_CONFIG');
        assert.match(e.message, want, name);
        assertNoSecret(e.message, name);
        return true;
      },
      name,
    );
  }
});

test('sentinels: --redis-tls or REDIS_TLS, the CA, REDIS_SENTINEL_PASSWORD[_FILE]; describeRedis shows user and tls, no secret', { skip }, () => {
  const o = redisOptionsFrom({ sentinels: '127.0.0.1:1', master: 'm', tls: true, ca: tls.ca }, { REDIS_USERNAME: 'geo', REDIS_PASSWORD: PW, REDIS_SENTINEL_PASSWORD: SENTINEL_PW });
  assert.ok(o);
  assert.deepEqual([o.tls, o.username, o.password, o.sentinelPassword, o.tlsCaFile], [true, 'geo', PW, SENTINEL_PW, tls.ca]);
  assert.equal(describeRedis(o), 'sentinel 127.0.0.1:1 master m user geo (tls)');
  const f = redisOptionsFrom({ sentinels: '127.0.0.1:1', master: 'm' }, { REDIS_TLS: 'yes', REDIS_SENTINEL_PASSWORD_FILE: file('spw', `${SENTINEL_PW}\n`) });
  assert.deepEqual([f?.tls, f?.sentinelPassword], [true, SENTINEL_PW]);
  const u = optionsFor(`rediss://ops:${PW}@[::1]:6390/2`);
  assert.equal(describeRedis(u), 'rediss://ops@[::1]:6390/2');
});

// --- AUTH against a real redis-server.

test('password from REDIS_PASSWORD works', { skip }, async () => {
  await roundTrip(optionsFor(auth.url, { REDIS_PASSWORD: PW }));
});

test('password from REDIS_PASSWORD_FILE works (trailing newline dropped)', { skip }, async () => {
  await roundTrip(optionsFor(auth.url, { REDIS_PASSWORD_FILE: file('pw-good', `${PW}\n`) }));
});

test('ACL user and password from the URL work; so do REDIS_USERNAME + REDIS_PASSWORD', { skip }, async () => {
  await roundTrip(optionsFor(`redis://geo:${encodeURIComponent(ACL_PW)}@127.0.0.1:${auth.port}/0`));
  await roundTrip(optionsFor(auth.url, { REDIS_USERNAME: 'geo', REDIS_PASSWORD: ACL_PW }));
});

test('a wrong password: whenReady rejects with WRONGPASS and a hint; neither the error nor the down event carries the password', { skip }, async () => {
  const { ready, down } = await refusal(optionsFor(auth.url, { REDIS_PASSWORD: WRONG_PW }));
  assert.equal((ready as Error & { code: string }).code, 'GS_ERR_REDIS_UNAVAILABLE');
  assert.match(ready.message, /^Redis at redis:\/\/127\.0\.0\.1:\d+\/0 did not answer within 500 ms: WRONGPASS .*\(check the username and password/);
  assert.match(down.message, /WRONGPASS/);
  // ioredis hangs `command: {name: 'auth', args: [password]}` on its reply errors: the store must not pass that on.
  assertNoSecret(inspect(ready, { depth: 5 }) + inspect(down, { depth: 5 }) + JSON.stringify(down), 'the errors');
});

test('no password at all: NOAUTH, with the same hint', { skip }, async () => {
  const { ready } = await refusal(optionsFor(auth.url));
  assert.match(ready.message, /NOAUTH.*\(check the username and password/);
});

test('an ACL user without channel rights: NOPERM on SUBSCRIBE is reported with what to grant', { skip }, async () => {
  const { ready } = await refusal(optionsFor(`redis://nochan:${encodeURIComponent(ACL_PW)}@127.0.0.1:${auth.port}`));
  assert.match(ready.message, /NOPERM.*channels &PREFIX\*/);
  assertNoSecret(ready.message, 'the NOPERM error');
});

test('CLI: status with a wrong password exits 1, says WRONGPASS, and prints no password', { skip }, async () => {
  const run = await cli(['status', '--redis', auth.url], { REDIS_PASSWORD: WRONG_PW });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /geosteer status: Redis at redis:\/\/127\.0\.0\.1:\d+\/0 did not answer within 3000 ms: WRONGPASS/);
  assertNoSecret(run.stdout + run.stderr, 'status output');
});

test('serve with a wrong password logs WRONGPASS (not a vague timeout), serves anyway, and its log never holds a password', { skip }, async () => {
  const s = await serveProcess(['--redis', `redis://:${encodeURIComponent(WRONG_PW)}@127.0.0.1:${auth.port}`], {});
  await until('serve to start despite the refusal', () => /geosteer serving/.test(s.output()), 15_000, 100).catch((e: Error) => assert.fail(`${e.message}\n${s.output()}`));
  assert.equal(await guangdong(s.dns), GZ, 'fail-static: answers from the map with nothing known');
  const log = await s.stop();
  assert.match(log, /"err":"WRONGPASS [^"]*\(check the username and password[^"]*","msg":"health store unreachable/);
  assert.match(log, new RegExp(`"health":"redis://127\\.0\\.0\\.1:${auth.port}/0"`));
  assertNoSecret(log, 'serve output');
});

// --- TLS.

test('rediss:// with the CA file works, and verifies the host name (localhost via its DNS SAN)', { skip }, async () => {
  await roundTrip(optionsFor(secure.url, { REDIS_PASSWORD: PW }, tls.ca));
  await roundTrip(optionsFor(`rediss://localhost:${secure.port}`, { REDIS_PASSWORD: PW, REDIS_CA_FILE: tls.ca }));
});

test('rediss:// without the CA is refused: not signed by a trusted CA, give --redis-ca', { skip }, async (t) => {
  const { ready } = await refusal(optionsFor(secure.url, { REDIS_PASSWORD: PW }));
  t.diagnostic(ready.message);
  assert.match(ready.message, /did not answer within 500 ms: .*certificate.*\(the server certificate is not signed by a trusted CA: give its CA with --redis-ca FILE or REDIS_CA_FILE\)/);
  const run = await cli(['status', '--redis', secure.url], { REDIS_PASSWORD: PW });
  assert.equal(run.code, 1);
  assert.match(run.stderr, /geosteer status: Redis at rediss:\/\/127\.0\.0\.1:\d+\/0 .*give its CA with --redis-ca FILE/);
  assertNoSecret(run.stderr, 'status output');
});

test('rediss:// with some other CA is refused, naming that CA file', { skip }, async (t) => {
  const { ready } = await refusal(optionsFor(secure.url, { REDIS_PASSWORD: PW }, otherCa.ca));
  t.diagnostic(ready.message);
  assert.ok(ready.message.includes(`not signed by the CA in ${otherCa.ca}`), ready.message);
});

test('plain redis:// to the TLS port does not get in', { skip }, async (t) => {
  const { ready } = await refusal(optionsFor(`redis://127.0.0.1:${secure.port}`, { REDIS_PASSWORD: PW }));
  t.diagnostic(ready.message);
  assert.match(ready.message, /ECONNRESET \(the server dropped the connection: if this port speaks TLS, use rediss:\/\/\)/);
});

test('a server that wants client certificates: REDIS_TLS_CERT_FILE + REDIS_TLS_KEY_FILE get in, no certificate does not', { skip }, async (t) => {
  const mtls = await TestRedis.start([], { tls: { files: tls, clientAuth: true } });
  cleanups.push(() => mtls.stop());
  await roundTrip(optionsFor(mtls.url, { REDIS_CA_FILE: tls.ca, REDIS_TLS_CERT_FILE: tls.clientCert, REDIS_TLS_KEY_FILE: tls.clientKey }));
  const { ready } = await refusal(optionsFor(mtls.url, { REDIS_CA_FILE: tls.ca }));
  t.diagnostic(ready.message);
  assert.match(ready.message, /TLS handshake failed: .*does it want a client certificate \(REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE\)/);
});

test('CLI end to end over TLS + AUTH: serve answers gz, `geosteer drain` through the same Redis flips it to bj; no output shows a password', { skip }, async (t) => {
  const pwFile = file('pw-serve', `${PW}\n`);
  const prefix = ['--redis-prefix', 'sec:'];
  const s = await serveProcess(['--redis', secure.url, '--redis-ca', tls.ca, ...prefix], { REDIS_PASSWORD_FILE: pwFile });
  await until('serve to answer gz over the TLS-backed table', async () => (await guangdong(s.dns)) === GZ, 15_000, 100).catch((e: Error) =>
    assert.fail(`${e.message}\n${s.output()}`),
  );
  // Another way in for the CLI: CA and password from the environment.
  const env = { REDIS_CA_FILE: tls.ca, REDIS_PASSWORD: PW };
  const drain = await cli(['drain', 'gz', '--service', SVC, '--for', '10m', '--reason', 'tls test', '--redis', secure.url, ...prefix], env);
  assert.equal(drain.code, 0, drain.stderr);
  await until('serve to answer bj after the drain', async () => (await guangdong(s.dns)) === BJ, 5000, 50);

  const status = await cli(['status', '--json', '--redis', secure.url, ...prefix], env);
  assert.equal(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as { redis: string; drains: Array<{ dc: string; reason: string }> };
  assert.equal(json.redis, `rediss://127.0.0.1:${secure.port}/0`);
  assert.deepEqual(
    json.drains.map((d) => [d.dc, d.reason]),
    [['gz', 'tls test']],
  );
  const text = await cli(['status', '--redis', secure.url, ...prefix], env);
  assert.match(text.stdout, /health table: rediss:\/\/127\.0\.0\.1:\d+\/0/);

  const page = await (await fetch(`http://127.0.0.1:${s.admin}/api/status`)).text();
  const metrics = await (await fetch(`http://127.0.0.1:${s.admin}/metrics`)).text();
  assert.match(metrics, /^geosteer_health_store_up 1$/m);
  const undrain = await cli(['undrain', 'gz', '--service', SVC, '--redis', secure.url, ...prefix], env);
  assert.equal(undrain.code, 0, undrain.stderr);
  await until('serve to answer gz again', async () => (await guangdong(s.dns)) === GZ, 5000, 50);

  const log = await s.stop();
  assert.match(log, /"msg":"geosteer serving"/);
  assert.match(log, new RegExp(`"health":"rediss://127\\.0\\.0\\.1:${secure.port}/0"`));
  t.diagnostic(`serve printed ${log.length} bytes at debug level; status page ${page.length} bytes, /metrics ${metrics.length} bytes`);
  for (const [where, text2] of [
    ['serve stdout/stderr', log],
    ['drain', drain.stdout + drain.stderr],
    ['status --json', status.stdout + status.stderr],
    ['status', text.stdout + text.stderr],
    ['/api/status', page],
    ['/metrics', metrics],
  ]) {
    assertNoSecret(text2, where);
  }
});

// --- Sentinel: the sentinels' own password and TLS, the master's AUTH, all at once.

test('sentinels over TLS with their own password hand out a TLS master that wants a password: the store gets in', { skip }, async (t) => {
  const port = await freePort();
  const conf = file(
    'sentinel.conf',
    [
      'bind 127.0.0.1',
      'port 0',
      `dir ${dir}`,
      `tls-port ${port}`,
      `tls-cert-file ${tls.serverCert}`,
      `tls-key-file ${tls.serverKey}`,
      `tls-ca-cert-file ${tls.ca}`,
      'tls-auth-clients no',
      'tls-replication yes', // the sentinel's own connections to the master use TLS
      `requirepass ${SENTINEL_PW}`,
      `sentinel monitor geo 127.0.0.1 ${secure.port} 1`,
      `sentinel auth-pass geo ${PW}`,
      '',
    ].join('\n'),
  );
  // TestRedis for its TLS ping and its kill; the process is the sentinel, which needs its config file first.
  const sentinel = new TestRedis(port, [], { tls: { files: tls } });
  sentinel.proc = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  cleanups.push(() => sentinel.stop());
  await sentinel.waitUp();

  const env = { REDIS_TLS: '1', REDIS_CA_FILE: tls.ca, REDIS_PASSWORD: PW, REDIS_SENTINEL_PASSWORD: SENTINEL_PW };
  const o = redisOptionsFrom({ sentinels: `127.0.0.1:${port}`, master: 'geo' }, env);
  assert.ok(o);
  await roundTrip({ ...o, commandTimeoutMs: 2000 });
  const wrong = redisOptionsFrom({ sentinels: `127.0.0.1:${port}`, master: 'geo' }, { ...env, REDIS_SENTINEL_PASSWORD: WRONG_PW });
  assert.ok(wrong);
  const { ready } = await refusal(wrong);
  t.diagnostic(ready.message);
  assert.match(ready.message, /All sentinels are unreachable.*WRONGPASS.*REDIS_SENTINEL_PASSWORD\[_FILE\] for the sentinels/);
  assertNoSecret(ready.message, 'the sentinel error');
});
