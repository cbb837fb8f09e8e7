import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Redis from 'ioredis';
import { RedisStore } from '../../src/health';
import { createLogger } from '../../src/observability';
import type { StatusJson } from '../../src/observability/status-page';
import { runCli } from '../helpers/cli';
import { dig } from '../helpers/dig';
import { httpGet, promValue, scrape } from '../helpers/prom';
import { redisAvailable, TestRedis } from '../helpers/redis';
import { mapWithPrimaryService, startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// Garbage in the shared table, against a real Redis and a real server asked
// with dig: for each kind of garbage in each key, the garbage is skipped and
// reported (status page, /api/status, metrics, one log line per key), Redis is
// not called unreachable, and a valid change written at the same time reaches
// the answers within 1 s. Removing the garbage clears the report.
//
// The valid changes are written with raw HSETs and no PUBLISH, so only the
// server's full read can bring them in: that read is what garbage used to stop.

const SVC = 'www.example.com';
const DB = 'db.example.com';
const GD = '183.6.0.0/24'; // south: [gz, bj, sg]
const ADDR = { gz: '192.0.2.10', bj: '198.51.100.10', sg: '203.0.113.10' };
const DB_ADDR = { gz: '192.0.2.50', bj: '198.51.100.50', sg: '203.0.113.50' };
const PREFIX = 'gb:';
const KEY = { votes: `${PREFIX}votes`, drains: `${PREFIX}drains`, primary: `${PREFIX}primary`, leader: `${PREFIX}leader`, epoch: `${PREFIX}epoch`, audit: `${PREFIX}audit`, events: `${PREFIX}events` };
const USER = { name: 'geosteer', password: 'garbage-test-pw' };

const skip = redisAvailable() ? false : 'redis-server not installed';

/** The sample map plus a primary/standby service (configured primary bj) without checks. */
const MAP = mapWithPrimaryService(DB, DB_ADDR);

let redis: TestRedis;
let raw: Redis;
let server: TestServer;
let adminPort: number;
const logLines: Array<{ level: number; msg: string; key?: string }> = [];

before(async () => {
  if (skip) return;
  // The server logs in as an ACL user, so one test can take a permission away from it.
  redis = await TestRedis.start([], { users: [USER] });
  raw = new Redis({ host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: 1 });
  server = await startServer({
    mapText: MAP,
    redis: { ...redis.options(PREFIX), username: USER.name, password: USER.password },
    probe: false,
    snapshotPath: null,
    metricsListen: '127.0.0.1:0',
    // Full reads every 300 ms instead of 10 s, so each case waits a fraction of a second, not ten.
    healthTiming: { resyncMs: 300, retryMs: 200 },
    logger: createLogger({ level: 'info', destination: { write: (l: string) => void logLines.push(JSON.parse(l) as { level: number; msg: string }) } }),
  });
  adminPort = server.admin?.port ?? 0;
  await until('the server to answer gz for Guangdong', async () => (await www()) === ADDR.gz, 5000);
});

after(async () => {
  await server?.close();
  raw?.disconnect();
  await redis?.stop();
});

const www = async (): Promise<string> => (await dig(server.port, [SVC, 'A', `+subnet=${GD}`])).answer.map((r) => r[4]).join(',');
const db = async (): Promise<string> => (await dig(server.port, [DB, 'A', `+subnet=${GD}`])).answer.map((r) => r[4]).join(',');
const status = async (): Promise<StatusJson> => {
  const r = await httpGet(adminPort, '/api/status');
  assert.equal(r.status, 200);
  return JSON.parse(r.body) as StatusJson;
};
const invalidOf = (s: StatusJson, key: string): StatusJson['health']['invalid'][number] | undefined => s.health.invalid.find((k) => k.key === key);
/** Redis TIME in ms (the clock every record is stamped with). */
async function redisNow(): Promise<number> {
  const [sec, usec] = await raw.time();
  return Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
}

const vote = (now: number, extra: object = {}): object => ({ prober: 'evil', service: SVC, dc: 'gz', up: false, at: now, ttlMs: 60_000, detail: 'x', latencyMs: 1, ...extra });
const drain = (now: number, extra: object = {}): object => ({ service: '*', dc: 'gz', until: now + 60_000, at: now, reason: 'garbage', by: 'test', ...extra });
const pointer = (now: number, extra: object = {}): object => ({ service: DB, dc: 'gz', epoch: 0, at: now, by: 'test', reason: 'garbage', ...extra });
const HOUR = 3_600_000;
const BIG = 'x'.repeat(70 * 1024);

/**
 * Garbage that, were it read as a record, would change an answer: a down vote
 * for gz, a drain of gz for every service, db's primary moved to gz.
 */
interface Garbage {
  name: string;
  key: keyof typeof KEY;
  kind: string;
  /** The hash field, null for the whole key. */
  field: string | null;
  write(now: number): Promise<unknown>;
}

const HASH_FIELD = { votes: `${SVC}|gz|evil`, drains: '*|gz', primary: DB } as const;
const RECORD = { votes: vote, drains: drain, primary: pointer } as const;
const BAD_FIELD = { votes: { up: 'maybe' }, drains: { until: 'soon' }, primary: { epoch: 'x' } } as const;

const cases: Garbage[] = [];
for (const key of ['votes', 'drains', 'primary'] as const) {
  const k = KEY[key];
  const field = HASH_FIELD[key];
  const record = RECORD[key];
  cases.push(
    { name: `${key} holds a string`, key, kind: 'wrong-type', field: null, write: () => raw.set(k, 'wrongtype') },
    { name: `${key} holds a list`, key, kind: 'wrong-type', field: null, write: () => raw.rpush(k, 'a', 'b') },
    { name: `${key} field is not JSON`, key, kind: 'not-json', field, write: () => raw.hset(k, field, '{not json') },
    { name: `${key} field over 64 KiB`, key, kind: 'too-large', field, write: (now) => raw.hset(k, field, JSON.stringify(record(now, { reason: BIG, detail: BIG }))) },
    { name: `${key} field stamped an hour ahead`, key, kind: 'future', field, write: (now) => raw.hset(k, field, JSON.stringify(record(now + HOUR))) },
    { name: `${key} field of a bad shape`, key, kind: 'bad-shape', field, write: (now) => raw.hset(k, field, JSON.stringify(record(now, BAD_FIELD[key]))) },
  );
}
cases.push(
  { name: 'leader holds a hash', key: 'leader', kind: 'wrong-type', field: null, write: () => raw.hset(KEY.leader, 'a', 'b') },
  { name: 'epoch is not a number', key: 'epoch', kind: 'bad-shape', field: null, write: () => raw.set(KEY.epoch, 'seven') },
  { name: 'audit holds a string', key: 'audit', kind: 'wrong-type', field: null, write: () => raw.set(KEY.audit, 'x') },
);

/**
 * A valid change only a full read brings in (no PUBLISH): a drain of gz for
 * www, or, when the drains key is what is broken, db's primary moved to sg.
 * Returns how to check it arrived and how to take it back.
 */
async function validChange(broken: Garbage): Promise<{ applied: () => Promise<boolean>; undo: () => Promise<unknown>; restored: () => Promise<boolean> }> {
  const now = await redisNow();
  if (broken.key === 'drains' && broken.field === null) {
    await raw.hset(KEY.primary, DB, JSON.stringify(pointer(now, { dc: 'sg', reason: 'valid move' })));
    return { applied: async () => (await db()) === DB_ADDR.sg, undo: () => raw.hdel(KEY.primary, DB), restored: async () => (await db()) === DB_ADDR.bj };
  }
  await raw.hset(KEY.drains, `${SVC}|gz`, JSON.stringify(drain(now, { service: SVC, reason: 'valid drain' })));
  return { applied: async () => (await www()) === ADDR.bj, undo: () => raw.hdel(KEY.drains, `${SVC}|gz`), restored: async () => (await www()) === ADDR.gz };
}

const warnsFor = (key: string): number => logLines.filter((l) => l.level === 40 && l.msg.startsWith(`health store key ${key}: `)).length;
const cleansFor = (key: string): number => logLines.filter((l) => l.msg === `health store key ${key} is readable again`).length;

test('each kind of garbage in each key: skipped and reported, Redis still "connected", a valid change applies within 1 s; removing it clears the report', { skip }, async (t) => {
  for (const g of cases) {
    await t.test(g.name, async () => {
      const key = KEY[g.key];
      const warned = warnsFor(key);
      const cleaned = cleansFor(key);
      const totalBefore = promValue(await scrape(adminPort), 'geosteer_health_store_invalid_entries_total', { key });
      await g.write(await redisNow());

      const seen = await until(`the status page to report ${key}`, async () => {
        const s = await status();
        return (invalidOf(s, key)?.current ?? 0) > 0 ? s : null;
      }, 3000, 20);
      // Nothing the garbage would have said took effect.
      assert.equal(await www(), ADDR.gz, 'www still answers gz');
      assert.equal(await db(), DB_ADDR.bj, 'db still answers its configured primary');

      const change = await validChange(g);
      const t0 = Date.now();
      await until('the valid change to reach the answers', change.applied, 1000, 20);
      t.diagnostic(`${g.name}: valid change answered after ${Date.now() - t0} ms`);

      const s = await status();
      assert.equal(s.health.connected, true, 'Redis is up: not "unreachable"');
      assert.equal(s.health.syncError, null);
      assert.ok(s.health.lastSyncAgeMs !== null && s.health.lastSyncAgeMs < 2000, `full reads go on (last ${s.health.lastSyncAgeMs} ms ago)`);
      const inv = invalidOf(seen, key);
      assert.ok(inv);
      assert.equal(inv.current, 1, JSON.stringify(inv));
      assert.deepEqual(
        inv.entries.map((e) => [e.field, e.kind]),
        [[g.field, g.kind]],
      );
      assert.ok(inv.entries[0].reason.length > 5, inv.entries[0].reason);
      const m = await scrape(adminPort);
      assert.equal(promValue(m, 'geosteer_health_store_invalid_entries', { key }), 1);
      assert.equal(promValue(m, 'geosteer_health_store_up'), 1);
      assert.equal(promValue(m, 'geosteer_health_store_invalid_entries_total', { key }), totalBefore + 1, 'counted once, though read many times');
      assert.equal(warnsFor(key), warned + 1, 'logged once for the key');
      const page = await httpGet(adminPort, '/');
      assert.match(page.body, new RegExp(`"key":"${key}","current":1`), 'the page carries the warning');

      // Remove the garbage and the valid change: the report clears, answers go back.
      if (g.field === null) await raw.del(key);
      else await raw.hdel(key, g.field);
      await change.undo();
      await until(`the report of ${key} to clear`, async () => (invalidOf(await status(), key)?.current ?? 0) === 0, 3000, 20);
      await until('the answers to go back', change.restored, 3000, 20);
      const after = await scrape(adminPort);
      assert.equal(promValue(after, 'geosteer_health_store_invalid_entries', { key }), 0, 'the gauge is back to 0');
      assert.equal(promValue(after, 'geosteer_health_store_invalid_entries_total', { key }), totalBefore + 1, 'the counter keeps its count');
      assert.equal(cleansFor(key), cleaned + 1, 'logged once when clean');
      assert.equal(warnsFor(key), warned + 1);
    });
  }
});

test('a key of the wrong type keeps what was read from it: a typo over the primary hash does not send db back to its configured primary', { skip }, async () => {
  const store = new RedisStore(redis.options(PREFIX));
  try {
    await store.whenReady();
    assert.equal(await store.setPrimary({ service: DB, dc: 'sg', epoch: 0, by: 'test', reason: 'moved by hand' }), true);
    await until('db to answer sg', async () => (await db()) === DB_ADDR.sg, 1000, 20);
    await raw.set(KEY.primary, 'wrongtype');
    await until('the primary key to be reported', async () => (invalidOf(await status(), KEY.primary)?.current ?? 0) > 0, 3000, 20);
    assert.equal(await db(), DB_ADDR.sg, 'the pointer last read stays in force');
    const s = await status();
    assert.equal(s.primaries.find((p) => p.service === DB)?.current, 'sg');
    assert.equal(s.health.connected, true);
    // `geosteer status` reads the same table: it lists the bad key instead of failing.
    const run = await runCli(['status', '--redis', redis.url, '--redis-prefix', PREFIX]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`unreadable entries[^\\n]*\\n  ${KEY.primary}: holds a string, not a hash \\(wrong-type\\)`));
    // Deleted: the table has no pointer any more, and every server agrees on that.
    await raw.del(KEY.primary);
    await until('db to answer its configured primary', async () => (await db()) === DB_ADDR.bj, 3000, 20);
    assert.equal(invalidOf(await status(), KEY.primary)?.current, 0);
  } finally {
    await store.close();
  }
});

test('malformed events messages are skipped and counted, never thrown; a drain through the CLI still applies within 1 s', { skip }, async (t) => {
  const before = promValue(await scrape(adminPort), 'geosteer_health_store_invalid_entries_total', { key: KEY.events });
  const now = await redisNow();
  const messages = [
    'garbage',
    '[]',
    '{"t":"what","d":{}}',
    '{"t":"undrain"}',
    JSON.stringify({ t: 'drain', d: { ...drain(now), until: 'soon' } }),
    JSON.stringify({ t: 'vote', d: vote(now + HOUR) }),
    JSON.stringify({ t: 'primary', d: pointer(now, { reason: BIG }) }),
  ];
  for (const m of messages) await raw.publish(KEY.events, m);
  await until('the bad messages to be counted', async () => (invalidOf(await status(), KEY.events)?.current ?? 0) >= messages.length, 2000, 20);
  assert.equal(await www(), ADDR.gz, 'none of them took effect');
  assert.equal(await db(), DB_ADDR.bj);
  const m = await scrape(adminPort);
  assert.equal(promValue(m, 'geosteer_health_store_invalid_entries_total', { key: KEY.events }), before + messages.length);
  const s = await status();
  assert.equal(s.health.connected, true);
  assert.deepEqual(
    invalidOf(s, KEY.events)?.entries.map((e) => e.kind),
    ['not-json', 'bad-shape', 'bad-shape', 'bad-shape', 'bad-shape', 'future', 'too-large'],
  );

  const t0 = Date.now();
  const run = await runCli(['drain', 'gz', '--service', SVC, '--for', '1m', '--reason', 'after garbage', '--redis', redis.url, '--redis-prefix', PREFIX]);
  assert.equal(run.code, 0, run.stderr);
  await until('the drain to reach the answers', async () => (await www()) === ADDR.bj, 1000, 20);
  t.diagnostic(`drain through the CLI answered ${Date.now() - t0} ms after the CLI started`);
  // No more bad messages: the report clears after a full read interval without any.
  await until('the events report to clear', async () => (invalidOf(await status(), KEY.events)?.current ?? 0) === 0, 3000, 20);
  const undrain = await runCli(['undrain', 'gz', '--service', SVC, '--redis', redis.url, '--redis-prefix', PREFIX]);
  assert.equal(undrain.code, 0, undrain.stderr);
  await until('gz back', async () => (await www()) === ADDR.gz, 1000, 20);
});

test('a Redis that answers the full read with an error is reported as that, not as unreachable', { skip }, async () => {
  const from = logLines.length;
  // Take TYPE away from the server's user: its full read is refused (NOPERM), while Redis is up.
  await raw.call('ACL', 'SETUSER', USER.name, '-type');
  try {
    const s = await until('the refusal to be reported', async () => {
      const x = await status();
      return x.health.syncError !== null ? x : null;
    }, 3000, 20);
    assert.match(s.health.syncError ?? '', /NOPERM|EXECABORT/);
    assert.equal(s.health.connected, true);
    assert.ok(logLines.some((l) => l.level === 50 && /answered the full read with an error \(it is reachable\)/.test(l.msg)));
    const unreachable = logLines.slice(from).filter((l) => /health store unreachable/.test(l.msg));
    assert.deepEqual(unreachable, [], 'not called unreachable');
    // Changes still arrive by pub/sub meanwhile.
    const store = new RedisStore(redis.options(PREFIX));
    try {
      await store.whenReady();
      await store.setDrain({ service: SVC, dc: 'gz', forMs: 60_000, reason: 'during the refusal', by: 'test' });
      await until('the drain to reach the answers', async () => (await www()) === ADDR.bj, 1000, 20);
      await store.clearDrain(SVC, 'gz');
      await until('gz back', async () => (await www()) === ADDR.gz, 1000, 20);
    } finally {
      await store.close();
    }
  } finally {
    await raw.call('ACL', 'SETUSER', USER.name, '+type');
  }
  await until('full reads to work again', async () => (await status()).health.syncError === null, 3000, 20);
  assert.ok(logLines.some((l) => l.msg === 'health store full reads work again'));
});
