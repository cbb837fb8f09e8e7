import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { runCliSync, showRun } from '../helpers/cli';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, writeTemp, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// A service whose south datacenter (gz) has only IPv4: AAAA in south answers from the next datacenter
// of south's list that has AAAA (bj, then sg), health applied as for A, with the same ECS scope as the
// A answer for the client (the region's block). `aaaa_fallback: nodata` keeps the NODATA answer.

const GD = '183.6.0.0/24'; // CN-GD: south [gz, bj, sg]
const BJ = '202.96.0.0/24'; // CN-BJ: north [bj, gz, sg]
const US = '8.8.8.0/24'; // overseas [sg, gz, bj]

const dcs = `    datacenters:
      gz: { a: [192.0.2.11] }
      bj: { a: [198.51.100.11], aaaa: ["2001:db8:20::11"] }
      sg: { a: [203.0.113.11], aaaa: ["2001:db8:30::11"] }
`;
const MAP = `${readFileSync(DEFAULT_MAP, 'utf8').trimEnd()}
  v6.example.com:
    ttl: 60s
${dcs}  v6off.example.com:
    ttl: 60s
    aaaa_fallback: nodata
${dcs}`;

let s: TestServer;
let mapPath: string;
before(async () => {
  mapPath = writeTemp('map.yaml', MAP);
  s = await startServer({ config: mapPath });
});
after(async () => {
  await s.close();
});

const ask = (name: string, type: string, subnet: string) => dig(s.port, [name, type, `+subnet=${subnet}`, '+norecurse']);
const addrs = (rows: string[][]): string[] => rows.map((r) => r[4]);
const vote = (dc: string, up: boolean): Promise<void> =>
  s.store.writeVote({ prober: 't', service: 'v6.example.com', dc, up, ttlMs: 600_000, detail: 'test', latencyMs: 0 });

test('AAAA in a region whose first datacenter has only A: the next one with AAAA, the A answer unchanged', async () => {
  const a = await ask('v6.example.com', 'A', GD);
  assert.deepEqual(addrs(a.answer), ['192.0.2.11'], a.raw);
  const aaaa = await ask('v6.example.com', 'AAAA', GD);
  assert.equal(aaaa.status, 'NOERROR', aaaa.raw);
  assert.deepEqual(addrs(aaaa.answer), ['2001:db8:20::11'], aaaa.raw);
  assert.equal(aaaa.answer[0][1], '60', 'a configured fact, not a failover: the normal TTL');
});

test('the AAAA fallback answer carries the ECS scope of the region decision (the same block as A)', async () => {
  const a = await ask('v6.example.com', 'A', GD);
  const aaaa = await ask('v6.example.com', 'AAAA', GD);
  assert.ok(a.ecs && aaaa.ecs, aaaa.raw);
  assert.ok(a.ecs.scope > 0, 'the answer depends on the region');
  assert.equal(aaaa.ecs.scope, a.ecs.scope, aaaa.raw);
});

test('regions whose first datacenter has AAAA keep it', async () => {
  assert.deepEqual(addrs((await ask('v6.example.com', 'AAAA', BJ)).answer), ['2001:db8:20::11']);
  assert.deepEqual(addrs((await ask('v6.example.com', 'AAAA', US)).answer), ['2001:db8:30::11']);
});

test('health applies: bj down moves south AAAA to sg with the failover TTL; all IPv6 datacenters down: the fallback', async () => {
  await vote('bj', false);
  try {
    const r = await until('AAAA from sg', async () => {
      const x = await ask('v6.example.com', 'AAAA', GD);
      return addrs(x.answer)[0] === '2001:db8:30::11' ? x : null;
    });
    assert.equal(r.answer[0][1], '30', 'moved off the first datacenter with AAAA: failover TTL');
    // gz (A only) is still up, so A stays on gz.
    assert.deepEqual(addrs((await ask('v6.example.com', 'A', GD)).answer), ['192.0.2.11']);
    await vote('sg', false);
    // Every datacenter with AAAA is down: `fallback: first` answers the first of them (bj), fail-open.
    const f = await until('AAAA fallback to bj', async () => {
      const x = await ask('v6.example.com', 'AAAA', GD);
      return addrs(x.answer)[0] === '2001:db8:20::11' ? x : null;
    });
    assert.equal(f.answer[0][1], '30');
  } finally {
    await vote('bj', true);
    await vote('sg', true);
  }
});

test('aaaa_fallback: nodata answers NODATA (SOA in authority) where the datacenter has no AAAA', async () => {
  const r = await ask('v6off.example.com', 'AAAA', GD);
  assert.equal(r.status, 'NOERROR', r.raw);
  assert.deepEqual(r.answer, [], r.raw);
  assert.equal(r.authority[0]?.[3], 'SOA', r.raw);
  assert.deepEqual(addrs((await ask('v6off.example.com', 'AAAA', US)).answer), ['2001:db8:30::11']);
});

test('explain --type AAAA shows the datacenter without AAAA skipped and the one chosen', () => {
  const r = runCliSync(['explain', '183.6.0.1', 'v6.example.com', '--type', 'AAAA', '--subnet', '24', '--config', mapPath]);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /^answer-rr v6\.example\.com 60 AAAA 2001:db8:20::11$/m);
  assert.match(r.stdout, /^datacenters gz=up\(no AAAA\) bj=up\* sg=up$/m);
  assert.match(r.stdout, /^chosen bj$/m);
});

test('aaaa_fallback must be next or nodata', () => {
  const bad = writeTemp('map.yaml', MAP.replace('aaaa_fallback: nodata', 'aaaa_fallback: skip'));
  const r = runCliSync(['check', bad]);
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /services\.v6off\.example\.com\.aaaa_fallback: aaaa_fallback must be "next" or "nodata", not "skip"/);
});
