import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { loadMapFile } from '../../src/config';
import { RedisStore, type Vote } from '../../src/health';
import { Prober, type CheckEvent } from '../../src/probe';
import { dig } from '../helpers/dig';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { DEFAULT_MAP, startServer, writeTemp, type TestServer } from '../helpers/server';
import { sleep, until } from '../helpers/wait';
import { Endpoint } from '../helpers/endpoint';

// Health end to end with a real Redis: real HTTP endpoints toggled between 200
// and 503, real probers voting into the shared table, a real serve answering
// real dig queries. Every wait is a poll with a deadline.

const SVC = 'www.example.com';
const GD = '183.6.0.0/24'; // south: [gz, bj, sg]
const NORTH = '202.96.0.0/24'; // north: [bj, gz, sg]
const US = '8.8.8.0/24'; // overseas: [sg, gz, bj]
const GZ = '192.0.2.10';
const BJ = '198.51.100.10';
const SG = '203.0.113.10';
const INTERVAL = 200;
const FALL = 3;
const RISE = 2;

const skip = redisAvailable() ? false : 'redis-server not installed';


const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');

/** The sample map with an http check on www.example.com probing the given local ports. */
function mapWithCheck(ports: { gz: number; bj: number; sg: number }): string {
  const block = [
    '    check:',
    '      type: http',
    '      path: /health',
    `      interval: ${INTERVAL}ms`,
    '      timeout: 150ms',
    `      fall: ${FALL}`,
    `      rise: ${RISE}`,
    `      targets: { gz: "127.0.0.1:${ports.gz}", bj: "127.0.0.1:${ports.bj}", sg: "127.0.0.1:${ports.sg}" }`,
  ].join('\n');
  const anchor = `  ${SVC}:\n    ttl: 60s\n`;
  assert.ok(SAMPLE.includes(anchor), 'sample map layout changed');
  return SAMPLE.replace(anchor, `${anchor}${block}\n`);
}

let redis: TestRedis;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
/** Registers a cleanup run in `after` (reverse order), even when a test fails midway. */
function later<T>(value: T, fn: (v: T) => Promise<unknown> | unknown): T {
  cleanups.push(() => fn(value));
  return value;
}

async function answer(port: number, subnet: string): Promise<string[]> {
  const r = await dig(port, [SVC, 'A', `+subnet=${subnet}`]);
  return r.answer.map((x) => x[4]).sort();
}
const answerOf = async (port: number, subnet: string): Promise<string> => (await answer(port, subnet)).join(',');

/** Shows in the test output (TAP `# ...`, spec reporter `ℹ ...`). */
function note(t: TestContext, msg: string): void {
  t.diagnostic(msg);
}

async function newStore(prefix: string): Promise<RedisStore> {
  const s = later(new RedisStore(redis.options(prefix)), (x) => x.close());
  await s.whenReady();
  return s;
}

before(async () => {
  if (skip) return;
  redis = await TestRedis.start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  await redis?.stop();
});

test('an endpoint failing moves the answer after `fall` failures, a single blip does not, and it returns after `rise`', { skip }, async (t) => {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of [gz, bj, sg]) later(e, (x) => x.close());
  const s: TestServer = later(
    await startServer({ mapText: mapWithCheck({ gz: gz.port, bj: bj.port, sg: sg.port }), redis: redis.options('hr1:'), probe: true, proberId: 'serve-1', snapshotPath: null }),
    (x) => x.close(),
  );
  assert.ok(s.prober, 'serve runs its own prober');
  const events: CheckEvent[] = [];
  s.prober.on('check', (e: CheckEvent) => e.dc === 'gz' && events.push(e));

  // Healthy: every region gets its first choice, once the prober has voted.
  await until('first gz vote', () => events.length >= 1);
  assert.equal(await answerOf(s.port, GD), GZ);
  assert.equal(await answerOf(s.port, NORTH), BJ);
  assert.equal(await answerOf(s.port, US), SG);

  // One failed check (a blip) is not `fall` failures: the vote stays up and the answer never moves.
  const seen = events.length;
  gz.failNext = 1;
  await until('the blip to be probed', () => events.slice(seen).some((e) => e.result.outcome === 'failure'));
  const blip = events.slice(seen).find((e) => e.result.outcome === 'failure');
  assert.equal(blip?.result.detail, 'HTTP 503');
  assert.equal(blip?.up, true, 'one failure must not vote down');
  const watchUntil = events.length + FALL + 1;
  while (events.length < watchUntil) {
    assert.equal(await answerOf(s.port, GD), GZ, 'a single 503 must not move the answer (no flapping)');
    await sleep(50);
  }
  assert.ok(events.slice(seen).every((e) => e.up), 'the vote stayed up through the blip');

  // Sustained failure: the answer moves to bj after `fall` consecutive failures.
  const failedAt = Date.now();
  gz.status = 503;
  let firstFailureAt = 0;
  s.prober.on('check', (e: CheckEvent) => {
    if (e.dc === 'gz' && e.result.outcome === 'failure' && !firstFailureAt) firstFailureAt = Date.now();
  });
  await until('Guangdong to move to bj', async () => (await answerOf(s.port, GD)) === BJ, 5000);
  const toBj = Date.now() - failedAt;
  note(t, `failure -> answer change: ${toBj} ms (interval ${INTERVAL} ms, fall ${FALL}; first failed check after ${firstFailureAt ? firstFailureAt - failedAt : '?'} ms)`);
  assert.ok(toBj >= (FALL - 1) * INTERVAL - 50, `moved after ${toBj} ms: too early for fall ${FALL}`);
  assert.ok(toBj < (FALL + 2) * INTERVAL + 1000, `moved after ${toBj} ms: too slow`);
  const moved = await dig(s.port, [SVC, 'A', `+subnet=${GD}`]);
  assert.equal(moved.answer[0][1], '30', 'a moved answer carries the failover TTL');
  assert.equal(await answerOf(s.port, NORTH), BJ, 'north is unaffected');
  assert.equal(await answerOf(s.port, US), SG, 'overseas is unaffected');

  // Recovery: back to gz after `rise` consecutive successes.
  const recoveredAt = Date.now();
  gz.status = 200;
  await until('Guangdong to return to gz', async () => (await answerOf(s.port, GD)) === GZ, 5000);
  const toGz = Date.now() - recoveredAt;
  note(t, `recovery -> answer change: ${toGz} ms (interval ${INTERVAL} ms, rise ${RISE})`);
  assert.ok(toGz >= (RISE - 1) * INTERVAL - 50, `returned after ${toGz} ms: too early for rise ${RISE}`);
  assert.ok(toGz < (RISE + 2) * INTERVAL + 1000, `returned after ${toGz} ms: too slow`);
});

test('three probers: one partitioned prober flips nothing; a second one seeing gz down flips it (2 of 3)', { skip }, async (t) => {
  const eps = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of eps) later(e, (x) => x.close());
  const [gzA, gzB, bj, sg] = eps;
  const closed = await freePort(); // nothing listens here: connection refused
  const prefix = 'hr2:';
  const s = later(
    await startServer({ mapText: mapWithCheck({ gz: gzA.port, bj: bj.port, sg: sg.port }), redis: redis.options(prefix), probe: false, snapshotPath: null }),
    (x) => x.close(),
  );
  const views = {
    a: mapWithCheck({ gz: gzA.port, bj: bj.port, sg: sg.port }),
    b: mapWithCheck({ gz: gzB.port, bj: bj.port, sg: sg.port }),
    c: mapWithCheck({ gz: closed, bj: closed, sg: closed }),
  };
  for (const [id, text] of Object.entries(views)) {
    const store = await newStore(prefix);
    const p = later(new Prober({ id, store, map: loadMapFile(writeTemp('map.yaml', text)) }), (x) => x.stop());
    p.start();
  }
  const check = await newStore(prefix);
  const votesOf = async (dc: string): Promise<Vote[]> => (await check.loadAll()).votes.filter((v) => v.service === SVC && v.dc === dc);

  // c is partitioned: it votes every datacenter down ...
  await until('c to vote gz, bj and sg down', async () => {
    const all = (await check.loadAll()).votes.filter((v) => v.prober === 'c');
    return all.length === 3 && all.every((v) => !v.up);
  });
  const cVote = (await votesOf('gz')).find((v) => v.prober === 'c');
  assert.match(cVote?.detail ?? '', /ECONNREFUSED/);
  // ... but one of three is no quorum: nothing flips, for several intervals.
  const end = Date.now() + 5 * INTERVAL;
  let polls = 0;
  while (Date.now() < end) {
    assert.equal(await answerOf(s.port, GD), GZ);
    assert.equal(await answerOf(s.port, NORTH), BJ);
    assert.equal(await answerOf(s.port, US), SG);
    polls++;
    await sleep(50);
  }
  for (const dc of ['gz', 'bj', 'sg']) assert.ok(s.mirror.isUp(SVC, dc), `${dc} must stay up with 1 of 3 down`);
  note(t, `partitioned prober c: ${polls} x 3 polls over ${5 * INTERVAL} ms, no datacenter flipped`);

  // b's view of gz breaks too (a's gz endpoint stays healthy): 2 of 3 down -> gz flips, only gz.
  const brokeAt = Date.now();
  gzB.status = 503;
  await until('Guangdong to move to bj with 2 of 3 down', async () => (await answerOf(s.port, GD)) === BJ, 5000);
  note(t, `2 of 3 probers down -> answer change: ${Date.now() - brokeAt} ms`);
  const gzVotes = await votesOf('gz');
  assert.deepEqual(gzVotes.map((v) => `${v.prober}:${v.up ? 'up' : 'down'}`).sort(), ['a:up', 'b:down', 'c:down']);
  assert.equal(await answerOf(s.port, NORTH), BJ, 'bj is still up (only c says down)');
  assert.equal(await answerOf(s.port, US), SG, 'sg is still up (only c says down)');

  // b's endpoint heals: 1 of 3 again, gz comes back.
  gzB.status = 200;
  await until('Guangdong to return to gz', async () => (await answerOf(s.port, GD)) === GZ, 5000);
});

test('votes carry why: a down vote for gz says HTTP 503 and how long the check took', { skip }, async () => {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of [gz, bj, sg]) later(e, (x) => x.close());
  gz.status = 503;
  const store = await newStore('hr3:');
  const p = later(new Prober({ id: 'why', store, map: loadMapFile(writeTemp('map.yaml', mapWithCheck({ gz: gz.port, bj: bj.port, sg: sg.port }))) }), (x) => x.stop());
  p.start();
  const vote = await until('a down vote for gz', async () => (await store.loadAll()).votes.find((v) => v.dc === 'gz' && !v.up));
  assert.equal(vote.prober, 'why');
  assert.equal(vote.service, SVC);
  assert.match(vote.detail, /HTTP 503/);
  assert.equal(typeof vote.latencyMs, 'number');
  assert.ok(Number.isFinite(vote.latencyMs) && vote.latencyMs >= 0 && vote.latencyMs < 5000, `latency ${vote.latencyMs} ms`);
  assert.equal(vote.ttlMs, 3 * INTERVAL + 150, 'a vote lives 3 intervals + the timeout');
  const ok = (await store.loadAll()).votes.find((v) => v.dc === 'bj');
  assert.ok(ok?.up);
  assert.match(ok?.detail ?? '', /HTTP 200/);
});

test('Redis killed while serving: answers stay on the last state; Redis back -> a new vote flips state within ~2 s', { skip }, async (t) => {
  const prefix = 'hr4:';
  const s = later(await startServer({ redis: redis.options(prefix), probe: false, snapshotPath: null }), (x) => x.close());
  const voter = await newStore(prefix);
  const vote = (dc: string, up: boolean): Promise<void> =>
    voter.writeVote({ prober: 'test', service: SVC, dc, up, ttlMs: 600_000, detail: up ? 'set up by test' : 'set down by test', latencyMs: 0 });
  await vote('gz', false);
  await until('Guangdong to move to bj', async () => (await answerOf(s.port, GD)) === BJ, 3000);

  await redis.kill();
  await until('the mirror to notice Redis is gone', () => !s.mirror.storeConnected, 3000, 20);
  for (let i = 0; i < 10; i++) {
    const r = await dig(s.port, [SVC, 'A', `+subnet=${[GD, NORTH, US][i % 3]}`]);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((x) => x[4]), [[BJ, BJ, SG][i % 3]], `query ${i + 1} with Redis down`);
  }

  // Redis comes back empty (no persistence). Until a prober says otherwise, gz keeps its last known state.
  const restartedAt = Date.now();
  await redis.restart();
  await until('the mirror to resync with the new Redis', () => s.mirror.storeConnected && s.mirror.lastSyncAt > restartedAt, 15_000, 20);
  assert.equal(await answerOf(s.port, GD), BJ, 'an empty table after a Redis restart keeps the last known verdict');
  await until('the test voter to reconnect', async () => (await vote('gz', true), true), 15_000);
  await until('Guangdong to return to gz', async () => (await answerOf(s.port, GD)) === GZ, 15_000, 20);
  const ms = Date.now() - restartedAt;
  note(t, `Redis restart -> new vote applied and answer back to gz: ${ms} ms`);
});

test('a serve restarted while Redis is down warms from its snapshot instead of guessing', { skip }, async (t) => {
  const prefix = 'hr5:';
  const snapshotPath = later(writeTemp('health.json', ''), (p) => rmSync(dirname(p), { recursive: true, force: true }));
  rmSync(snapshotPath);
  const a = await startServer({ redis: redis.options(prefix), probe: false, snapshotPath });
  let aClosed = false;
  later(a, (x) => !aClosed && x.close());
  const voter = await newStore(prefix);
  await voter.writeVote({ prober: 'test', service: SVC, dc: 'gz', up: false, ttlMs: 600_000, detail: 'set down by test', latencyMs: 0 });
  await until('A to answer Guangdong with bj', async () => (await answerOf(a.port, GD)) === BJ, 3000);
  // The snapshot is written at most ~1 s after a change.
  await until(
    'the snapshot to record gz down',
    () => existsSync(snapshotPath) && (JSON.parse(readFileSync(snapshotPath, 'utf8')) as { lastKnown: Record<string, boolean> }).lastKnown[`${SVC}|gz`] === false,
    3000,
  );
  await a.close();
  aClosed = true;
  await redis.kill();
  try {
    const startedAt = Date.now();
    const b = later(await startServer({ redis: redis.options(prefix), probe: false, snapshotPath }), (x) => x.close());
    note(t, `serve B started from the snapshot in ${Date.now() - startedAt} ms (store wait then snapshot)`);
    assert.equal(b.mirror.source, 'snapshot');
    assert.equal(b.mirror.storeConnected, false);
    assert.equal(await answerOf(b.port, GD), BJ, 'warm: bj, not a guessed gz');
    assert.equal(await answerOf(b.port, NORTH), BJ);
    assert.equal(await answerOf(b.port, US), SG);
  } finally {
    await redis.restart();
  }
});
