import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, test } from 'node:test';
import Redis from 'ioredis';
import { FleetStore, RedisStore, type Drain, type PrimaryPointer, type Vote } from '../../src/health';
import { freePort, TestRedis } from '../helpers/redis';

// RedisStore against a real redis-server: one server for the file, a distinct
// key prefix per test so tests never see each other's keys.

let redis: TestRedis;
const stores: RedisStore[] = [];
let n = 0;
const prefix = (): string => `t${++n}:${process.pid}:`;

/** A connected store; closed in `after`. */
async function store(p: string): Promise<RedisStore> {
  const s = new RedisStore(redis.options(p));
  stores.push(s);
  await s.whenReady(3000);
  return s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const vote = (prober: string, up: boolean, extra: Partial<Vote> = {}): Omit<Vote, 'at'> => ({
  prober,
  service: 'www.example.com',
  dc: 'gz',
  up,
  ttlMs: 5000,
  detail: up ? 'HTTP 200' : 'ECONNREFUSED',
  latencyMs: 12.5,
  ...extra,
});

/** The next `event` from `emitter`, or a rejection after `ms`. */
async function next<T>(emitter: RedisStore, event: string, ms = 2000): Promise<T> {
  const [v] = (await once(emitter, event, { signal: AbortSignal.timeout(ms) })) as [T];
  return v;
}

before(async () => {
  redis = await TestRedis.start();
});
after(async () => {
  await Promise.all(stores.map((s) => s.close()));
  await redis.stop();
});

test('writeVote stamps `at` with Redis TIME; a second subscribed store receives the vote', async () => {
  const p = prefix();
  const [writer, reader] = [await store(p), await store(p)];
  assert.equal(writer.kind, 'redis');
  assert.equal(writer.ready, true);
  const got = next<Vote>(reader, 'vote');
  const before = Date.now();
  await writer.writeVote({ ...vote('p1', false), at: 1 } as Omit<Vote, 'at'>); // a caller's `at` is ignored
  const v = await got;
  assert.equal(v.prober, 'p1');
  assert.equal(v.service, 'www.example.com');
  assert.equal(v.dc, 'gz');
  assert.equal(v.up, false);
  assert.equal(v.ttlMs, 5000);
  assert.equal(v.detail, 'ECONNREFUSED');
  assert.equal(v.latencyMs, 12.5);
  assert.ok(Math.abs(v.at - before) < 1000, `at ${v.at} close to Date.now() ${before}`);
  const clock = await writer.now();
  assert.ok(clock >= v.at && clock - v.at < 1000);
});

test('loadAll returns votes, drains, primaries and the store clock', async () => {
  const s = await store(prefix());
  const empty = await s.loadAll();
  assert.deepEqual([empty.votes, empty.drains, empty.primaries], [[], [], []]);
  assert.ok(Math.abs(empty.now - Date.now()) < 1000);

  await s.writeVote(vote('p1', true));
  await s.writeVote(vote('p2', false));
  await s.writeVote(vote('p1', false)); // overwrites p1's vote: one vote per (service, dc, prober)
  await s.writeVote(vote('p1', true, { dc: 'bj' }));
  await s.setDrain({ service: '*', dc: 'sh', forMs: 60_000, reason: 'maintenance', by: 'ops' });
  assert.equal(await s.setPrimary({ service: 'db.example.com', dc: 'bj', epoch: 0, by: 'ops', reason: 'promote' }), true);

  const snap = await s.loadAll();
  const key = (v: Vote): string => `${v.dc}/${v.prober}/${v.up}`;
  assert.deepEqual(snap.votes.map(key).sort(), ['bj/p1/true', 'gz/p1/false', 'gz/p2/false']);
  assert.equal(snap.drains.length, 1);
  assert.equal(snap.drains[0].service, '*');
  assert.equal(snap.drains[0].dc, 'sh');
  assert.equal(snap.primaries.length, 1);
  assert.equal(snap.primaries[0].dc, 'bj');
  assert.ok(snap.votes.every((v) => v.at <= snap.now && snap.now - v.at < 2000));
});

test('setDrain: until = at + forMs, drain event; clearDrain true then false, undrain event each time', async () => {
  const p = prefix();
  const [s, watcher] = [await store(p), await store(p)];
  const seen: Array<{ service: string; dc: string }> = [];
  watcher.on('undrain', (d: { service: string; dc: string }) => seen.push(d));
  const got = next<Drain>(watcher, 'drain');
  await s.setDrain({ service: 'www.example.com', dc: 'gz', forMs: 90_000, reason: 'upgrade', by: 'alice' });
  const d = await got;
  assert.equal(d.until - d.at, 90_000);
  assert.ok(Math.abs(d.at - Date.now()) < 1000);
  assert.deepEqual({ service: d.service, dc: d.dc, reason: d.reason, by: d.by }, { service: 'www.example.com', dc: 'gz', reason: 'upgrade', by: 'alice' });
  const [stored] = (await s.loadAll()).drains;
  assert.deepEqual(stored, d);

  const undrained = next<{ service: string; dc: string }>(watcher, 'undrain');
  assert.equal(await s.clearDrain('www.example.com', 'gz'), true);
  assert.deepEqual(await undrained, { service: 'www.example.com', dc: 'gz' });
  assert.equal(await s.clearDrain('www.example.com', 'gz'), false);
  assert.equal(await s.clearDrain('other', 'gz'), false);
  assert.deepEqual((await s.loadAll()).drains, []);
  await sleep(100);
  // A clearDrain that found nothing here still publishes: serves may hold the drain
  // fail-static after Redis came back empty, and the undrain must reach them.
  assert.equal(seen.length, 3, 'every clearDrain publishes an undrain event');
});

test('acquireLease: epoch 1, renew keeps it, others get null while live and epoch 2 after expiry; releaseLease', async () => {
  const s = await store(prefix());
  assert.equal(await s.acquireLease('a', 300), 1);
  assert.deepEqual(await s.leader(), { holder: 'a', epoch: 1 });
  assert.equal(await s.acquireLease('a', 300), 1, 'renewal keeps the epoch');
  assert.equal(await s.acquireLease('b', 300), null);
  // Renewing extends the lease: after 200 + 200 ms it is still a's.
  await sleep(200);
  assert.equal(await s.acquireLease('a', 300), 1);
  await sleep(200);
  assert.equal(await s.acquireLease('b', 300), null, 'renewed lease still live');
  await sleep(400);
  assert.deepEqual(await s.leader(), { holder: null, epoch: 1 });
  assert.equal(await s.acquireLease('b', 300), 2, 'the lease changed hands: new epoch');
  assert.equal(await s.acquireLease('a', 300), null);

  await s.releaseLease('a'); // not the holder: no effect
  assert.equal((await s.leader()).holder, 'b');
  await s.releaseLease('b');
  assert.deepEqual(await s.leader(), { holder: null, epoch: 2 });
  assert.equal(await s.acquireLease('a', 5000), 3, 'taken at once after a release');
  await s.releaseLease('a');
});

test('fenced setPrimary: only the current holder at its epoch; unfenced (operator) always', async () => {
  const p = prefix();
  const [s, watcher] = [await store(p), await store(p)];
  const pointers: PrimaryPointer[] = [];
  watcher.on('primary', (x: PrimaryPointer) => pointers.push(x));
  const ptr = (dc: string, epoch: number, by: string): Omit<PrimaryPointer, 'at'> => ({ service: 'db.example.com', dc, epoch, by, reason: 'test' });
  const current = async (): Promise<string | undefined> => (await s.loadAll()).primaries.find((x) => x.service === 'db.example.com')?.dc;

  assert.equal(await s.setPrimary(ptr('gz', 1, 'a'), { holder: 'a', epoch: 1 }), false, 'no lease at all');
  const e1 = await s.acquireLease('a', 300);
  assert.equal(e1, 1);
  assert.equal(await s.setPrimary(ptr('gz', 1, 'a'), { holder: 'a', epoch: 1 }), true);
  assert.equal(await current(), 'gz');
  assert.equal(await s.setPrimary(ptr('bj', 1, 'b'), { holder: 'b', epoch: 1 }), false, 'not the holder');
  assert.equal(await s.setPrimary(ptr('bj', 7, 'a'), { holder: 'a', epoch: 7 }), false, 'holder with a wrong epoch');
  assert.equal(await current(), 'gz');

  await sleep(450); // a's lease expires; b takes over
  assert.equal(await s.acquireLease('b', 5000), 2);
  assert.equal(await s.setPrimary(ptr('bj', 1, 'a'), { holder: 'a', epoch: 1 }), false, 'the old leader is fenced off');
  assert.equal(await s.setPrimary(ptr('bj', 1, 'b'), { holder: 'b', epoch: 1 }), false, 'stale epoch even for the holder');
  assert.equal(await current(), 'gz');
  assert.equal(await s.setPrimary(ptr('sh', 2, 'b'), { holder: 'b', epoch: 2 }), true);
  assert.equal(await current(), 'sh');

  // An operator's promote has no fence: it works whoever holds the lease.
  assert.equal(await s.setPrimary(ptr('bj', 0, 'ops')), true);
  assert.equal(await current(), 'bj');
  await s.releaseLease('b');
  assert.equal(await s.setPrimary(ptr('gz', 0, 'ops')), true, 'and with no lease at all');
  const stored = (await s.loadAll()).primaries[0];
  assert.equal(stored.dc, 'gz');
  assert.equal(stored.epoch, 0);
  assert.ok(Math.abs(stored.at - Date.now()) < 1000);

  await sleep(100);
  assert.deepEqual(
    pointers.map((x) => x.dc),
    ['gz', 'sh', 'bj', 'gz'],
    'only successful writes are published',
  );
});

test('audit entries are stamped and listed newest first', async () => {
  const s = await store(prefix());
  assert.deepEqual(await s.auditLog(), []);
  await s.audit({ op: 'drain', dc: 'gz', by: 'alice', reason: 'upgrade' });
  await s.audit({ op: 'undrain', dc: 'gz', by: 'alice' });
  await s.audit({ op: 'promote', dc: 'bj', by: 'bob' });
  const log = await s.auditLog();
  assert.deepEqual(
    log.map((e) => e.op),
    ['promote', 'undrain', 'drain'],
  );
  assert.equal(log[2].reason, 'upgrade');
  for (const e of log) assert.ok(typeof e.at === 'number' && Math.abs((e.at as number) - Date.now()) < 2000);
  assert.ok((log[0].at as number) >= (log[2].at as number));
  assert.deepEqual(
    (await s.auditLog(2)).map((e) => e.op),
    ['promote', 'undrain'],
  );
});

test('garbage in the hashes is skipped by loadAll, not thrown', async () => {
  const p = prefix();
  const s = await store(p);
  await s.writeVote(vote('good', false));
  await s.setDrain({ service: 'www.example.com', dc: 'bj', forMs: 1000, reason: '', by: 'x' });
  const raw = new Redis({ host: '127.0.0.1', port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await raw.connect();
    await raw.hset(`${p}votes`, {
      'www.example.com|gz|junk': '{not json',
      'www.example.com|gz|null': 'null',
      'www.example.com|gz|num': '42',
      'www.example.com|gz|partial': JSON.stringify({ prober: 'partial', service: 'www.example.com', dc: 'gz' }),
      'www.example.com|gz|badtype': JSON.stringify({ prober: 'x', service: 'www.example.com', dc: 'gz', up: 'no', at: 1, ttlMs: 1 }),
    });
    await raw.hset(`${p}drains`, 'x|y', '][');
    await raw.hset(`${p}primary`, 'db.example.com', '{"service":"db.example.com"}');
    await raw.lpush(`${p}audit`, 'not json either');
    const snap = await s.loadAll();
    assert.deepEqual(
      snap.votes.map((v) => v.prober),
      ['good'],
    );
    assert.deepEqual(
      snap.drains.map((d) => d.dc),
      ['bj'],
    );
    assert.deepEqual(snap.primaries, []);
    assert.deepEqual(await s.auditLog(), []);
    // Garbage on the events channel is ignored too (no throw, no event).
    let events = 0;
    s.on('vote', () => events++);
    await raw.publish(`${p}events`, 'garbage');
    await raw.publish(`${p}events`, '{"t":"vote","d":{"prober":1}}');
    await raw.publish(`${p}events`, '{"t":"what","d":{}}');
    await sleep(100);
    assert.equal(events, 0);
  } finally {
    raw.disconnect();
  }
});

test('whenReady rejects quickly with GS_ERR_REDIS_UNAVAILABLE when nothing listens', async () => {
  const port = await freePort();
  const s = new RedisStore({ ...redis.options('x:'), port });
  stores.push(s);
  const t0 = Date.now();
  await assert.rejects(s.whenReady(300), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'GS_ERR_REDIS_UNAVAILABLE');
    assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    return true;
  });
  const took = Date.now() - t0;
  assert.ok(took >= 290 && took < 5000, `rejected after ${took} ms`);
  assert.equal(s.ready, false);
  // Commands fail fast too instead of queueing.
  const t1 = Date.now();
  await assert.rejects(s.loadAll());
  await assert.rejects(s.writeVote(vote('p', true)));
  assert.ok(Date.now() - t1 < 500, 'no offline queue: commands reject at once');
});

test('restore of an empty state: nothing written, an empty plan (not a script error); the table marker stays', async () => {
  const p = prefix();
  const s = await store(p);
  const before = (await s.loadAll()).incarnation;
  assert.match(String(before), /^[0-9a-f]{16}$/, 'the first read makes the marker');
  for (const dryRun of [true, false]) assert.deepEqual(await s.restore({ drains: [], primaries: [], epoch: 0, audit: [] }, dryRun), []);
  const fleet = new FleetStore(redis.options(p));
  try {
    await fleet.whenReady(3000);
    for (const dryRun of [true, false]) assert.deepEqual(await fleet.restoreMaps([], null, dryRun), []);
  } finally {
    await fleet.close();
  }
  assert.equal((await s.loadAll()).incarnation, before, 'later reads keep the same marker');
});
