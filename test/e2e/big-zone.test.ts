import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { bigZoneAnswer, writeBigZone } from '../helpers/big-zone';
import { dig } from '../helpers/dig';
import { buildQuery, udpExchange } from '../helpers/packet';
import { sleep } from '../helpers/wait';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// A zone file of 100,000 mixed records (A, AAAA, TXT, MX, CNAME) loads in a
// real serve and answers (issue 15 §2: 200,000 records used to overflow the
// stack; the million-record figures are in bench/big-zone.bench.ts).

const N = 100_000;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-big-zone-'));
let s: TestServer;

/** The processes whose parent is `pid`, with their command lines. */
function childrenOf(pid: number): Array<{ pid: number; cmd: string }> {
  const out: Array<{ pid: number; cmd: string }> = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push({ pid: Number(p), cmd: readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

before(async () => {
  writeBigZone(dir, N);
  const map = join(dir, 'map.yaml');
  writeFileSync(map, readFileSync(DEFAULT_MAP, 'utf8').replace('    records: |', '    file: big.zone\n    records: |'));
  s = await startServer({ config: map });
});
after(async () => {
  await s?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the 100,000 records are all in the answer tables (the serving map keeps none: they were built in a worker)', () => {
  let missing = 0;
  for (let i = 0; i < N; i++) if (!s.router.tables.nodes.get(`n${i}.example.com`)) missing++;
  assert.equal(missing, 0);
  assert.deepEqual(s.map.zones.map((z) => z.records.length), [0]);
});

// First, middle and last of each type (i % 5 picks the type).
for (const i of [0, 1, 2, 3, 4, 50_000, 50_001, 50_002, 50_003, 50_004, N - 5, N - 4, N - 3, N - 2, N - 1]) {
  const { type, rdata } = bigZoneAnswer(i, 'example.com');
  test(`dig n${i}.example.com ${type} answers ${rdata}`, async () => {
    const r = await dig(s.port, [`n${i}.example.com`, type]);
    assert.equal(r.status, 'NOERROR');
    assert.ok(r.flags.includes('aa'));
    const rr = r.answer.find((a) => a[3] === type);
    assert.ok(rr, r.raw);
    assert.equal(rr.slice(4).join(' '), rdata);
  });
}

test('a CNAME to a record of the big zone is followed to its address', async () => {
  const r = await dig(s.port, ['n99999.example.com', 'A']);
  assert.deepEqual(r.answer.map((a) => a[3]), ['CNAME', 'A']);
  assert.equal(r.answer[1][4], '10.1.134.155');
});

test('a reload of the big zone is built off the answering thread: a query every 2 ms across it, none lost', async (t) => {
  const q = buildQuery({ name: 'n0.example.com', id: 7 });
  // A map this big reloads through the spawner made at start (common/worker.ts Spawner): the build is its child, not ours.
  const spawner = childrenOf(process.pid).find((c) => c.cmd.includes('spawner-child.js'));
  assert.ok(spawner, 'serve made a spawner for the big map');
  let builtBy: number | null = null;
  const before = s.reloads.ok;
  appendFileSync(join(dir, 'big.zone'), 'reloaded A 192.0.2.99\n');
  const reloading = s.reload('test');
  let done = false;
  void reloading.finally(() => (done = true));
  const waits: number[] = [];
  let lost = 0;
  while (!done || waits.length < 10) {
    if (builtBy === null && waits.length % 10 === 0) {
      if (childrenOf(spawner.pid).some((c) => c.cmd.includes('build-worker.js'))) builtBy = spawner.pid;
      if (childrenOf(process.pid).some((c) => c.cmd.includes('build-worker.js'))) builtBy = process.pid;
    }
    const t0 = performance.now();
    if (!(await udpExchange(s.port, q, 2000))) lost++;
    waits.push(performance.now() - t0);
    await sleep(2);
  }
  assert.equal(await reloading, true);
  assert.equal(s.reloads.ok, before + 1);
  waits.sort((a, b) => a - b);
  const worst = waits[waits.length - 1];
  t.diagnostic(`${waits.length} queries across the reload, worst ${worst.toFixed(1)} ms, p99 ${waits[Math.floor(waits.length * 0.99)].toFixed(1)} ms, lost ${lost}`);
  assert.equal(lost, 0);
  assert.equal(builtBy, spawner.pid, 'the reload was built by a child of the spawner');
  // The goal (10 ms) is a bench figure (bench/RESULTS.md "Big zones"); this bound only catches a reload on the answering thread (seconds).
  assert.ok(worst < 1000, `worst reply ${worst.toFixed(0)} ms during the reload`);
  const r = await dig(s.port, ['reloaded.example.com', 'A']);
  assert.equal(r.answer[0]?.[4], '192.0.2.99');
});

test('a name past the end of the zone is NXDOMAIN with the SOA', async () => {
  const r = await dig(s.port, [`n${N}.example.com`, 'A']);
  assert.equal(r.status, 'NXDOMAIN');
  assert.equal(r.authority[0]?.[3], 'SOA');
});
