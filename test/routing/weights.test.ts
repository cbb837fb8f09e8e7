import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { formatIp, parseIp } from '../../src/common/ip';
import { ConfigError } from '../../src/common/errors';
import { parseMapText, type MapConfig } from '../../src/config';
import { DnsServer } from '../../src/dns';
import { GeoClassifier, GeoDatabase } from '../../src/geo';
import { HealthMirror, MemoryStore } from '../../src/health';
import { explain, explanationLines, Router } from '../../src/routing';
import { blockBucket, BUCKETS, buildWeightPlan, drawOrders, updatePicks } from '../../src/routing/weights';
import { buildQuery, ecsOption } from '../helpers/packet';
import { DEFAULT_MAP } from '../helpers/server';
import { prng } from '../helpers/random';

// The weighted draw (routing/weights.ts): per-bucket orders drawn by weight,
// the client-block hash, the plan's picks under per-address health, and the
// ECS scope property of weighted answers through the real query path.

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8').trimEnd();
const WEIGHTED = `${SAMPLE}
  w.example.com:
    answers: weighted 1
    datacenters:
      gz: { a: [{ addr: 192.0.2.21, weight: 3 }, 192.0.2.22], aaaa: ["2001:db8:10::21", "2001:db8:10::22"] }
      bj: { a: [198.51.100.21, 198.51.100.22] }
      sg: { a: [{ addr: 203.0.113.21, weight: 1 }, { addr: 203.0.113.22, weight: 2 }, { addr: 203.0.113.23, weight: 1 }] }
  w2.example.com:
    answers: weighted 2
    datacenters:
      gz: { a: [192.0.2.31, 192.0.2.32, 192.0.2.33, { addr: 192.0.2.34, weight: 4 }] }
      bj: { a: [198.51.100.31] }
      sg: { a: [203.0.113.31] }
`;


describe('drawOrders', () => {
  const weights = [3, 1, 2, 1];
  const order = drawOrders('seed', weights);
  const k = weights.length;

  test('every bucket holds an order of all the addresses', () => {
    for (let b = 0; b < BUCKETS; b++) {
      assert.deepEqual([...order.subarray(b * k, b * k + k)].sort(), [0, 1, 2, 3], `bucket ${b}`);
    }
  });

  test('first picks follow the weights to within one bucket (stratified, not 256 coin flips)', () => {
    const first = [0, 0, 0, 0];
    for (let b = 0; b < BUCKETS; b++) first[order[b * k]]++;
    weights.forEach((w, i) => assert.ok(Math.abs(first[i] - (BUCKETS * w) / 7) <= 1, `address ${i}: ${first[i]} buckets, want ${(BUCKETS * w) / 7}`));
  });

  test('with one address dead, the first live address follows the remaining weights (1:2:1)', () => {
    const first = [0, 0, 0, 0];
    for (let b = 0; b < BUCKETS; b++) {
      for (let j = 0; j < k; j++) {
        const i = order[b * k + j];
        if (i !== 0) {
          first[i]++;
          break;
        }
      }
    }
    assert.equal(first[0], 0);
    [1, 2, 1].forEach((w, x) => assert.ok(Math.abs(first[x + 1] - (BUCKETS * w) / 4) <= 4, `address ${x + 1}: ${first[x + 1]} buckets, want ${(BUCKETS * w) / 4}`));
  });

  test('the same seed gives the same orders; another seed others', () => {
    assert.deepEqual(drawOrders('seed', weights), order);
    assert.notDeepEqual(drawOrders('other', weights), order);
  });
});

describe('blockBucket', () => {
  const ip = (s: string): Uint8Array => parseIp(s) as Uint8Array;

  test('every address of one /24 (and its IPv4-mapped form) lands in the same bucket', () => {
    const b = blockBucket(ip('183.6.7.0'));
    for (const last of [1, 99, 255]) assert.equal(blockBucket(ip(`183.6.7.${last}`)), b);
    assert.equal(blockBucket(ip('::ffff:183.6.7.42')), b);
  });

  test('every address of one IPv6 /56 lands in the same bucket', () => {
    const b = blockBucket(ip('2001:db8:1:200::'));
    assert.equal(blockBucket(ip('2001:db8:1:2ff:ffff::1')), b);
  });

  test('20000 random /24s spread over the buckets evenly (each within 40% of the mean)', () => {
    const next = prng(1);
    const count = new Array<number>(BUCKETS).fill(0);
    for (let i = 0; i < 20000; i++) {
      const x = next();
      count[blockBucket(new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, 0]))]++;
    }
    const mean = 20000 / BUCKETS;
    for (const c of count) assert.ok(Math.abs(c - mean) < 0.4 * mean, `a bucket has ${c}, mean ${mean}`);
  });
});

describe('buildWeightPlan and updatePicks', () => {
  const perAddress = WEIGHTED.replace(
    '    answers: weighted 2\n',
    '    answers: weighted 2\n    check: { type: tcp, port: 80, per_address: true }\n',
  );
  const load = (text: string): MapConfig => parseMapText(text, 'map.yaml');

  test('answers: all (the sample service) has no plan; weighted services have one per family with addresses over N', () => {
    const map = load(WEIGHTED);
    const ndc = map.datacenters.length;
    assert.equal(buildWeightPlan(map.services[0], 'a', ndc), null);
    const w = buildWeightPlan(map.services[1], 'a', ndc);
    assert.ok(w);
    assert.deepEqual(w.draws.map((d) => d?.addresses.length ?? 0), [2, 2, 3]);
    assert.ok(buildWeightPlan(map.services[1], 'aaaa', ndc), 'gz has two IPv6 addresses');
    // w2: only gz (4 addresses, 2 per answer) draws; bj and sg answer their one address.
    const w2 = buildWeightPlan(map.services[2], 'a', ndc);
    assert.deepEqual(w2?.draws.map((d) => d !== null), [true, false, false]);
  });

  test('per-address health: a dead address leaves every set, and a set without it keeps its exact answer', () => {
    const map = load(perAddress);
    const ndc = map.datacenters.length;
    const plan = buildWeightPlan(map.services[2], 'a', ndc);
    assert.ok(plan);
    assert.equal(plan.subsets.length, 4 + 6, 'every set of 1 or 2 of 4 addresses is prebuilt');
    const gz = 0;
    const before = plan.pick.slice(gz * BUCKETS, gz * BUCKETS + BUCKETS);
    const members = (pick: number): readonly number[] => plan.subsets[pick - plan.base].members;
    // 192.0.2.34 (index 3, weight 4 of 7) dies.
    assert.ok(updatePicks(plan, ndc, (dc, i) => !(dc === gz && i === 3)));
    let kept = 0;
    for (let b = 0; b < BUCKETS; b++) {
      const now = members(plan.pick[gz * BUCKETS + b]);
      assert.ok(!now.includes(3), `bucket ${b} still answers the dead address`);
      assert.equal(now.length, 2);
      if (!members(before[b]).includes(3)) {
        assert.deepEqual(now, members(before[b]), `bucket ${b} moved though its set held no dead address`);
        kept++;
      }
    }
    assert.ok(kept > 0);
    // Every address dead: the datacenter's draw as if all were up (the datacenter verdict decides failover).
    updatePicks(plan, ndc, () => false);
    const all = updatePicks(plan, ndc, () => true);
    assert.equal(all, false, 'all dead answers what all up answers');
    assert.deepEqual(plan.pick.slice(gz * BUCKETS, gz * BUCKETS + BUCKETS), before);
  });
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
  const cases: Array<[string, string, string, string]> = [
    ['answers other than all / weighted N', 'answers: weighted 1', 'answers: some', 'answers must be "all" or "weighted N"'],
    ['weighted 0', 'answers: weighted 1', 'answers: weighted 0', 'answers must be "all" or "weighted N"'],
    ['weights without weighted answers', 'answers: weighted 1\n', 'answers: all\n', 'weights are only read by "answers: weighted N"'],
    ['weight out of range', 'weight: 3 }', 'weight: 0 }', 'out of range 1..1000'],
    ['an entry without addr', '{ addr: 192.0.2.21, weight: 3 }', '{ weight: 3 }', 'missing: { addr: ADDRESS, weight: N }'],
    ['per_address with targets', 'answers: weighted 2\n', 'answers: weighted 2\n    check: { type: tcp, port: 80, per_address: true, targets: { gz: 10.0.0.1 } }\n', 'cannot be combined with targets'],
  ];
  for (const [name, from, to, message] of cases) {
    test(`rejected: ${name}`, () => {
      const got = issues(WEIGHTED.replace(from, to));
      assert.ok(got.some((g) => g.includes(message)), `want "${message}", got ${JSON.stringify(got)}`);
    });
  }
  test('per-address health with too many address sets to prebuild', () => {
    const many = Array.from({ length: 40 }, (_, i) => `192.0.2.${100 + i}`).join(', ');
    const text = WEIGHTED.replace('gz: { a: [192.0.2.31, 192.0.2.32, 192.0.2.33, { addr: 192.0.2.34, weight: 4 }] }', `gz: { a: [${many}] }`).replace(
      '    answers: weighted 2\n',
      '    answers: weighted 3\n    check: { type: tcp, port: 80, per_address: true }\n',
    );
    assert.ok(issues(text).some((g) => g.includes('at most 4096')), JSON.stringify(issues(text)));
  });
});

/** The A addresses (sorted) and the ECS scope of a reply. */
function readReply(buf: Buffer): { addrs: string[]; scope: number | null } {
  let off = 12;
  const skipName = (): void => {
    while (buf[off] !== 0) {
      if ((buf[off] & 0xc0) === 0xc0) {
        off += 2;
        return;
      }
      off += buf[off] + 1;
    }
    off++;
  };
  const qd = buf.readUInt16BE(4);
  const rrs = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  for (let i = 0; i < qd; i++) {
    skipName();
    off += 4;
  }
  const addrs: string[] = [];
  let scope: number | null = null;
  for (let i = 0; i < rrs; i++) {
    skipName();
    const type = buf.readUInt16BE(off);
    const len = buf.readUInt16BE(off + 8);
    const data = buf.subarray(off + 10, off + 10 + len);
    if (type === 1) addrs.push(formatIp(new Uint8Array(data)));
    if (type === 41) {
      for (let o = 0; o + 4 <= data.length; ) {
        const code = data.readUInt16BE(o);
        const l = data.readUInt16BE(o + 2);
        if (code === 8) scope = data[o + 4 + 3];
        o += 4 + l;
      }
    }
    off += 10 + len;
  }
  return { addrs: addrs.sort(), scope };
}

describe('weighted answers through the query path', () => {
  let mirror: HealthMirror;
  let router: Router;
  let dns: DnsServer;
  before(async () => {
    const map = parseMapText(WEIGHTED, DEFAULT_MAP);
    mirror = new HealthMirror(new MemoryStore());
    await mirror.start();
    router = new Router(map, new GeoClassifier(GeoDatabase.open(GeoDatabase.defaultPaths()), map.rules), mirror);
    dns = new DnsServer(router);
  });
  after(() => {
    router.detach();
    mirror.stop();
  });
  const ask = (name: string, address: string, source: number): { addrs: string[]; scope: number | null } => {
    const reply = dns.handle(buildQuery({ name, edns: { options: [ecsOption(address, source)] } }), '127.0.0.1', false);
    assert.ok(reply);
    return readReply(reply);
  };
  /** A random IPv4 address inside addr/bits. */
  const inside = (addr: string, bits: number, next: () => number): string => {
    const a = (parseIp(addr) as Uint8Array).slice();
    const r = next();
    for (let i = 0; i < 4; i++) {
      const keep = Math.max(0, Math.min(8, bits - i * 8));
      const mask = keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
      a[i] = (a[i] & mask) | ((r >>> (i * 8)) & ~mask & 0xff);
    }
    return formatIp(a);
  };
  const truncate = (addr: string, bits: number): string => inside(addr, bits, () => 0);

  test('property: 2000 random /24 queries: every /24 inside the returned scope gets the same answer', () => {
    const next = prng(20261207);
    for (let i = 0; i < 2000; i++) {
      const x = next();
      const addr = `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.0`;
      const got = ask('w.example.com', addr, 24);
      assert.ok(got.scope !== null && got.scope >= 24 && got.scope <= 24, `${addr}/24: scope ${got.scope} (weighted: never wider than the /24 drawn for)`);
      for (let j = 0; j < 3; j++) {
        const other = truncate(inside(addr, got.scope, next), 24);
        assert.deepEqual(ask('w.example.com', other, 24).addrs, got.addrs, `${other} inside ${addr}/${got.scope}`);
      }
    }
  });

  test('property: random source prefixes /8../32: the scope is capped by the source and every address inside it gets the same answer', () => {
    const next = prng(99);
    for (let i = 0; i < 1000; i++) {
      const x = next();
      const source = 8 + (next() % 25);
      const addr = truncate(`${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`, source);
      const got = ask('w.example.com', addr, source);
      assert.ok(got.scope !== null && got.scope <= source && got.scope >= Math.min(24, source), `${addr}/${source}: scope ${got.scope}`);
      const other = truncate(inside(addr, got.scope, next), source);
      assert.deepEqual(ask('w.example.com', other, source).addrs, got.addrs, `${other}/${source} inside ${addr}/${got.scope}`);
    }
  });

  test('the answer-all service keeps its region scope (not narrowed to /24)', () => {
    const got = ask('www.example.com', '183.6.0.0', 24);
    assert.equal(got.scope, 11);
    assert.deepEqual(got.addrs, ['192.0.2.10']);
  });

  test('explain names the weights and the addresses this block gets', () => {
    const lines = explanationLines(explain(router, mirror, 'w.example.com', parseIp('183.6.0.0') as Uint8Array, 24));
    const w = lines.find((l) => l.startsWith('weights '));
    assert.ok(w, lines.join('\n'));
    assert.match(w, /192\.0\.2\.21=3/);
    assert.match(w, /192\.0\.2\.22=1/);
    const drawn = ask('w.example.com', '183.6.0.0', 24).addrs[0];
    assert.ok(w.includes(`${drawn}=${drawn === '192.0.2.21' ? 3 : 1}*`), `${w} marks ${drawn}`);
    assert.ok(lines.some((l) => l.startsWith('weighted 1 of 2 by block 183.6.0.0/24')), lines.join('\n'));
  });
});
