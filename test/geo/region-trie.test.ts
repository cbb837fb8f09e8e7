import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { buildRegionTrieInWorker, GeoClassifier, GeoDatabase, packedRegion, packedScope, RegionTrie, type RegionRules } from '../../src/geo';
import { GeoDbError } from '../../src/common/errors';
import { formatIp, parseCidr, parseIp, type Cidr } from '../../src/common/ip';
import { loadMapFile } from '../../src/config';
import { prng, randomInside } from '../helpers/random';

const db = GeoDatabase.open(GeoDatabase.geoLite2Path());
const MAP = join(__dirname, '../../../geodata/map.yaml');

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

const base = loadMapFile(MAP).rules;
const region = (name: string): number => {
  const i = base.regions.indexOf(name);
  assert.ok(i >= 0, `sample map has no region ${name}`);
  return i;
};
const SOUTH = region('south');
const NORTH = region('north');
const OVERSEAS = region('overseas');
assert.equal(base.defaultRegion, OVERSEAS);

/** The sample map's rules plus overrides: one that changes the answer inside a GeoIP network, one that does not, IPv6 and mapped ones. */
const rules: RegionRules = {
  ...base,
  cidrs: [
    ...base.cidrs,
    { cidr: cidr('113.108.1.0/24'), region: OVERSEAS }, // inside the Guangdong 113.108.0.0/18
    { cidr: cidr('183.6.8.0/24'), region: SOUTH }, // Guangdong already: must not narrow anything
    { cidr: cidr('::ffff:10.0.0.0/104'), region: NORTH }, // written mapped, counts as 10.0.0.0/8
    { cidr: cidr('2400:da00::/32'), region: SOUTH },
    { cidr: cidr('240e:100::/24'), region: OVERSEAS },
  ],
};

const trie = RegionTrie.build(db, rules);
const gc = new GeoClassifier(db, rules, { trie });



function randomV4(next: () => number): Uint8Array {
  const x = next();
  return new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
}

/** A random IPv6 address, or one inside prefix/fixedBits. */
function randomV6(next: () => number, prefix?: Uint8Array, fixedBits = 0): Uint8Array {
  return randomInside(prefix ?? new Uint8Array(16), prefix ? fixedBits : 0, next);
}

/** locate(A) = (r, s): A classifies to r, and so do 3 random addresses of A/s. */
function checkProperty(addrs: Uint8Array[], next: () => number, t = trie, c0 = gc): Map<number, number> {
  const scopes = new Map<number, number>();
  for (const a of addrs) {
    const packed = t.locate(a);
    const r = packedRegion(packed);
    const s = packedScope(packed);
    assert.ok(s >= 0 && s <= a.length * 8, `${formatIp(a)}: scope ${s}`);
    assert.equal(r, c0.classify(a).region, `${formatIp(a)}: trie says ${rules.regions[r]}/${s}, classify ${JSON.stringify(c0.classify(a))}`);
    for (let k = 0; k < 3; k++) {
      const b = randomInside(a, s, next);
      const c = c0.classify(b);
      assert.equal(c.region, r, `${formatIp(a)}/${s} is ${rules.regions[r]} but ${formatIp(b)} classifies as ${rules.regions[c.region]} (${c.rule}, ${c.match.network})`);
    }
    scopes.set(s, (scopes.get(s) ?? 0) + 1);
  }
  return scopes;
}

test('property: 20000 random IPv4 addresses: every address inside the returned scope classifies to the returned region', () => {
  const next = prng(20240601);
  const addrs: Uint8Array[] = [];
  for (let i = 0; i < 20000; i++) addrs.push(randomV4(next));
  const scopes = checkProperty(addrs, next);
  // Merging makes most scopes far wider than a GeoIP network.
  const wide = [...scopes].filter(([s]) => s <= 16).reduce((n, [, c]) => n + c, 0);
  assert.ok(wide > 15000, `only ${wide} of 20000 scopes are /16 or wider`);
});

test('property: 2000 random IPv6 addresses (half in 2400::/12 and 240e::/20), same check in IPv6 bits', () => {
  const next = prng(7);
  const addrs: Uint8Array[] = [];
  const apnic = ip('2400::');
  const ct = ip('240e::');
  for (let i = 0; i < 2000; i++) {
    if (i % 4 === 0) addrs.push(randomV6(next));
    else if (i % 4 === 1) addrs.push(randomV6(next, ip('2000::'), 3)); // global unicast
    else if (i % 4 === 2) addrs.push(randomV6(next, apnic, 12));
    else addrs.push(randomV6(next, ct, 20));
  }
  assert.ok(addrs[2][0] === 0x24 && addrs[2][1] >> 4 === 0 && addrs[3][0] === 0x24 && addrs[3][1] === 0x0e, 'biased addresses land in their prefixes');
  const scopes = checkProperty(addrs, next);
  assert.ok([...scopes.keys()].some((s) => s > 32), 'some IPv6 scopes are long');
});

test('the Guangdong /24s get gdnsd-like merged scopes, far wider than their GeoIP networks', () => {
  const gd = trie.locate(ip('183.6.0.1'));
  assert.equal(packedRegion(gd), SOUTH);
  assert.equal(packedScope(gd), 11); // GeoIP network 183.6.0.0/20; gdnsd gives about /11 too
  const gd2 = trie.locate(ip('113.108.32.1'));
  assert.equal(packedRegion(gd2), SOUTH);
  const plain = RegionTrie.build(db, base);
  assert.equal(packedScope(plain.locate(ip('113.108.0.1'))), 13); // GeoIP network 113.108.0.0/18
  assert.equal(plain.locate(ip('183.6.0.1')), gd);
});

test('an override /24 inside a GeoIP /18 splits the tree: outside it narrower scopes that exclude it, inside /24', () => {
  // 113.108.1.0/24 -> overseas inside the Guangdong 113.108.0.0/18.
  const at = (a: string): [string, number] => {
    const p = trie.locate(ip(a));
    return [rules.regions[packedRegion(p)], packedScope(p)];
  };
  assert.deepEqual(at('113.108.1.200'), ['overseas', 24]);
  assert.deepEqual(at('113.108.0.1'), ['south', 24]); // sibling of the override: 113.108.0.0/24
  assert.deepEqual(at('113.108.2.1'), ['south', 23]); // 113.108.2.0/23
  assert.deepEqual(at('113.108.32.1'), ['south', 19]); // 113.108.32.0/19
  // An override that agrees with the GeoIP answer changes nothing: 183.6.8.0/24 still merges into the /11.
  assert.deepEqual(at('183.6.8.1'), ['south', 11]);
  // The override region decides even where GeoIP has no data, and merges with what is around.
  assert.deepEqual(at('10.1.2.3'), ['north', 8]);
});

test('property with 400 random overrides (nested, overlapping, both families): scopes split exactly around them', () => {
  const next = prng(31337);
  const cidrs: RegionRules['cidrs'] = [];
  const near: Uint8Array[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < 400; i++) {
    // IPv4 anywhere, or IPv6 inside 240e::/20 and 2400::/12 where the data is dense.
    const v6 = i % 4 === 3;
    const a = v6 ? randomV6(next, ip(i % 8 === 3 ? '240e::' : '2400::'), i % 8 === 3 ? 20 : 12) : randomV4(next);
    const prefix = v6 ? 20 + (next() % 45) : 8 + (next() % 25);
    const c = { bytes: randomInside(a, prefix, () => 0), prefix };
    const key = `${formatIp(c.bytes)}/${prefix}`;
    if (seen.has(key)) continue;
    seen.add(key);
    cidrs.push({ cidr: c, region: next() % base.regions.length });
    // Probes inside, at the edges and just outside.
    const flip = randomInside(a, a.length * 8, () => 0);
    const bit = next() % (prefix + 4);
    flip[bit >> 3] ^= 0x80 >> (bit & 7);
    near.push(a, flip);
  }
  const r2: RegionRules = { ...base, cidrs };
  const t = RegionTrie.build(db, r2);
  const c2 = new GeoClassifier(db, r2, { trie: t });
  checkProperty(near, next, t, c2);
  const rand: Uint8Array[] = [];
  for (let i = 0; i < 3000; i++) rand.push(i % 3 ? randomV4(next) : randomV6(next, ip('2400::'), 6));
  checkProperty(rand, next, t, c2);
});

test('IPv4-mapped input is located as IPv4 with IPv4 scopes; an IPv4-compatible ::a.b.c.d is IPv6', () => {
  for (const a of ['183.6.0.1', '113.108.1.7', '8.8.8.8', '10.9.8.7', '0.0.0.0', '255.255.255.255']) {
    assert.equal(trie.locate(ip(`::ffff:${a}`)), trie.locate(ip(a)), a);
  }
  // ::10.1.2.3 is not mapped: the IPv4 override does not apply there (as for classify), but the IPv4 data does.
  const compat = trie.locate(ip('::10.1.2.3'));
  assert.equal(packedRegion(compat), OVERSEAS);
  assert.equal(gc.classify(ip('::10.1.2.3')).region, OVERSEAS);
  assert.equal(packedRegion(trie.locate(ip('::183.6.0.1'))), SOUTH);
  assert.equal(packedScope(trie.locate(ip('::183.6.0.1'))), 96 + 11);
  // 6to4 of a Guangdong address follows the IPv4 data too (2002:b706::/32 = 183.6.0.0/16).
  assert.equal(packedRegion(trie.locate(ip('2002:b706:1::1'))), SOUTH);
});

test('addresses absent from the database get the default region, merged with the empty space around them', () => {
  for (const a of ['127.0.0.1', '192.168.1.1', '172.16.0.1', '224.0.0.1', '::1', 'fe80::1', 'ff02::1']) {
    const p = trie.locate(ip(a));
    const c = gc.classify(ip(a));
    assert.equal(c.match.network, '', `${a} is not in the database`);
    assert.equal(packedRegion(p), OVERSEAS, a);
    assert.ok(packedScope(p) <= c.scope, `${a}: merged scope /${packedScope(p)} is not narrower than the empty block /${c.scope}`);
  }
  assert.equal(packedScope(trie.locate(ip('240.0.0.1'))), 3); // 224.0.0.0/3: multicast + reserved, all empty
  assert.equal(packedScope(trie.locate(ip('fe80::1'))), 1); // 8000::/1 holds no data
  // IPv6 overrides decide in otherwise known space, and nested ones win.
  assert.equal(packedRegion(trie.locate(ip('2400:da00::1'))), SOUTH);
  assert.equal(packedRegion(trie.locate(ip('240e:100::1'))), OVERSEAS);
  assert.equal(packedRegion(trie.locate(ip('240e::1'))), NORTH);
});

test('GeoClassifier.locate uses the trie; setDatabase rebuilds it or takes a prebuilt one; bad input is rejected', () => {
  assert.equal(gc.regionTrie, trie);
  assert.equal(gc.locate(ip('183.6.0.1')), trie.locate(ip('183.6.0.1')));
  assert.ok(trie.nodeCount > 1000 && trie.nodeCount < 1_000_000, `nodeCount ${trie.nodeCount}`);
  assert.equal(trie.byteLength, trie.nodeCount * 8 + 2 * 65536 * 4); // nodes + the two jump tables
  assert.ok(trie.recordCount > 100_000);

  const other = new GeoClassifier(db, rules, { trie });
  other.setDatabase(db);
  assert.notEqual(other.regionTrie, trie);
  assert.equal(other.regionTrie.nodeCount, trie.nodeCount);
  assert.equal(other.locate(ip('113.108.0.1')), trie.locate(ip('113.108.0.1')));
  other.setDatabase(db, trie);
  assert.equal(other.regionTrie, trie);

  assert.throws(() => new GeoClassifier(db, { ...rules, regions: ['a', 'b', 'c', 'd'] }, { trie }), RangeError);

  // Lazy: nothing built until locate() (or regionTrie) needs it; setDatabase drops it again.
  const lazy = new GeoClassifier(db, base, { trie: 'lazy' });
  assert.equal(lazy.classify(ip('183.6.0.1')).region, SOUTH);
  assert.equal(lazy.locate(ip('183.6.0.1')), SOUTH * 256 + 11);
  const built = lazy.regionTrie;
  lazy.setDatabase(db);
  assert.notEqual(lazy.regionTrie, built);
  assert.throws(() => trie.locate(new Uint8Array(5)), TypeError);
  assert.throws(() => RegionTrie.build(db, { ...rules, defaultRegion: 9 }), RangeError);
});

test('the Country database builds a trie too (no subdivisions there, so Guangdong is north)', () => {
  const country = GeoDatabase.open(join(dirname(GeoDatabase.geoLite2Path()), 'GeoLite2-Country.mmdb'));
  const t = RegionTrie.build(country, base);
  const c = new GeoClassifier(country, base, { trie: t });
  assert.equal(packedRegion(t.locate(ip('183.6.0.1'))), NORTH);
  const next = prng(99);
  for (let i = 0; i < 2000; i++) {
    const a = randomV4(next);
    const p = t.locate(a);
    for (const b of [a, randomInside(a, packedScope(p), next)]) assert.equal(c.classify(b).region, packedRegion(p), `${formatIp(a)}/${packedScope(p)} vs ${formatIp(b)}`);
  }
});

test('buildRegionTrieInWorker builds the same trie off the main thread; a bad path rejects with GeoDbError', async () => {
  const t = await buildRegionTrieInWorker(db, rules);
  assert.equal(t.nodeCount, trie.nodeCount);
  const next = prng(5);
  for (let i = 0; i < 2000; i++) {
    const a = i % 2 ? randomV4(next) : randomV6(next, ip('2400::'), 8);
    assert.equal(t.locate(a), trie.locate(a), formatIp(a));
  }
  const byPath = await buildRegionTrieInWorker(GeoDatabase.geoLite2Path(), rules);
  assert.equal(byPath.locate(ip('183.6.0.1')), trie.locate(ip('183.6.0.1')));
  await assert.rejects(buildRegionTrieInWorker('/nonexistent/geosteer.mmdb', rules), (err: unknown) => err instanceof GeoDbError && /cannot read/.test(err.message));
});
