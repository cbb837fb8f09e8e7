// The default GeoIP database: DB-IP Lite City, split into an IPv4 and an IPv6 file, flat ip-location-db records.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { GeoClassifier, GeoDatabase, packedRegion, packedScope, RegionTrie, staleReason } from '../../src/geo';
import { buildMatch } from '../../src/geo/database';
import { GeoDbError } from '../../src/common/errors';
import { formatIp, parseIp } from '../../src/common/ip';
import { loadMapFile } from '../../src/config';
import { prng, randomInside } from '../helpers/random';

const MAP = join(__dirname, '../../../geodata/map.yaml');
const rules = loadMapFile(MAP).rules;
const db = GeoDatabase.open(GeoDatabase.defaultPaths());
const trie = RegionTrie.build(db, rules);
const gc = new GeoClassifier(db, rules, { trie });

function ip(text: string): Uint8Array {
  const b = parseIp(text);
  assert.ok(b, `bad test address ${text}`);
  return b;
}



test('the default database is the two files of DB-IP Lite City, IPv4 answered by the IPv4 file', () => {
  assert.equal(db.paths.length, 2);
  assert.match(db.paths[0], /dbip-city-ipv4\.mmdb$/);
  assert.match(db.paths[1], /dbip-city-ipv6\.mmdb$/);
  assert.match(db.description, /^city ipv4 \+ city ipv6 built \d{4}-\d\d-\d\d$/);
  // Flat records carry province names; the table turns them into the ISO codes the map uses.
  assert.deepEqual({ ...db.lookup(ip('202.96.128.86')).match, network: '' }, { country: 'CN', subdivision: 'CN-GD', continent: 'AS', network: '' });
  assert.equal(db.lookup(ip('2400:3200::1')).match.subdivision, 'CN-ZJ');
  // IPv4-mapped goes to the IPv4 file, with the prefix in IPv6 bits.
  const mapped = db.lookup(ip('::ffff:202.96.128.86'));
  assert.equal(mapped.match.subdivision, 'CN-GD');
  assert.equal(mapped.prefix, db.lookup(ip('202.96.128.86')).prefix + 96);
});

test('sample map on well-known Chinese ISP resolvers: provinces decide, as the map intends', () => {
  const want: [string, string][] = [
    ['202.96.128.86', 'south'], // Guangdong Telecom
    ['61.139.2.69', 'south'], // Sichuan Telecom
    ['202.103.24.68', 'south'], // Hubei Telecom
    ['113.108.0.1', 'south'], // Guangdong Telecom block
    ['202.106.0.20', 'north'], // Beijing Unicom
    ['218.2.2.2', 'north'], // Jiangsu Telecom
    ['8.8.8.8', 'overseas'],
    ['240e:4c:4008::1', 'north'], // China Telecom IPv6 (Beijing)
  ];
  for (const [a, region] of want) {
    assert.equal(rules.regions[gc.classify(ip(a)).region], region, a);
    assert.equal(rules.regions[packedRegion(trie.locate(ip(a)))], region, `${a} (trie)`);
  }
});

test('property: the trie over both files agrees with classify, and every address inside a scope gets its region', () => {
  const next = prng(99);
  let checked = 0;
  for (let i = 0; i < 6000; i++) {
    let a: Uint8Array;
    if (i % 3 === 0) {
      const x = next();
      a = new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]);
    } else {
      // Half in 2400::/12 (APNIC, so China is common), half anywhere in 2000::/3.
      a = randomInside(i % 3 === 1 ? ip('2400::') : ip('2000::'), i % 3 === 1 ? 12 : 3, next);
    }
    const packed = trie.locate(a);
    const r = packedRegion(packed);
    const s = packedScope(packed);
    assert.equal(gc.classify(a).region, r, `${formatIp(a)}: trie ${rules.regions[r]}/${s}`);
    for (let k = 0; k < 2; k++) {
      const b = randomInside(a, s, next);
      assert.equal(gc.classify(b).region, r, `${formatIp(a)}/${s} is ${rules.regions[r]} but ${formatIp(b)} is not`);
      checked++;
    }
  }
  assert.equal(checked, 12000);
});

test('flat records: ZZ is no country, an unknown name is no subdivision, the continent comes from the country', () => {
  assert.deepEqual(buildMatch({ country_code: 'CN', state1: 'Inner Mongolia' }, 'n'), { country: 'CN', subdivision: 'CN-NM', continent: 'AS', network: 'n' });
  assert.deepEqual(buildMatch({ country_code: 'CN', state1: 'Atlantis' }, ''), { country: 'CN', subdivision: null, continent: 'AS', network: '' });
  assert.deepEqual(buildMatch({ country_code: 'ZZ', state1: 'x' }, ''), { country: null, subdivision: null, continent: null, network: '' });
  assert.deepEqual(buildMatch({ country_code: 'DE', state1: '' }, ''), { country: 'DE', subdivision: null, continent: 'EU', network: '' });
});

test('a split database must be one IPv4 and one IPv6 file', () => {
  const v4 = GeoDatabase.defaultPaths()[0];
  assert.throws(() => GeoDatabase.open([v4, v4]), (e: unknown) => e instanceof GeoDbError && /one IPv4 and one IPv6 file/.test(e.message));
  assert.throws(() => GeoDatabase.fromBuffers([]), GeoDbError);
  // A whole-database file with ipVersion 6 plus an IPv4 file is fine too (the IPv4 file answers IPv4).
  const both = GeoDatabase.fromBuffers([{ buf: readFileSync(GeoDatabase.geoLite2Path()), path: 'city' }, { buf: readFileSync(v4), path: 'v4' }]);
  assert.equal(both.lookup(ip('202.96.128.86')).match.subdivision, 'CN-GD');
});

test('staleReason: older than max_age says how old and what to do; younger is null', () => {
  const built = db.buildEpoch * 1000;
  assert.equal(staleReason(db, 90 * 86_400_000, built + 89 * 86_400_000), null);
  const why = staleReason(db, 90 * 86_400_000, built + 120 * 86_400_000);
  assert.ok(why);
  assert.match(why, /is 120 days old \(geoip\.max_age 90d\)/);
  assert.match(why, /Fresh GeoIP data/);
});
