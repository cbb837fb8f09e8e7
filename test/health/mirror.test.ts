import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import Redis from 'ioredis';
import { HealthMirror, MemoryStore, RedisStore, type HealthStore, type MirrorOptions, type PairStatus } from '../../src/health';
import { TestRedis } from '../helpers/redis';

// HealthMirror over a real Redis (and over the in-memory store): verdicts,
// drains, primaries, stale votes, and the faults serve must ride out: Redis
// killed and restarted, Redis frozen, restart from a snapshot during an outage.

const SVC = 'www.example.com';
const DB = 'db.example.com';
let redis: TestRedis;
let n = 0;
const prefix = (): string => `m${++n}:${process.pid}:`;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-mirror-'));
const cleanups: Array<() => unknown> = [];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms; returns the ms it took, throws after `timeoutMs`. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = 3000): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
  return Date.now() - t0;
}

function redisStore(p: string): RedisStore {
  const s = new RedisStore(redis.options(p));
  cleanups.push(() => s.close());
  return s;
}

async function startMirror(store: HealthStore, options: MirrorOptions = {}): Promise<HealthMirror> {
  const m = new HealthMirror(store, { tickMs: 100, ...options });
  cleanups.push(() => m.stop());
  await m.start();
  return m;
}

/** Both probers vote the same way on (service, dc). */
async function votes(store: HealthStore, dc: string, up: boolean, ttlMs = 60_000, service = SVC): Promise<void> {
  for (const prober of ['p1', 'p2']) await store.writeVote({ prober, service, dc, up, ttlMs, detail: up ? 'HTTP 200' : 'timeout', latencyMs: 3 });
}

before(async () => {
  redis = await TestRedis.start();
});
after(async () => {
  for (const c of cleanups.reverse()) await c();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** The behaviour every store must give the mirror; `writer` may be the mirror's own store (memory) or another client (Redis). */
async function basics(store: HealthStore, writer: HealthStore): Promise<void> {
  const m = await startMirror(store);
  assert.equal(m.source, 'store');
  assert.equal(m.isUp(SVC, 'gz'), true, 'unknown is up at cold start');
  let changes = 0;
  const flips: PairStatus[] = [];
  m.on('change', () => changes++);
  m.on('verdict', (s: PairStatus) => flips.push(s));

  // Two probers: one down vote of two is not a majority.
  // (Up first: a lone down vote would be a majority of one.)
  await writer.writeVote({ prober: 'p2', service: SVC, dc: 'gz', up: true, ttlMs: 60_000, detail: 'HTTP 200', latencyMs: 3 });
  await writer.writeVote({ prober: 'p1', service: SVC, dc: 'gz', up: false, ttlMs: 60_000, detail: 'timeout', latencyMs: 2000 });
  await waitFor('both votes in the mirror', () => m.pairs().find((p) => p.dc === 'gz')?.votes.length === 2, 1500);
  assert.equal(m.isUp(SVC, 'gz'), true);
  assert.equal(flips.length, 0);
  await writer.writeVote({ prober: 'p2', service: SVC, dc: 'gz', up: false, ttlMs: 60_000, detail: 'timeout', latencyMs: 2000 });
  await waitFor('gz down', () => !m.isUp(SVC, 'gz'), 1500);
  assert.equal(m.verdictUp(SVC, 'gz'), false);
  assert.ok(changes >= 1, 'change fired');
  assert.equal(flips.length, 1, 'one verdict flip');
  assert.deepEqual(
    { service: flips[0].service, dc: flips[0].dc, verdict: flips[0].verdict, drain: flips[0].drain },
    { service: SVC, dc: 'gz', verdict: { up: false, fresh: 2, down: 2, basis: 'quorum' }, drain: null },
  );
  await votes(writer, 'gz', true);
  await waitFor('gz back up', () => m.isUp(SVC, 'gz'), 1500);
  assert.equal(flips.length, 2);
  assert.equal(flips[1].verdict.up, true);

  // A drain: isUp false at once (pub/sub), verdictUp untouched; expiry brings it back within a tick.
  await votes(writer, 'bj', true);
  const changesBefore = changes;
  await writer.setDrain({ service: SVC, dc: 'bj', forMs: 800, reason: 'upgrade', by: 'test' });
  const drainedIn = await waitFor('bj drained', () => !m.isUp(SVC, 'bj'), 1500);
  assert.ok(drainedIn < 1500);
  assert.equal(m.isDrained(SVC, 'bj'), true);
  assert.equal(m.verdictUp(SVC, 'bj'), true, 'a drained datacenter is not a failed one');
  assert.equal(m.isUp('other.example.com', 'bj'), true, 'a service drain touches that service only');
  assert.equal(m.activeDrains().length, 1);
  assert.equal(m.pairs().find((p) => p.dc === 'bj')?.drain?.reason, 'upgrade');
  assert.ok(changes > changesBefore);
  await waitFor('bj drain expired', () => m.isUp(SVC, 'bj'), 2000);
  assert.equal(m.isDrained(SVC, 'bj'), false);
  assert.deepEqual(m.activeDrains(), []);

  // '*' drains every service, including ones without a single vote; after the
  // expired service drain above too (it must not shadow the '*' drain).
  await writer.setDrain({ service: '*', dc: 'bj', forMs: 60_000, reason: 'dc maintenance', by: 'test' });
  await waitFor('bj drained for everyone', () => !m.isUp(SVC, 'bj'), 1500);
  assert.equal(m.isUp('other.example.com', 'bj'), false);
  assert.equal(m.isDrained('other.example.com', 'bj'), true);
  assert.equal(m.isUp(SVC, 'gz'), true, 'other datacenters unaffected');
  assert.equal(await writer.clearDrain('*', 'bj'), true);
  await waitFor('bj undrained', () => m.isUp(SVC, 'bj') && m.isUp('other.example.com', 'bj'), 1500);

  // primary() follows setPrimary.
  assert.equal(m.primary(DB), null);
  let c = changes;
  assert.equal(await writer.setPrimary({ service: DB, dc: 'gz', epoch: 0, by: 'ops', reason: 'promote' }), true);
  await waitFor('primary gz', () => m.primary(DB) === 'gz', 1500);
  assert.ok(changes > c, 'a primary move is a change');
  assert.equal(m.primaryPointer(DB)?.by, 'ops');
  c = changes;
  assert.equal(await writer.setPrimary({ service: DB, dc: 'bj', epoch: 0, by: 'ops', reason: 'promote' }), true);
  await waitFor('primary bj', () => m.primary(DB) === 'bj', 1500);
  assert.ok(changes > c);
}

test('redis: votes from two probers, verdict/change events, drains with expiry and *, primary', async () => {
  const p = prefix();
  await basics(redisStore(p), redisStore(p));
});

test('memory store: the same behaviour without Redis', async () => {
  const store = new MemoryStore();
  cleanups.push(() => store.close());
  await basics(store, store);
  // Lease and fencing behave like Redis.
  assert.equal(await store.acquireLease('a', 200), 1);
  assert.equal(await store.acquireLease('a', 200), 1);
  assert.equal(await store.acquireLease('b', 200), null);
  assert.equal(await store.setPrimary({ service: DB, dc: 'sh', epoch: 1, by: 'b', reason: '' }, { holder: 'b', epoch: 1 }), false);
  assert.equal(await store.setPrimary({ service: DB, dc: 'sh', epoch: 1, by: 'a', reason: '' }, { holder: 'a', epoch: 1 }), true);
  await sleep(250);
  assert.equal(await store.acquireLease('b', 200), 2);
  assert.equal(await store.setPrimary({ service: DB, dc: 'gz', epoch: 1, by: 'a', reason: '' }, { holder: 'a', epoch: 1 }), false);
  await store.audit({ op: 'drain' });
  assert.equal(store.auditLog.length, 1);
});

test('memory store: stop() flushes a pending snapshot', async () => {
  const path = join(dir, 'memory.json');
  const store = new MemoryStore();
  cleanups.push(() => store.close());
  const m = await startMirror(store, { snapshotPath: path });
  await votes(store, 'gz', false);
  assert.equal(m.isUp(SVC, 'gz'), false);
  assert.equal(existsSync(path), false, 'written 1 s after a change, not at once');
  m.stop();
  const saved = JSON.parse(readFileSync(path, 'utf8')) as { votes: unknown[]; lastKnown: Record<string, boolean> };
  assert.equal(saved.votes.length, 2);
  assert.equal(saved.lastKnown[`${SVC}|gz`], false);
});

test('a vote whose ttl passes becomes stale and the last known state holds', async () => {
  const p = prefix();
  const writer = redisStore(p);
  const m = await startMirror(redisStore(p));
  await votes(writer, 'gz', false, 400);
  await votes(writer, 'bj', true, 400);
  await waitFor('gz down', () => !m.isUp(SVC, 'gz'), 1500);
  assert.equal(m.pairs().find((x) => x.dc === 'gz')?.verdict.basis, 'quorum');
  await waitFor('gz votes stale', () => m.pairs().find((x) => x.dc === 'gz')?.verdict.basis === 'last-known', 2000);
  assert.deepEqual(m.pairs().find((x) => x.dc === 'gz')?.verdict, { up: false, fresh: 0, down: 0, basis: 'last-known' });
  assert.equal(m.isUp(SVC, 'gz'), false, 'still down on its last known state');
  assert.equal(m.isUp(SVC, 'bj'), true);
  // A full resync of the same stale votes changes nothing.
  assert.equal(await m.resync(), true);
  assert.equal(m.isUp(SVC, 'gz'), false);
  // One fresh up vote decides again.
  await writer.writeVote({ prober: 'p1', service: SVC, dc: 'gz', up: true, ttlMs: 60_000, detail: 'HTTP 200', latencyMs: 1 });
  await waitFor('gz up on a fresh vote', () => m.isUp(SVC, 'gz'), 1500);
});

test('Redis killed: last state holds, store-down once; converges once Redis is back, store-up', async (t) => {
  const p = prefix();
  const writer = redisStore(p);
  const m = await startMirror(redisStore(p));
  const events: string[] = [];
  m.on('store-down', () => events.push('down'));
  m.on('store-up', () => events.push('up'));
  await votes(writer, 'gz', true);
  await votes(writer, 'bj', false);
  await waitFor('initial state', () => m.isUp(SVC, 'gz') && !m.isUp(SVC, 'bj'), 1500);

  await redis.kill();
  await waitFor('store-down', () => events.includes('down'), 2000);
  assert.equal(m.storeConnected, false);
  // Answers keep coming from the last state for a while (several failed retries).
  const until = Date.now() + 1200;
  while (Date.now() < until) {
    assert.equal(m.isUp(SVC, 'gz'), true);
    assert.equal(m.isUp(SVC, 'bj'), false);
    await sleep(20);
  }
  assert.deepEqual(events, ['down'], 'store-down once per outage');

  await redis.restart();
  const back = Date.now();
  // A prober keeps writing its round, as a real one does; failures while it reconnects are expected.
  let stop = false;
  const prober = (async () => {
    while (!stop) {
      await votes(writer, 'gz', false).catch(() => undefined);
      await sleep(100);
    }
  })();
  try {
    // Converges at all (the time is reported, not asserted: this machine is shared and noisy).
    await waitFor('gz down after the restart', () => !m.isUp(SVC, 'gz'), 15_000);
    t.diagnostic(`converged ${Date.now() - back} ms after Redis came back`);
    await waitFor('store-up', () => events.includes('up'), 1000);
    assert.deepEqual(events, ['down', 'up']);
    assert.equal(m.storeConnected, true);
  } finally {
    stop = true;
    await prober;
  }
});

test('Redis back empty (restarted without persistence): the lost drains and pointers are reported once', async () => {
  const p = prefix();
  const writer = redisStore(p);
  const m = await startMirror(redisStore(p));
  const emptied: Array<{ drains: number; primaries: number }> = [];
  m.on('store-emptied', (lost: { drains: number; primaries: number }) => emptied.push(lost));
  await votes(writer, 'gz', true);
  await writer.setDrain({ dc: 'bj', service: SVC, forMs: 600_000, reason: 'drill', by: 'test' });
  await writer.setPrimary({ service: DB, dc: 'gz', epoch: 0, by: 'test', reason: 'drill' });
  await waitFor('drain and pointer mirrored', () => !m.isUp(SVC, 'bj') && m.primary(DB) === 'gz', 3000);
  // An operator's undrain while connected is not a loss.
  await writer.clearDrain(SVC, 'bj');
  await waitFor('undrain mirrored', () => m.isUp(SVC, 'bj'), 3000);
  await writer.setDrain({ dc: 'bj', service: SVC, forMs: 600_000, reason: 'drill', by: 'test' });
  await waitFor('drained again', () => !m.isUp(SVC, 'bj'), 3000);
  assert.deepEqual(emptied, []);

  await redis.kill();
  await redis.restart(); // --save '' --appendonly no: comes back empty
  await waitFor('store-emptied', () => emptied.length > 0, 15_000);
  assert.deepEqual(emptied, [{ drains: 1, primaries: 1 }]);
  // Fail-static: what Redis lost stays in effect here, and is kept as lost for `geosteer recover`.
  assert.equal(m.isUp(SVC, 'bj'), false);
  assert.equal(m.primary(DB), 'gz');
  assert.deepEqual(lostKeys(m), { drains: [`${SVC}|bj`], primaries: [DB] });
  await m.resync();
  assert.equal(emptied.length, 1, 'said once, not at every resync');
  assert.equal(m.isUp(SVC, 'bj'), false, 'still in effect after the next full read');
  // An operator's undrain (the table has no such drain any more) ends the lost drain everywhere.
  await writer.clearDrain(SVC, 'bj');
  await waitFor('lost drain undrained', () => m.isUp(SVC, 'bj'), 3000);
  assert.deepEqual(lostKeys(m), { drains: [], primaries: [DB] });
  // A pointer written back (as recover does) leaves the lost set; then nothing is lost.
  await writer.setPrimary({ service: DB, dc: 'gz', epoch: 0, by: 'test', reason: 'recover' });
  await waitFor('lost set empty', () => m.lostState() === null, 3000);
  assert.equal(m.primary(DB), 'gz');
});

test('table replaced while connected (keys deleted), then a vote and a drain before the next read: the incarnation marker tells', async () => {
  const p = prefix();
  const writer = redisStore(p);
  const m = await startMirror(redisStore(p));
  const emptied: Array<{ drains: number; primaries: number }> = [];
  m.on('store-emptied', (lost: { drains: number; primaries: number }) => emptied.push(lost));
  await votes(writer, 'gz', true);
  await writer.setDrain({ dc: 'bj', service: SVC, forMs: 600_000, reason: 'drill', by: 'test' });
  await writer.setPrimary({ service: DB, dc: 'gz', epoch: 0, by: 'test', reason: 'drill' });
  await waitFor('drain and pointer mirrored', () => !m.isUp(SVC, 'bj') && m.primary(DB) === 'gz', 3000);
  await m.resync(); // reads the marker
  // No outage, so "came back with nothing at all" cannot tell; and the table is not empty at the next read.
  const raw = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true });
  await raw.connect();
  try {
    await raw.del(`${p}votes`, `${p}drains`, `${p}primary`, `${p}epoch`, `${p}incarnation`);
  } finally {
    raw.disconnect();
  }
  await votes(writer, 'gz', true);
  await writer.setDrain({ dc: 'sg', service: SVC, forMs: 600_000, reason: 'after', by: 'test' });
  await waitFor('the new drain mirrored', () => !m.isUp(SVC, 'sg'), 3000);
  await m.resync();
  assert.deepEqual(emptied, [{ drains: 1, primaries: 1 }], 'the drain written after the loss is not counted as lost');
  assert.equal(m.isUp(SVC, 'bj'), false, 'the lost drain stays in effect');
  assert.equal(m.primary(DB), 'gz', 'the lost pointer stays in effect');
  assert.deepEqual(lostKeys(m), { drains: [`${SVC}|bj`], primaries: [DB] });
  await m.resync();
  assert.equal(emptied.length, 1, 'said once: the new marker is the one read now');
});

function lostKeys(m: HealthMirror): { drains: string[]; primaries: string[] } {
  const l = m.lostState();
  return { drains: (l?.drains ?? []).map((d) => `${d.service}|${d.dc}`), primaries: (l?.primaries ?? []).map((p) => p.service) };
}

test('a resync asked while one is in flight is a fresh read after it, shared by every caller meanwhile', async () => {
  const p = prefix();
  const m = await startMirror(redisStore(p));
  const first = m.resync();
  const second = m.resync();
  const third = m.resync();
  // The read in flight may have been sent before the caller's change (the
  // frozen-Redis test below once got a resync that had left before the freeze).
  assert.notStrictEqual(second, first, 'a second caller does not ride the read already in flight');
  assert.strictEqual(third, second, 'callers meanwhile share one queued read');
  assert.deepEqual(await Promise.all([first, second, third]), [true, true, true]);
  assert.notStrictEqual(m.resync(), second, 'with nothing in flight, a new ask is a new read');
});

test('Redis frozen (SIGSTOP): isUp never waits on it; converges after the thaw', async (t) => {
  const p = prefix();
  const writer = redisStore(p);
  const m = await startMirror(redisStore(p));
  await votes(writer, 'gz', true);
  await waitFor('gz up', () => m.isUp(SVC, 'gz') && m.pairs().length === 1, 1500);
  const events: string[] = [];
  m.on('store-down', () => events.push('down'));
  m.on('store-up', () => events.push('up'));

  redis.freeze();
  let thawed = false;
  try {
    // A resync and a write while frozen fail within the command timeout instead of hanging.
    const t0 = Date.now();
    const resync = m.resync();
    const write = assert.rejects(writer.writeVote({ prober: 'p9', service: SVC, dc: 'sh', up: true, ttlMs: 1000, detail: '', latencyMs: 0 }), /timed out/i);
    let worst = 0;
    let calls = 0;
    while (Date.now() - t0 < 2000) {
      const s = performance.now();
      const up = m.isUp(SVC, 'gz');
      worst = Math.max(worst, performance.now() - s);
      calls++;
      assert.equal(up, true);
      await sleep(5);
    }
    t.diagnostic(`${calls} isUp calls while frozen, slowest ${worst.toFixed(3)} ms`);
    // isUp is synchronous; only a wait on Redis (a bug) could make one call this slow.
    assert.ok(worst < 200, `slowest isUp took ${worst} ms`);
    assert.equal(await resync, false);
    await write;
    assert.ok(Date.now() - t0 < 10_000, 'the resync and the write gave up (command timeout), not hung');
    assert.deepEqual(events, ['down']);
    redis.thaw();
    thawed = true;
  } finally {
    if (!thawed) redis.thaw();
  }
  const back = Date.now();
  await votes(writer, 'gz', false);
  await waitFor('gz down after the thaw', () => !m.isUp(SVC, 'gz'), 15_000);
  t.diagnostic(`converged ${Date.now() - back} ms after the thaw`);
  await waitFor('store-up', () => events.includes('up'), 2000);
  // Reads queued during the freeze run first at the thaw: their older result must not roll the change back.
  const hold = Date.now() + 700;
  while (Date.now() < hold) {
    assert.equal(m.isUp(SVC, 'gz'), false, 'a stale full read undid a newer change');
    await sleep(10);
  }
});

test('snapshot: a restart during an outage starts from the saved state', async (t) => {
  const p = prefix();
  const path = join(dir, 'health.json');
  const writer = redisStore(p);
  const s1 = redisStore(p);
  const m1 = await startMirror(s1, { snapshotPath: path });
  // Short ttl: by the time the new mirror starts, every vote is stale.
  await votes(writer, 'gz', false, 500);
  await votes(writer, 'bj', true, 500);
  await writer.setDrain({ service: '*', dc: 'sh', forMs: 60_000, reason: 'maintenance', by: 'test' });
  await writer.setPrimary({ service: DB, dc: 'bj', epoch: 0, by: 'ops', reason: 'promote' });
  await waitFor('state in the first mirror', () => !m1.isUp(SVC, 'gz') && m1.primary(DB) === 'bj' && m1.isDrained(SVC, 'sh'), 1500);
  await waitFor('snapshot written', () => existsSync(path), 2500);
  await sleep(100);
  m1.stop();
  await s1.close();
  await writer.close();

  try {
    await redis.kill();
    const s2 = redisStore(p);
    const m2 = new HealthMirror(s2, { snapshotPath: path, startTimeoutMs: 500, tickMs: 100 });
    cleanups.push(() => m2.stop());
    let loaded = '';
    m2.on('snapshot-loaded', (file: string) => (loaded = file));
    const t0 = Date.now();
    await m2.start();
    const took = Date.now() - t0;
    t.diagnostic(`start() resolved from the snapshot after ${took} ms`);
    assert.ok(took >= 450 && took < 10_000, `start took ${took} ms`);
    assert.equal(m2.source, 'snapshot');
    assert.equal(loaded, path);
    assert.equal(m2.isUp(SVC, 'gz'), false, 'down stays down on its last known state');
    assert.equal(m2.isUp(SVC, 'bj'), true);
    assert.equal(m2.verdictUp(SVC, 'gz'), false);
    const gz = m2.pairs().find((x) => x.dc === 'gz');
    assert.deepEqual(gz?.verdict, { up: false, fresh: 0, down: 0, basis: 'last-known' });
    assert.equal(m2.isUp(SVC, 'sh'), false, 'the * drain came back too');
    assert.equal(m2.isUp('other.example.com', 'sh'), false);
    assert.equal(m2.primary(DB), 'bj');
    // Ticks while the store is still gone change nothing.
    await sleep(300);
    assert.equal(m2.isUp(SVC, 'gz'), false);
    assert.equal(m2.storeConnected, false);
    m2.stop();
  } finally {
    await redis.restart();
  }
});
