import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commonPrefixLength, parseCidr, type Cidr } from '../../src/common/ip';
import { parseMapText, type MapConfig } from '../../src/config';
import { GeoClassifier, GeoDatabase } from '../../src/geo';
import { countMovingSlash24, diffMaps, type Locator } from '../../src/routing/diff';

// Tests run from dist/test/routing/: the repository root is three levels up.
const SAMPLE_PATH = join(__dirname, '../../../geodata/map.yaml');
const SAMPLE = readFileSync(SAMPLE_PATH, 'utf8');

function edit(find: string, replace: string, text = SAMPLE): string {
  const at = text.indexOf(find);
  assert.ok(at >= 0 && text.indexOf(find, at + 1) < 0, `edit target must occur exactly once: ${JSON.stringify(find)}`);
  return text.slice(0, at) + replace + text.slice(at + find.length);
}

const load = (text: string): MapConfig => parseMapText(text, SAMPLE_PATH);
const sample = load(SAMPLE);

/** The sample map with Hubei moved from south to north. */
const HB_TO_NORTH = edit('    countries: [CN]', '    subdivisions: [CN-HB]\n    countries: [CN]', edit('CN-CQ, CN-HB, CN-ZJ', 'CN-CQ, CN-ZJ'));

const DB_SERVICE = `
  db.example.com:
    policy: primary
    primary: bj
    datacenters:
      gz: { a: [192.0.2.20] }
      bj: { a: [198.51.100.20] }
      sg: { a: [203.0.113.20] }
`;

test('diffMaps: an identical map changes nothing', () => {
  const d = diffMaps(sample, load(SAMPLE));
  assert.equal(d.changed, false);
  assert.deepEqual(d.rules, []);
  assert.ok(d.regions.every((r) => r.change === 'same'));
  assert.ok(d.services.every((s) => s.change === 'same' && s.fields.length === 0 && s.regions.length === 0));
  assert.deepEqual(d.datacenters, { added: [], removed: [] });
  assert.equal(d.geoip.same, true);
});

test('diffMaps: a region list reordered behind its first choice is a failover-order change, not a move', () => {
  const d = diffMaps(sample, load(edit('datacenters: [bj, gz, sg]', 'datacenters: [bj, sg, gz]')));
  assert.equal(d.changed, true);
  const north = d.regions.find((r) => r.region === 'north');
  assert.deepEqual(north, { region: 'north', change: 'changed', old: ['bj', 'gz', 'sg'], new: ['bj', 'sg', 'gz'] });
  assert.equal(d.regions.filter((r) => r.change !== 'same').length, 1);
  const www = d.services.find((s) => s.service === 'www.example.com');
  assert.ok(www);
  assert.equal(www.change, 'changed');
  assert.deepEqual(www.fields, []);
  assert.deepEqual(www.regions, [{ region: 'north', old: ['bj', 'gz', 'sg'], new: ['bj', 'sg', 'gz'], oldDc: 'bj', newDc: 'bj', moved: false }]);
});

test('diffMaps: a new first choice moves the region', () => {
  const d = diffMaps(sample, load(edit('datacenters: [bj, gz, sg]', 'datacenters: [gz, bj, sg]')));
  const www = d.services.find((s) => s.service === 'www.example.com');
  assert.deepEqual(www?.regions, [{ region: 'north', old: ['bj', 'gz', 'sg'], new: ['gz', 'bj', 'sg'], oldDc: 'bj', newDc: 'gz', moved: true }]);
});

test('diffMaps: a region added with a CIDR rule', () => {
  const text = edit('  overseas:\n', '  office:\n    cidrs: [10.0.0.0/8]\n    datacenters: [sg, bj]\n  overseas:\n');
  const d = diffMaps(sample, load(text));
  assert.deepEqual(
    d.regions.map((r) => [r.region, r.change]),
    [['south', 'same'], ['north', 'same'], ['office', 'added'], ['overseas', 'same']],
  );
  assert.deepEqual(d.regions.find((r) => r.region === 'office'), { region: 'office', change: 'added', old: null, new: ['sg', 'bj'] });
  assert.deepEqual(d.rules, [{ rule: 'cidr 10.0.0.0/8', old: null, new: 'office' }]);
  const www = d.services.find((s) => s.service === 'www.example.com');
  assert.deepEqual(www?.regions, [{ region: 'office', old: null, new: ['sg', 'bj'], oldDc: null, newDc: 'sg', moved: false }]);

  // And the other way round: the region is removed.
  const back = diffMaps(load(text), sample);
  assert.equal(back.regions.find((r) => r.region === 'office')?.change, 'removed');
  assert.deepEqual(back.rules, [{ rule: 'cidr 10.0.0.0/8', old: 'office', new: null }]);
});

test('diffMaps: a datacenter removed from a service moves the regions that went there first', () => {
  const d = diffMaps(sample, load(edit('      sg: { a: [203.0.113.10], aaaa: ["2001:db8:30::10"] }\n', '')));
  assert.deepEqual(d.datacenters, { added: [], removed: [] }, 'the datacenter itself still exists');
  const www = d.services.find((s) => s.service === 'www.example.com');
  assert.ok(www);
  assert.deepEqual(www.fields, [{ field: 'datacenters', old: 'gz bj sg', new: 'gz bj' }]);
  assert.deepEqual(
    www.regions.map((r) => [r.region, r.oldDc, r.newDc, r.moved]),
    [
      ['south', 'gz', 'gz', false],
      ['north', 'bj', 'bj', false],
      ['overseas', 'sg', 'gz', true],
    ],
  );
});

test('diffMaps: settings and addresses that changed', () => {
  const text = edit('ttl: 60s', 'ttl: 30s', edit('a: [192.0.2.10]', 'a: [192.0.2.11]'));
  const www = diffMaps(sample, load(text)).services.find((s) => s.service === 'www.example.com');
  assert.deepEqual(www?.fields, [
    { field: 'ttl', old: '60s', new: '30s' },
    { field: 'addresses gz', old: '192.0.2.10 2001:db8:10::10', new: '192.0.2.11 2001:db8:10::10' },
  ]);
  assert.deepEqual(www?.regions, []);
});

test('diffMaps: services added and removed; a primary change moves every region', () => {
  const withDb = load(SAMPLE + DB_SERVICE);
  const added = diffMaps(sample, withDb);
  assert.deepEqual(added.services.map((s) => [s.service, s.change]), [['www.example.com', 'same'], ['db.example.com', 'added']]);
  const removed = diffMaps(withDb, sample);
  assert.deepEqual(removed.services.map((s) => [s.service, s.change]), [['www.example.com', 'same'], ['db.example.com', 'removed']]);

  const d = diffMaps(withDb, load(SAMPLE + DB_SERVICE.replace('primary: bj', 'primary: gz')));
  const db = d.services.find((s) => s.service === 'db.example.com');
  assert.ok(db);
  assert.deepEqual(db.fields, [
    { field: 'primary', old: 'bj', new: 'gz' },
    // Default standbys: the service's other datacenters in map order.
    { field: 'standbys', old: 'gz > sg', new: 'bj > sg' },
  ]);
  assert.deepEqual(
    db.regions.map((r) => [r.region, r.oldDc, r.newDc, r.moved]),
    [
      ['south', 'bj', 'gz', true],
      ['north', 'bj', 'gz', true],
      ['overseas', 'bj', 'gz', true],
    ],
  );
});

/** A stand-in classifier: non-overlapping CIDRs with their regions, `rest` everywhere else, exact scopes. */
function stubLocator(rules: Array<[string, number]>, rest: number): Locator {
  const nets = rules.map(([text, region]) => ({ c: parseCidr(text) as Cidr, region }));
  return {
    locate(addr: Uint8Array): number {
      let scope = 0;
      let region = rest;
      for (const { c, region: r } of nets) {
        const cpl = commonPrefixLength(c.bytes, addr);
        if (cpl >= c.prefix) {
          region = r;
          scope = Math.max(scope, c.prefix);
        } else scope = Math.max(scope, cpl + 1);
      }
      return region * 256 + scope;
    },
  };
}

test('countMovingSlash24: exact block walk, a /24 split by a /25 counts half', () => {
  const [SOUTH, NORTH, OVERSEAS] = ['south', 'north', 'overseas'].map((n) => sample.regions.findIndex((r) => r.name === n));
  const old = stubLocator([], OVERSEAS);
  const neu = stubLocator([['10.0.0.0/8', SOUTH], ['1.2.3.0/25', NORTH]], OVERSEAS);
  const m = countMovingSlash24(sample, old, sample, neu);
  assert.equal(m.totalSlash24, 2 ** 24);
  assert.equal(m.regionSlash24, 65536.5);
  assert.deepEqual(m.regionPairs, [
    { from: 'overseas', to: 'south', slash24: 65536 },
    { from: 'overseas', to: 'north', slash24: 0.5 },
  ]);
  assert.equal(m.services.length, 1);
  const www = m.services[0];
  assert.equal(www.service, 'www.example.com');
  assert.equal(www.slash24, 65536.5);
  assert.equal(www.fraction, 65536.5 / 2 ** 24);
  assert.deepEqual(www.pairs, [
    { from: 'sg', to: 'gz', slash24: 65536 },
    { from: 'sg', to: 'bj', slash24: 0.5 },
  ]);
  assert.deepEqual(m.notCompared, []);
  // Blocks: the walk visits each uniform block once, not 2^24 /24s.
  assert.ok(m.blocks < 100, `blocks ${m.blocks}`);
});

test('countMovingSlash24: services only in one map are not compared', () => {
  const loc = stubLocator([], 0);
  const m = countMovingSlash24(sample, loc, load(SAMPLE + DB_SERVICE), loc);
  assert.deepEqual(m.services.map((s) => [s.service, s.slash24]), [['www.example.com', 0]]);
  assert.deepEqual(m.notCompared, ['db.example.com']);
});

test('countMovingSlash24 on the sample map with Hubei moved to north: only gz -> bj moves; agrees with sampling each /24', () => {
  const db = GeoDatabase.open(GeoDatabase.geoLite2Path());
  const oldC = new GeoClassifier(db, sample.rules, { cacheSize: 0 });
  const hb = load(HB_TO_NORTH);
  const newC = new GeoClassifier(db, hb.rules, { cacheSize: 0 });

  const same = countMovingSlash24(sample, oldC, load(SAMPLE), oldC);
  assert.equal(same.regionSlash24, 0);
  assert.deepEqual(same.services.map((s) => [s.service, s.slash24, s.pairs]), [['www.example.com', 0, []]]);

  const t0 = performance.now();
  const m = countMovingSlash24(sample, oldC, hb, newC);
  const ms = performance.now() - t0;
  assert.ok(ms < 30_000, `walk took ${ms} ms`);
  const www = m.services.find((s) => s.service === 'www.example.com');
  assert.ok(www);
  assert.ok(www.slash24 > 1000, `moving ${www.slash24}`);
  assert.equal(www.pairs.length, 1);
  assert.equal(www.pairs[0].from, 'gz');
  assert.equal(www.pairs[0].to, 'bj');
  assert.deepEqual(m.regionPairs.map((p) => [p.from, p.to]), [['south', 'north']]);
  assert.equal(m.regionSlash24, www.slash24);

  // Cross-check against the naive count: sample the .0 address of every /24. Only /24s split by networks
  // smaller than /24 can differ, so the two agree closely.
  const buf = new Uint8Array(4);
  let sampled = 0;
  for (let i = 0; i < 2 ** 24; i++) {
    buf[0] = i >>> 16;
    buf[1] = (i >>> 8) & 255;
    buf[2] = i & 255;
    if (oldC.locate(buf) >> 8 !== newC.locate(buf) >> 8) sampled++;
  }
  assert.ok(Math.abs(sampled - www.slash24) <= www.slash24 * 0.01, `exact ${www.slash24} vs sampled ${sampled}`);
});
