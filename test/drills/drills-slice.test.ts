import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { redisAvailable } from '../helpers/redis';
import { startServer } from '../helpers/server';
import { runTraffic } from '../load/traffic';
import { mapGarbage, mmdbTruncated, workerKill } from './drills-local';
import { redisKill, redisStop } from './drills-redis';
import { ADDR, Expect, KINDS } from './harness';
import type { DrillResult } from './result';

// The deterministic slice of the fault drills (test/drills/README.md): the
// cheap drills at a low rate, asserting outcomes, never timings. Plus checks
// that the load generator does count wrong and lost answers, so a drill's
// "0 failed" means something.

const RATE = 500;
const ctx = { rate: RATE, dwellMs: 700, log: () => undefined };

/** Everything a passing drill must show, with the drill's own account in the message. */
function assertClean(r: DrillResult, lostAllowed = 0): void {
  const why = JSON.stringify({ error: r.error, convergence: r.convergence, dataLost: r.dataLost, wrong: r.traffic?.wrongSamples, events: r.events });
  assert.equal(r.error, undefined, why);
  const t = r.traffic;
  assert.ok(t && t.sent >= RATE * 2, `load too small: ${t?.sent} queries`);
  assert.equal(t.sent, t.ok + t.wrong + t.lost, 'every query is classified once');
  assert.equal(t.wrong, 0, why);
  assert.ok(t.lost <= lostAllowed, `${t.lost} lost (allowed ${lostAllowed}): ${why}`);
  assert.equal(r.converged, true, why);
  assert.deepEqual(r.dataLost, [], why);
}

test('the load generator counts right and wrong answers against a real server, bucket by bucket', async () => {
  const s = await startServer();
  try {
    const exp = new Expect();
    exp.set('www/south', ADDR.www.bj); // the sample map answers gz for Guangdong: every www/south answer is wrong
    const kinds = KINDS.filter((k) => !k.label.startsWith('db/')); // the sample map has no db service
    const r = await runTraffic({ port: s.port, rate: 400, durationMs: 1000, kinds, validate: exp.validate });
    const perKind = Math.floor(r.sent / kinds.length);
    assert.ok(r.sent >= 350 && r.sent <= 400, `sent ${r.sent}`);
    assert.equal(r.lost, 0);
    assert.ok(r.wrong >= perKind && r.wrong <= perKind + 1, `wrong ${r.wrong}, expected one kind's share (${perKind})`);
    assert.equal(r.ok + r.wrong, r.sent);
    assert.equal(r.timeline.reduce((n, b) => n + b.sent, 0), r.sent);
    assert.equal(r.timeline.reduce((n, b) => n + b.wrong, 0), r.wrong);
    assert.equal(r.wrongSamples[0].answer, 'www/south=192.0.2.10');
    assert.ok(r.timeline.some((b) => (b.answers['www6/south=2001:db8:10::10'] ?? 0) > 0), 'AAAA answers are parsed');
  } finally {
    await s.close();
  }
});

test('the load generator counts every query lost when nothing answers, and stops on time', async () => {
  const sink = createSocket('udp4'); // bound but silent: queries vanish without an ICMP error
  await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
  try {
    const started = Date.now();
    const r = await runTraffic({ port: sink.address().port, rate: 200, durationMs: 500, kinds: KINDS, validate: () => true, timeoutMs: 300 });
    assert.ok(r.sent > 0 && r.sent <= 100, `sent ${r.sent}`);
    assert.equal(r.lost, r.sent);
    assert.equal(r.ok + r.wrong, 0);
    assert.ok(Date.now() - started < 10_000, 'bounded in time');
  } finally {
    sink.close();
  }
});

test('drill (b): Redis frozen 3 s under load: no failed answer, a change after SIGCONT is served, nothing lost', { skip: redisAvailable() ? false : 'redis-server not installed' }, async () => {
  assertClean(await redisStop(ctx));
});

test('drill (a3): Redis restarted empty under load, then geosteer recover: no failed answer (fail-static), drains and pointer back in Redis', { skip: redisAvailable() ? false : 'redis-server not installed' }, async () => {
  assertClean(await redisKill(ctx, 'recover'));
});

test('drill (e): MMDB replaced by a truncated copy: old DB keeps answering, a good one later is used', async () => {
  assertClean(await mmdbTruncated(ctx));
});

test('drill (f): map replaced by garbage: old map keeps answering, a valid edit later goes live', async () => {
  assertClean(await mapGarbage(ctx));
});

test('drill (g): a cluster worker SIGKILLed: few answers lost, none wrong, a new worker serves with the health state', async () => {
  const r = await workerKill(ctx);
  assertClean(r, r.lostAllowed ?? 0);
  const tail = r.traffic?.timeline.slice(-10) ?? [];
  assert.ok(tail.every((b) => b.ok === b.sent), 'answers resumed: the last second is clean');
});
