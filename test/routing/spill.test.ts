import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { parseMapText, type MapConfig } from '../../src/config';
import { capacityLines } from '../../src/cli/check';
import { bucketCounts, planSpill } from '../../src/routing/spill';
import { BUCKETS } from '../../src/routing/weights';

// The spill plan (routing/spill.ts): spare capacity splits, shortage in list order, bucket counts.

const MAP = (caps: [number, number, number], shares: [number, number, number]): string => `datacenters:
  gz: {}
  bj: {}
  sg: {}
regions:
  south:
    cidrs: [10.0.0.0/8]
    datacenters: [gz, bj, sg]
    share: ${shares[0]}
  north:
    cidrs: [172.16.0.0/12]
    datacenters: [bj, gz, sg]
    share: ${shares[1]}
  overseas:
    default: true
    datacenters: [sg, gz, bj]
    share: ${shares[2]}
zones:
  example.com:
    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      ns1 A 192.0.2.53
services:
  www.example.com:
    datacenters:
      gz: { a: [192.0.2.10], capacity: ${caps[0]} }
      bj: { a: [198.51.100.10], capacity: ${caps[1]} }
      sg: { a: [203.0.113.10], capacity: ${caps[2]} }
`;
const load = (text: string): MapConfig => parseMapText(text, 'map.yaml');
const GZ = 0;
const BJ = 1;
const SG = 2;

function plan(map: MapConfig, down: number[]): NonNullable<ReturnType<typeof planSpill>> {
  const svc = map.services[0];
  const p = planSpill(svc, svc.preference, map.regions.map((r) => r.share ?? 0), (dc) => !down.includes(dc));
  assert.ok(p);
  return p;
}

describe('planSpill', () => {
  test('healthy: each region loads its first choice; nothing is split', () => {
    const p = plan(load(MAP([60, 60, 60], [50, 30, 20])), []);
    assert.deepEqual(p.load, [50, 30, 20]);
    assert.ok(p.regions.every((r) => r === null));
    assert.equal(p.short, false);
  });

  test('gz down: south splits over bj and sg by spare capacity (30 : 40), nobody past capacity', () => {
    const p = plan(load(MAP([60, 60, 60], [50, 30, 20])), [GZ]);
    const south = p.regions[0];
    assert.ok(south);
    assert.deepEqual(south.map((x) => x.dc), [BJ, SG]);
    assert.ok(Math.abs(south[0].fraction - 3 / 7) < 1e-9 && Math.abs(south[1].fraction - 4 / 7) < 1e-9);
    assert.ok(p.load[BJ] <= 60 + 1e-9 && p.load[SG] <= 60 + 1e-9, JSON.stringify(p.load));
    assert.equal(p.short, false);
    assert.equal(p.regions[1], null, 'north keeps bj');
  });

  test('short: the spare of the list is filled, the rest goes to the first live datacenter, and the plan says so', () => {
    const p = plan(load(MAP([60, 40, 30], [50, 30, 20])), [GZ]);
    // spare bj 10, sg 10 < 50: bj 10 + 30 (the rest, first in list), sg 10.
    assert.equal(p.short, true);
    assert.deepEqual(p.regions[0]?.map((x) => [x.dc, Math.round(x.fraction * 100)]), [[BJ, 80], [SG, 20]]);
    assert.equal(p.load[SG], 30, 'sg is filled to its capacity, no further');
  });

  test('every datacenter of a list down: no split (the fallback answers)', () => {
    const p = plan(load(MAP([60, 60, 60], [50, 30, 20])), [GZ, BJ, SG]);
    assert.ok(p.regions.every((r) => r === null));
  });
});

test('bucketCounts: the fractions of 256 buckets, summing to 256', () => {
  for (const f of [[3 / 7, 4 / 7], [1], [0.2, 0.3, 0.5], [1 / 3, 1 / 3, 1 / 3]]) {
    const c = bucketCounts(f.map((fraction) => ({ fraction })));
    assert.equal(c.reduce((x, y) => x + y, 0), BUCKETS);
    c.forEach((n, i) => assert.ok(Math.abs(n - f[i] * BUCKETS) < 1, `${n} for ${f[i]}`));
  }
});

test('check prints the planned spill for each failure and the load for --simulate-down', () => {
  const map = load(MAP([60, 60, 60], [50, 30, 20]));
  const each = capacityLines(map, null).join('\n');
  assert.match(each, /healthy: gz 50\/60 \(83%\), bj 30\/60 \(50%\), sg 20\/60 \(33%\)/);
  assert.match(each, /if gz fails: south -> bj 43%, sg 57%/);
  const down = capacityLines(map, ['gz']).join('\n');
  assert.match(down, /load: gz 0\/60 \(0%\) down, bj 51\.4\/60 \(86%\), sg 48\.6\/60 \(81%\)/);
  assert.match(capacityLines(map, ['gz', 'bj']).join('\n'), /SHORT/);
});

describe('map errors', () => {
  const issues = (text: string): string[] => {
    try {
      parseMapText(text, 'map.yaml');
    } catch (e) {
      if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
      throw e;
    }
    return [];
  };
  const base = MAP([60, 60, 60], [50, 30, 20]);
  const cases: Array<[string, string, string, string]> = [
    ['capacity on some datacenters only', ', capacity: 60 }\n      sg', ' }\n      sg', 'capacity is given for some datacenters but not bj'],
    ['a region without share', '    share: 30\n', '', "capacity needs every region's expected share: regions.north"],
    ['a negative share', 'share: 30', 'share: -1', 'expected a number >= 0'],
    ['a capacity that is not a number', 'capacity: 60 }\n      bj', 'capacity: lots }\n      bj', 'expected a number >= 0'],
  ];
  for (const [name, from, to, message] of cases) {
    test(`rejected: ${name}`, () => {
      const text = base.replace(from, to);
      assert.notEqual(text, base);
      const got = issues(text);
      assert.ok(got.some((g) => g.includes(message)), `want "${message}", got ${JSON.stringify(got)}`);
    });
  }
});
