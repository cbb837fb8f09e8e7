import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { netnsUnavailable } from '../helpers/netns';
import { redisAvailable } from '../helpers/redis';
import { startServer } from '../helpers/server';
import { sleep } from '../helpers/wait';
import { ADDR, KINDS } from './harness';
import { netnsPartition, netnsRestartCutOff } from './drills-netns';
import type { AgentEvent, LoadSpec } from './netns-agent';
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

test('the netns load agent counts an answer from an older map, sent after a newer one was seen, as wrong', async () => {
  // No namespace needed: the agent runs as a plain process against a server on this loopback. The sample
  // map answers www/south gz and mail .25 all along; calling gz "v2" and .25 "v1" makes every mail answer
  // sent after the first www/south reply look like a half-applied map.
  const s = await startServer();
  try {
    const kinds = KINDS.filter((k) => k.label === 'www/south' || k.label === 'mail');
    const spec: LoadSpec = {
      port: s.port,
      rate: 200,
      durationMs: 10_000,
      kinds,
      allow: { 'www/south': [ADDR.www.gz], mail: [ADDR.mail] },
      versions: { 'www/south': { [ADDR.www.gz]: 2 }, mail: { [ADDR.mail]: 1 } },
    };
    const agent = spawn(process.execPath, [resolve(__dirname, 'netns-agent.js'), 'load', JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const events: AgentEvent[] = [];
    const lines = createInterface({ input: agent.stdout });
    lines.on('line', (l) => events.push(JSON.parse(l) as AgentEvent));
    const exited = new Promise((r) => agent.once('exit', r));
    await sleep(1000);
    agent.stdin.write(`${JSON.stringify({ op: 'stop' })}\n`);
    await exited;
    const rep = events.find((e): e is Extract<AgentEvent, { event: 'report' }> => e.event === 'report');
    assert.ok(rep, JSON.stringify(events));
    assert.ok(events.some((e) => e.event === 'version' && e.version === 2), 'the first v2 answer is announced');
    assert.ok(rep.mixed > 0, `mixed ${rep.mixed}`);
    assert.equal(rep.report.wrong, rep.mixed, 'only the older-map answers are wrong');
    assert.equal(rep.report.lost, 0);
    assert.ok(rep.report.ok >= rep.report.sent / 2 - 2, `the www/south answers stay right: ${rep.report.ok}/${rep.report.sent}`);
  } finally {
    await s.close();
  }
});
