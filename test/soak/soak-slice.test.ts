import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { redisAvailable } from '../helpers/redis';
import { parseDnsperf, soakQueries } from './load';
import { firstAnswer } from './observe';
import { DEFAULT_CRITERIA, judge, slopePerMinute, spread, summarise, type Sample, type SoakReport, type Verdict } from './report';
import { schedule } from './soak';

// A short deterministic slice of the soak (test/soak/README.md): 25 s at
// 2,000 QPS from the built-in Node UDP sender (CI has no dnsperf), a verdict
// flip every 5 s and a map reload every 10 s, against a real serve, probe and
// redis-server. Plus checks of the arithmetic and the verdict the full soak
// relies on. No timing is asserted: only counts.

const skip = redisAvailable() ? false : 'redis-server not installed';

const sample = (t: number, over: Partial<Sample> = {}): Sample => ({
  t,
  rssMb: 150,
  fds: 24,
  probeFds: 21,
  probeRssMb: 60,
  loopP99Ms: 12,
  loopMaxMs: 20,
  cpuPct: 40,
  coreBusyPct: 50,
  reloadsOk: 0,
  reloadsFailed: 0,
  heapUsedMb: 30,
  externalMb: 70,
  handles: 10,
  ...over,
});

/** A 10-minute run where everything went right; tests spoil one thing at a time. */
function goodReport(): SoakReport {
  return {
    startedAt: '2026-11-26T00:00:00Z',
    machine: 'test',
    commit: 'abc',
    durationS: 600,
    rate: 45000,
    flipEveryS: 30,
    reloadEveryS: 60,
    sampleEveryS: 5,
    serveCommand: 'serve',
    probeCommand: 'probe',
    load: { sender: 'dnsperf', command: 'dnsperf', sent: 27e6, completed: 27e6, lost: 0, qps: 45000, rcodes: { NOERROR: 27e6 }, qpsSeries: [45000], avgLatencyMs: 0.1, maxLatencyMs: 5 },
    flips: [{ at: 30, up: false, seenAfter: 1 }],
    reloads: [{ at: 45, serial: 1, seenAfter: 2, counted: true }],
    unexpectedTransitions: 0,
    reloadsOk: 1,
    reloadsFailed: 0,
    samples: Array.from({ length: 121 }, (_, i) => sample(i * 5)),
    serverLogNotes: [],
  };
}

const failing = (v: Verdict): string[] => v.checks.filter(([ok]) => ok === false).map(([, text]) => text);

test('spread and the least-squares slope', () => {
  assert.deepEqual(spread([3, 1, 2, 10]), { n: 4, min: 1, median: 2.5, max: 10 });
  assert.equal(spread([5]).median, 5);
  assert.ok(Number.isNaN(spread([]).median));
  // 2 MB per 5 s is 24 MB per minute; a constant series has slope 0.
  assert.equal(Math.round(slopePerMinute([0, 5, 10, 15].map((t) => [t, 100 + (2 * t) / 5]))), 24);
  assert.equal(slopePerMinute([0, 5, 10].map((t) => [t, 7])), 0);
  assert.ok(Number.isNaN(slopePerMinute([[0, 1]])));
});

test('windows: first, second and last minute of a run, a third of a short one', () => {
  const samples = Array.from({ length: 121 }, (_, i) => sample(i * 5, { rssMb: i * 5 < 60 ? 100 : i * 5 < 120 ? 150 : i * 5 >= 540 ? 170 : 160 }));
  const s = summarise(samples, (x) => x.rssMb, 600);
  assert.equal(s.first.median, 100);
  assert.equal(s.second.median, 150);
  assert.equal(s.last.median, 170);
  assert.equal(s.first.n, 12);
  const short = summarise(Array.from({ length: 31 }, (_, i) => sample(i)), (x) => x.t, 30);
  assert.deepEqual([short.first.max, short.second.min, short.last.min], [9, 10, 20]);
});

test('the verdict passes a good run and names each criterion a bad one breaks', () => {
  assert.deepEqual(failing(judge(goodReport())), []);
  assert.equal(judge(goodReport()).pass, true);
  const spoil = (edit: (r: SoakReport) => void): string[] => {
    const r = goodReport();
    edit(r);
    const v = judge(r);
    assert.equal(v.pass, false);
    return failing(v);
  };
  assert.match(spoil((r) => (r.load.lost = 1)).join(), /lost queries: 1/);
  assert.match(spoil((r) => (r.flips[0].seenAfter = null)).join(), /flips observed: 0 of 1/);
  assert.match(spoil((r) => (r.reloads[0].counted = false)).join(), /reloads observed: 0 of 1/);
  assert.match(spoil((r) => (r.reloadsFailed = 1)).join(), /failed 1/);
  assert.match(spoil((r) => (r.samples[r.samples.length - 1].fds = 24 + DEFAULT_CRITERIA.fdSlack + 1)).join(), /serve fds: 24 at start, 30 at end/);
  assert.match(spoil((r) => (r.samples[r.samples.length - 1].probeFds = 40)).join(), /probe fds/);
  assert.match(spoil((r) => r.samples.forEach((s) => s.t >= 540 && (s.rssMb = 170))).join(), /serve RSS: .*\+13\.3%/);
  assert.match(spoil((r) => r.samples.forEach((s) => s.t >= 540 && (s.loopP99Ms = 40))).join(), /event-loop p99/);
  // A short run judges no flatness at all.
  const short = goodReport();
  short.durationS = 60;
  short.samples = short.samples.slice(0, 13).map((s, i) => ({ ...s, rssMb: 100 + i * 10 }));
  const v = judge(short);
  assert.equal(v.pass, true);
  assert.equal(v.checks.filter(([ok]) => ok === null).length, 2);
});

test('the schedule: flips every period, reloads offset half a flip period, none after the end', () => {
  assert.deepEqual(schedule({ seconds: 600, flipEveryS: 30, reloadEveryS: 60 }), {
    flips: Array.from({ length: 19 }, (_, i) => 30 * (i + 1)),
    reloads: Array.from({ length: 10 }, (_, i) => 45 + 60 * i),
  });
  assert.deepEqual(schedule({ seconds: 25, flipEveryS: 5, reloadEveryS: 10 }), { flips: [5, 10, 15, 20], reloads: [7.5, 17.5] });
});

test('dnsperf output is parsed: counts, rcodes, interval QPS, latency', () => {
  const out = [
    '1795675753.480443: 0.000001',
    '1795675754.480997: 1999.892060',
    '1795675755.481000: 2000.100000',
    '  Queries sent:         6000',
    '  Queries completed:    5990 (99.83%)',
    '  Queries lost:         10 (0.17%)',
    '  Response codes:       NOERROR 5980 (99.83%), REFUSED 10 (0.17%)',
    '  Queries per second:   1999.894006',
    '  Average Latency (s):  0.000087 (min 0.000033, max 0.002910)',
  ].join('\n');
  const r = parseDnsperf(out, 'dnsperf ...');
  assert.deepEqual([r.sent, r.completed, r.lost, r.qps], [6000, 5990, 10, 1999.894006]);
  assert.deepEqual(r.rcodes, { NOERROR: 5980, REFUSED: 10 });
  assert.deepEqual(r.qpsSeries, [1999.89206, 2000.1]);
  assert.equal(r.avgLatencyMs?.toFixed(3), (0.087).toFixed(3));
  assert.equal(r.maxLatencyMs?.toFixed(2), (2.91).toFixed(2));
});

test('the generated queries are deterministic, 90% www, each with its own ECS option', () => {
  const a = soakQueries(100);
  assert.deepEqual(soakQueries(100), a);
  assert.equal(a.filter((q) => q.includes(Buffer.from('\x03www', 'latin1'))).length, 90);
  assert.ok(a.every((q) => q.readUInt16BE(10) === 1 && q.includes(Buffer.from([0, 8, 0, 7, 0, 1, 24, 0]))));
});

test('firstAnswer reads A and TXT data behind a compressed owner name', () => {
  const head = Buffer.from('123484000001000100000000', 'hex');
  const question = Buffer.from('04736f616b076578616d706c65047465737400 0010 0001'.replace(/ /g, ''), 'hex');
  const txt = Buffer.concat([Buffer.from('c00c00100001000000000009', 'hex'), Buffer.from('\x08reload-7', 'latin1')]);
  assert.equal(firstAnswer(Buffer.concat([head, question, txt])), 'reload-7');
  const a = Buffer.from('c00c000100010000012c0004c0000201', 'hex');
  assert.equal(firstAnswer(Buffer.concat([head, question, a])), '192.0.2.1');
  const none = Buffer.from(head);
  none.writeUInt16BE(0, 6);
  assert.equal(firstAnswer(Buffer.concat([none, question])), null);
});

test('the soak slice: 25 s at 2,000 QPS, flips every 5 s, reloads every 10 s: nothing lost, every flip and reload seen, no fd growth', { skip, timeout: 150_000 }, async () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const args = ['--seconds', '25', '--rate', '2000', '--flip-every', '5s', '--reload-every', '10s', '--sample-every', '1s', '--sender', 'node', '--no-pin', '--results', 'off', '--json', '--quiet'];
  const child = spawn(process.execPath, [join(__dirname, 'soak.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  const line = out.split('\n').find((l) => l.startsWith('SOAK_SUMMARY '));
  assert.ok(line, `no summary (exit ${code})\n${out}\n${err}`);
  const s = JSON.parse(line.slice('SOAK_SUMMARY '.length)) as SoakReport & { verdict: Verdict };
  const seen = `load ${JSON.stringify({ ...s.load, qpsSeries: undefined })}; flips ${JSON.stringify(s.flips)}; reloads ${JSON.stringify(s.reloads)}; notes ${s.serverLogNotes.join(' | ')}`;
  assert.equal(s.load.sender, 'node');
  assert.equal(s.load.sent, 50_000, `every query of 25 s x 2,000 QPS was sent: ${seen}`);
  assert.equal(s.load.lost, 0, seen);
  assert.equal(s.load.completed, s.load.sent, seen);
  assert.equal(s.load.rcodes.NOERROR, s.load.sent, seen);
  assert.equal(s.flips.length, 4, seen);
  assert.deepEqual(
    s.flips.map((f) => f.seenAfter !== null),
    [true, true, true, true],
    seen,
  );
  assert.equal(s.reloads.length, 2, seen);
  assert.ok(
    s.reloads.every((r) => r.seenAfter !== null && r.counted),
    seen,
  );
  assert.equal(s.reloadsOk, 2, seen);
  assert.equal(s.reloadsFailed, 0, seen);
  const fds = s.samples.map((x) => x.fds);
  assert.ok(fds.length >= 20, `only ${fds.length} samples`);
  assert.ok(fds[fds.length - 1] <= fds[0] + DEFAULT_CRITERIA.fdSlack, `serve fds ${fds.join(' ')}`);
  assert.equal(s.verdict.pass, true, s.verdict.checks.map(([ok, t]) => `${ok}: ${t}`).join('\n'));
  assert.equal(code, 0, err);
});
