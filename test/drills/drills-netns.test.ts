import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netnsUnavailable } from '../helpers/netns';
import { redisAvailable } from '../helpers/redis';
import { netnsPartition, netnsRestartCutOff } from './drills-netns';
import type { DrillResult } from './result';

// The fleet drill in network namespaces (test/drills/README.md), short: 300
// QPS over the three hosts, 0.7 s dwell. Outcomes only, never timings. (n2)
// stays out: (n3) publishes v2 during its partition too, so it checks what
// (n2) does (dc2 strict v1 until the heal, then v2, no host mixing them) and
// more, and the three together would take ~45 s.

const RATE = 300;
const ctx = { rate: RATE, dwellMs: 700, log: () => undefined };

const unavailable = (): string | null => netnsUnavailable() ?? (redisAvailable() ? null : 'redis-server not installed');

function assertClean(r: DrillResult): void {
  const why = JSON.stringify({ error: r.error, convergence: r.convergence, dataLost: r.dataLost, wrong: r.traffic?.wrongSamples, events: r.events, notes: r.notes });
  assert.equal(r.error, undefined, why);
  const t = r.traffic;
  assert.ok(t && t.sent >= RATE * 3, `load too small: ${t?.sent} queries`);
  assert.equal(t.sent, t.ok + t.wrong + t.lost, 'every query is classified once');
  assert.equal(t.wrong, 0, why);
  assert.equal(t.lost, 0, why);
  assert.equal(r.converged, true, why);
  assert.deepEqual(r.dataLost, [], why);
}

test("drill (n1): dc2 cut off from Redis: its hosts answer on, p2's votes age out without a flip, all back after the heal", async (t) => {
  const why = unavailable();
  if (why) return t.skip(`network namespaces unavailable: ${why}`);
  assertClean(await netnsPartition(ctx, { untilNoticed: false }));
});

test('drill (n3): a dc2 host restarted while cut off serves its disk copy from the first answer, then v2 after the heal', async (t) => {
  const why = unavailable();
  if (why) return t.skip(`network namespaces unavailable: ${why}`);
  const r = await netnsRestartCutOff(ctx);
  assertClean(r);
  assert.ok(r.events.some((e) => e.what.includes('serving the disk copy of published map version 1')), JSON.stringify(r.events));
});
