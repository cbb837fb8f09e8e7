import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// Capacity-aware spill end to end: a real serve, 2000 ECS /24s of the south
// region (10.0.0.0/8 by a CIDR rule) queried over UDP. When gz (south's first
// choice) fails or is drained, south splits over bj and sg by spare capacity:
// shares 50/30/20, capacities 60 each, so spare bj 30, sg 40: bj 3/7, sg 4/7.

const MAP = `datacenters:
  gz: {}
  bj: {}
  sg: {}
regions:
  south:
    cidrs: [10.0.0.0/8]
    datacenters: [gz, bj, sg]
    share: 50
  north:
    cidrs: [172.16.0.0/12]
    datacenters: [bj, gz, sg]
    share: 30
  overseas:
    default: true
    datacenters: [sg, gz, bj]
    share: 20
zones:
  example.com:
    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      ns1 A 192.0.2.53
services:
  www.example.com:
    datacenters:
      gz: { a: [192.0.2.10], capacity: 60 }
      bj: { a: [198.51.100.10], capacity: 60 }
      sg: { a: [203.0.113.10], capacity: 60 }
`;
const GZ = '192.0.2.10';
const BJ = '198.51.100.10';
const SG = '203.0.113.10';

/** 2000 distinct /24s inside 10.0.0.0/8, spread by a fixed stride. */
const BLOCKS = Array.from({ length: 2000 }, (_, i) => {
  const x = (i * 2654435761) % 65536;
  return `10.${x >>> 8}.${x & 255}.0`;
});
let s: TestServer;

async function answer(subnet: string): Promise<string> {
  const name = 'www.example.com';
  const reply = await udpExchange(s.port, buildQuery({ name, edns: { options: [ecsOption(subnet, 24)] } }), 2000);
  assert.ok(reply, `no reply for ${subnet}`);
  const off = 12 + name.length + 2 + 4;
  assert.equal(reply.readUInt16BE(6), 1, `${subnet}: one record`);
  return [...reply.subarray(off + 12, off + 16)].join('.');
}
const answers = (): Promise<string[]> => Promise.all(BLOCKS.map(answer));
const share = (list: string[], a: string): number => (100 * list.filter((x) => x === a).length) / list.length;

async function setUp(dc: string, up: boolean): Promise<void> {
  await s.store.writeVote({ prober: 'test', service: 'www.example.com', dc, up, ttlMs: 600_000, detail: 'set by test', latencyMs: 0 });
}

before(async () => {
  s = await startServer({ mapText: MAP });
});
after(async () => {
  await s?.close();
});

test('healthy: every south /24 gets gz', async () => {
  assert.ok((await answers()).every((a) => a === GZ));
});

test('gz fails: south splits bj 43% / sg 57% (by spare capacity) within 4 points; each /24 keeps one answer; recovery returns all to gz', async () => {
  await setUp('gz', false);
  try {
    const got = await until('south moved off gz', async () => {
      const a = await answers();
      return a.includes(GZ) ? null : a;
    });
    const bj = share(got, BJ);
    const sg = share(got, SG);
    console.log(`# gz down, south over 2000 /24s: bj ${bj.toFixed(1)}% (plan 42.9%), sg ${sg.toFixed(1)}% (plan 57.1%)`);
    assert.ok(Math.abs(bj - 300 / 7) <= 4, `bj ${bj}%`);
    assert.ok(Math.abs(sg - 400 / 7) <= 4, `sg ${sg}%`);
    assert.deepEqual(await answers(), got, 'the same /24 gets the same datacenter again');
    // dig: scope /24 for a split region (the answer depends on the block), failover TTL.
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${BLOCKS[0]}/24`]);
    assert.equal(r.ecs?.scope, 24);
    assert.equal(r.answer[0][1], '30');
    // _explain: the split now, and this block's datacenter is the one dig got.
    const ex = await dig(s.port, ['TXT', `_explain.www.example.com`, `+subnet=${BLOCKS[0]}/24`]);
    assert.match(ex.raw, /spill south now: bj 43%, sg 57% \(by client block\)/);
    assert.match(ex.raw, new RegExp(`chosen ${r.answer[0][4] === BJ ? 'bj' : 'sg'}`));
  } finally {
    await setUp('gz', true);
  }
  await until('every south /24 back on gz', async () => ((await answers()).every((a) => a === GZ) ? true : null));
});

test('a drained gz spreads the same way; undrained, everything returns', async () => {
  await s.store.setDrain({ dc: 'gz', service: 'www.example.com', forMs: 600_000, reason: 'test', by: 'test' });
  try {
    const got = await until('south moved off gz', async () => {
      const a = await answers();
      return a.includes(GZ) ? null : a;
    });
    assert.ok(Math.abs(share(got, BJ) - 300 / 7) <= 4 && Math.abs(share(got, SG) - 400 / 7) <= 4, `bj ${share(got, BJ)}% sg ${share(got, SG)}%`);
  } finally {
    await s.store.clearDrain('www.example.com', 'gz');
  }
  await until('every south /24 back on gz', async () => ((await answers()).every((a) => a === GZ) ? true : null));
});

test('the whole fleet short (gz and bj down): south and north all go to sg, the first live datacenter of their lists', async () => {
  await setUp('gz', false);
  await setUp('bj', false);
  try {
    await until('south on sg', async () => ((await answers()).every((a) => a === SG) ? true : null));
  } finally {
    await setUp('gz', true);
    await setUp('bj', true);
  }
  await until('every south /24 back on gz', async () => ((await answers()).every((a) => a === GZ) ? true : null));
});
