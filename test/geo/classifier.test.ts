import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GeoClassifier, GeoDatabase, type Classification, type RegionRules } from '../../src/geo';
import { cidrContains, formatIp, maskIp, parseCidr, parseIp, type Cidr } from '../../src/common/ip';
import { prng } from '../helpers/random';

const db = GeoDatabase.open(GeoDatabase.geoLite2Path());
// These tests are about classify(); the region trie behind locate() is tested in region-trie.test.ts.
const LAZY = { trie: 'lazy' } as const;

const REGIONS = ['overseas', 'north', 'south', 'eu', 'office', 'lab'];
const [OVERSEAS, NORTH, SOUTH, EU, OFFICE, LAB] = REGIONS.map((_, i) => i);

function ip(text: string): Uint8Array {
  const b = parseIp(text);
  assert.ok(b, `bad test address ${text}`);
  return b;
}

function cidr(text: string): Cidr {
  const c = parseCidr(text);
  assert.ok(typeof c !== 'string', `bad test cidr ${text}: ${String(c)}`);
  return c;
}

function rules(cidrs: [string, number][] = [], extra: Partial<RegionRules> = {}): RegionRules {
  return {
    regions: REGIONS,
    defaultRegion: OVERSEAS,
    countries: new Map([['CN', NORTH]]),
    subdivisions: new Map([['CN-GD', SOUTH]]),
    continents: new Map([['EU', EU]]),
    cidrs: cidrs.map(([c, region]) => ({ cidr: cidr(c), region })),
    ...extra,
  };
}

/** The fields that must hold across a scope block (match may differ, e.g. another GeoIP network inside an override). */
function verdict(c: Classification): { region: number; rule: string } {
  return { region: c.region, rule: c.rule };
}


function u32ToIp(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
}

function ipToU32(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

/** A random address inside addr/scope (IPv4). */
function randomInside(addr: Uint8Array, scope: number, next: () => number): Uint8Array {
  if (scope >= 32) return addr;
  const hostMask = scope === 0 ? 0xffffffff : (1 << (32 - scope)) - 1;
  return u32ToIp(((ipToU32(addr) & ~hostMask) | (next() & hostMask)) >>> 0);
}

test('each precedence level decides: cidr, subdivision, country, continent, default', () => {
  const gc = new GeoClassifier(db, rules([['113.108.1.0/24', OFFICE]]), LAZY);
  const cases: [string, number, string, number][] = [
    ['113.108.1.5', OFFICE, 'cidr 113.108.1.0/24', 24],
    ['183.6.0.1', SOUTH, 'subdivision CN-GD', 20],
    ['202.96.0.1', NORTH, 'country CN', 18],
    ['123.125.114.144', NORTH, 'country CN', 18],
    ['114.114.114.114', NORTH, 'country CN', 16],
    ['81.2.69.160', EU, 'continent EU', 22],
    ['2.16.0.1', EU, 'continent EU', 22],
    ['8.8.8.8', OVERSEAS, 'default', 17],
    ['4.2.2.2', OVERSEAS, 'default', 17],
  ];
  for (const [addr, region, rule, scope] of cases) {
    const c = gc.classify(ip(addr));
    assert.deepEqual({ region: c.region, rule: c.rule, scope: c.scope }, { region, rule, scope }, addr);
  }
  assert.deepEqual(gc.classify(ip('202.96.0.1')).match, { country: 'CN', subdivision: 'CN-BJ', continent: 'AS', network: '202.96.0.0/18' });
});

test('a country missing from the record falls back to registered_country', () => {
  const gc = new GeoClassifier(db, rules([], { countries: new Map([['JP', LAB]]) }), LAZY);
  assert.deepEqual(verdict(gc.classify(ip('160.25.18.120'))), { region: LAB, rule: 'country JP' });
});

test('an IPv4-mapped IPv6 address is classified as IPv4, with the scope in IPv4 bits', () => {
  const gc = new GeoClassifier(db, rules(), LAZY);
  const v4 = gc.classify(ip('113.108.0.1'));
  const mapped = gc.classify(ip('::ffff:113.108.0.1'));
  assert.equal(mapped.scope, 18);
  assert.equal(mapped.rule, 'subdivision CN-GD');
  assert.equal(mapped.match.network, '113.108.0.0/18');
  assert.equal(mapped, v4, 'mapped and plain IPv4 share one cache entry');
});

test('IPv6 addresses are classified with IPv6 scopes, and IPv6 overrides apply', () => {
  const gc = new GeoClassifier(db, rules([['2001:db8::/32', LAB], ['::ffff:10.0.0.0/104', OFFICE]]), LAZY);
  const google = gc.classify(ip('2001:4860:4860::8888'));
  assert.deepEqual({ ...verdict(google), scope: google.scope, country: google.match.country }, { region: OVERSEAS, rule: 'default', scope: 37, country: 'US' });
  const cn = gc.classify(ip('240e::1'));
  assert.deepEqual({ ...verdict(cn), scope: cn.scope }, { region: NORTH, rule: 'country CN', scope: 27 });
  const doc = gc.classify(ip('2001:db8::1'));
  assert.deepEqual({ ...verdict(doc), scope: doc.scope }, { region: LAB, rule: 'cidr 2001:db8::/32', scope: 32 });
  // An override written as mapped IPv6 is an IPv4 override.
  const ten = gc.classify(ip('10.1.2.3'));
  assert.deepEqual({ ...verdict(ten), scope: ten.scope }, { region: OFFICE, rule: 'cidr 10.0.0.0/8', scope: 8 });
});

test('loopback, private and link-local addresses get the default region with the empty block as scope', () => {
  const gc = new GeoClassifier(db, rules(), LAZY);
  const cases: [string, number][] = [
    ['127.0.0.1', 8],
    ['10.1.2.3', 8],
    ['192.168.1.1', 16],
    ['0.0.0.0', 8],
    ['::1', 104],
    ['fe80::1', 10],
  ];
  for (const [addr, scope] of cases) {
    const c = gc.classify(ip(addr));
    assert.deepEqual({ region: c.region, rule: c.rule, scope: c.scope, network: c.match.network }, { region: OVERSEAS, rule: 'default', scope, network: '' }, addr);
  }
});

test('an override /24 inside a GeoIP /18 narrows the scope of its neighbours so their block excludes it', () => {
  const override = cidr('113.108.1.0/24');
  const gc = new GeoClassifier(db, rules([['113.108.1.0/24', OFFICE]]), LAZY);
  for (const addr of ['113.108.0.1', '113.108.32.1', '113.108.63.255', '113.108.2.7']) {
    const c = gc.classify(ip(addr));
    assert.equal(c.rule, 'subdivision CN-GD', addr);
    assert.ok(c.scope > 18, `${addr}: scope ${c.scope} should be narrower than the /18`);
    assert.ok(!cidrContains({ bytes: maskIp(ip(addr), c.scope), prefix: c.scope }, override.bytes), `${addr}/${c.scope} must not contain the override`);
  }
  assert.equal(gc.classify(ip('113.108.0.1')).scope, 24);
  assert.equal(gc.classify(ip('113.108.32.1')).scope, 19);
  const inside = gc.classify(ip('113.108.1.200'));
  assert.deepEqual({ ...verdict(inside), scope: inside.scope }, { region: OFFICE, rule: 'cidr 113.108.1.0/24', scope: 24 });
  // The override decides for its whole /24 although the DB network is wider, and the match still reports the DB view.
  assert.equal(inside.match.network, '113.108.0.0/18');
});

test('nested overrides: the longest containing one decides and the scope excludes the nested ones', () => {
  const gc = new GeoClassifier(db, rules([['10.0.0.0/8', OFFICE], ['10.1.2.0/24', LAB], ['113.108.0.0/16', OFFICE], ['113.108.1.0/24', LAB]]), LAZY);
  const check = (addr: string, region: number, rule: string, scope: number): void => {
    const c = gc.classify(ip(addr));
    assert.deepEqual({ ...verdict(c), scope: c.scope }, { region, rule, scope }, addr);
  };
  check('10.1.2.3', LAB, 'cidr 10.1.2.0/24', 24);
  check('10.200.0.1', OFFICE, 'cidr 10.0.0.0/8', 9);
  check('10.0.0.1', OFFICE, 'cidr 10.0.0.0/8', 16);
  // The /16 override is shorter than the GeoIP /18 and still decides, for the whole /16 minus the nested /24.
  check('113.108.200.1', OFFICE, 'cidr 113.108.0.0/16', 17);
  check('113.108.0.1', OFFICE, 'cidr 113.108.0.0/16', 24);
  check('113.108.2.1', OFFICE, 'cidr 113.108.0.0/16', 23);
  check('113.108.1.1', LAB, 'cidr 113.108.1.0/24', 24);
});

function propertyCheck(gc: GeoClassifier, seed: number, count: number, addrs?: Uint8Array[]): void {
  const next = prng(seed);
  for (let i = 0; i < count; i++) {
    const addr = addrs ? addrs[i % addrs.length] : u32ToIp(next());
    const c = gc.classify(addr);
    assert.ok(c.scope >= 0 && c.scope <= 32);
    const lo = maskIp(addr, c.scope);
    const hi = u32ToIp((ipToU32(lo) | (c.scope === 0 ? 0xffffffff : c.scope >= 32 ? 0 : (1 << (32 - c.scope)) - 1)) >>> 0);
    for (const other of [randomInside(addr, c.scope, next), lo, hi]) {
      assert.deepEqual(verdict(gc.classify(other)), verdict(c), `${formatIp(addr)}/${c.scope} (${c.rule}) vs ${formatIp(other)}`);
    }
  }
}

test('property: every address inside addr/scope classifies like addr (2000 random IPv4, no overrides)', () => {
  propertyCheck(new GeoClassifier(db, rules(), LAZY), 1, 2000);
});

test('property: every address inside addr/scope classifies like addr (2000 random IPv4, with overrides)', () => {
  // Overrides of random lengths around random addresses, nested and overlapping GeoIP networks,
  // plus addresses drawn near them so the narrowing is exercised.
  const next = prng(2);
  const cidrs: [string, number][] = [['113.108.1.0/24', OFFICE], ['10.0.0.0/8', LAB], ['10.1.2.0/24', OFFICE]];
  const near: Uint8Array[] = [];
  for (let i = 0; i < 300; i++) {
    const base = u32ToIp(next());
    const prefix = 8 + (next() % 25);
    cidrs.push([`${formatIp(maskIp(base, prefix))}/${prefix}`, next() % REGIONS.length]);
    // Neighbours at a few distances, inside and outside the override.
    near.push(u32ToIp((ipToU32(base) ^ (1 << (next() % 32))) >>> 0), base);
  }
  const unique = [...new Map(cidrs.map((c) => [c[0], c])).values()];
  const gc = new GeoClassifier(db, rules(unique), LAZY);
  propertyCheck(gc, 3, 2000);
  propertyCheck(gc, 4, near.length, near);
});

test('cache: repeated classify returns the identical frozen object and results never change', () => {
  const gc = new GeoClassifier(db, rules([['113.108.1.0/24', OFFICE]]), LAZY);
  const a = gc.classify(ip('113.108.0.1'));
  const snapshot = structuredClone(a);
  assert.ok(Object.isFrozen(a));
  assert.ok(Object.isFrozen(a.match));
  assert.throws(() => {
    (a as { region: number }).region = 99;
  }, TypeError);
  for (let i = 0; i < 100; i++) assert.equal(gc.classify(ip('113.108.0.1')), a);
  gc.classify(ip('113.108.0.2'));
  gc.classify(ip('2001:4860:4860::8888'));
  assert.deepEqual(a, snapshot);
  assert.equal(gc.classify(ip('2001:4860:4860::8888')), gc.classify(ip('2001:4860:4860::8888')));
});

test('cache: a full cache is cleared and results stay correct; setDatabase clears it', () => {
  const gc = new GeoClassifier(db, rules(), { ...LAZY, cacheSize: 2 });
  const first = gc.classify(ip('113.108.0.1'));
  gc.classify(ip('202.96.0.1'));
  gc.classify(ip('8.8.8.8')); // clears the cache
  const again = gc.classify(ip('113.108.0.1'));
  assert.notEqual(again, first);
  assert.deepEqual(again, first);

  const other = GeoDatabase.open(GeoDatabase.geoLite2Path());
  gc.setDatabase(other);
  assert.equal(gc.database, other);
  const fresh = gc.classify(ip('113.108.0.1'));
  assert.notEqual(fresh, again);
  assert.deepEqual(fresh, again);

  const uncached = new GeoClassifier(db, rules(), { ...LAZY, cacheSize: 0 });
  assert.notEqual(uncached.classify(ip('8.8.8.8')), uncached.classify(ip('8.8.8.8')));
});

test('rules with region ids outside regions and addresses of a bad length are rejected', () => {
  assert.throws(() => new GeoClassifier(db, rules([], { defaultRegion: 17 }), LAZY), RangeError);
  assert.throws(() => new GeoClassifier(db, rules([['10.0.0.0/8', -1]]), LAZY), RangeError);
  const gc = new GeoClassifier(db, rules(), LAZY);
  assert.throws(() => gc.classify(new Uint8Array(5)), TypeError);
});
