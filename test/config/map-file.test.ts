import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ConfigError, formatIssue, type ConfigIssue } from '../../src/common/errors';
import { loadMapFile, parseMapText, type MapConfig } from '../../src/config/map-file';

// Tests run from dist/test/config/, so the repository root is three levels up.
const ROOT = resolve(__dirname, '../../..');
const SAMPLE_PATH = join(ROOT, 'geodata/map.yaml');
const SAMPLE = readFileSync(SAMPLE_PATH, 'utf8');
const FIXTURES = join(ROOT, 'test/fixtures/maps');
/** Edited maps are parsed as if they lived in the fixtures folder, so `file: x.zone` finds the zone files there. */
const FILE = join(FIXTURES, 'edited-map.yaml');

// ---------------------------------------------------------------- helpers

/** Replaces the one occurrence of `find` (plain text, no `$` patterns) in `text`. */
function edit(find: string, replace: string, text = SAMPLE): string {
  const at = text.indexOf(find);
  assert.ok(at >= 0, `edit target not found: ${JSON.stringify(find)}`);
  assert.ok(text.indexOf(find, at + 1) < 0, `edit target is not unique: ${JSON.stringify(find)}`);
  return text.slice(0, at) + replace + text.slice(at + find.length);
}

/** Inserts `lines` (already indented) after the line that is exactly `after`. */
function insertAfter(after: string, lines: string, text = SAMPLE): string {
  return edit(after + '\n', after + '\n' + lines + '\n', text);
}

const LAST_RECORD = '      sip        A      192.0.2.26';
/** Adds zone-file lines at the end of the sample zone's `records: |` block. */
function addRecords(...lines: string[]): string {
  return insertAfter(LAST_RECORD, lines.map((l) => '      ' + l).join('\n'));
}

/** Offset of the `nth` occurrence of `needle`; without `nth` the needle must be unique. */
function offsetOf(text: string, needle: string, nth?: number): number {
  let at = -1;
  for (let i = 0; i < (nth ?? 1); i++) {
    at = text.indexOf(needle, at + 1);
    assert.ok(at >= 0, `needle #${i + 1} not found: ${JSON.stringify(needle)}`);
  }
  if (nth === undefined) assert.ok(text.indexOf(needle, at + 1) < 0, `needle is not unique: ${JSON.stringify(needle)}`);
  return at;
}

/** 1-based line and column of the first non-blank character of `needle` in `text`. */
function posOf(text: string, needle: string, nth?: number): { line: number; col: number } {
  const at = offsetOf(text, needle, nth) + (needle.length - needle.trimStart().length);
  const before = text.slice(0, at);
  return { line: before.split('\n').length, col: at - before.lastIndexOf('\n') };
}

function load(text: string, file = FILE): MapConfig {
  try {
    return parseMapText(text, file);
  } catch (e) {
    if (e instanceof ConfigError) assert.fail(`unexpected issues:\n${e.issues.map(formatIssue).join('\n')}`);
    throw e;
  }
}

function issuesOf(text: string, file = FILE): ConfigIssue[] {
  try {
    parseMapText(text, file);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('expected the map to be rejected');
}

interface BadCase {
  name: string;
  /** The sample map with one edit applied. */
  text: string;
  /** Text the issue must point at (its first non-blank character gives the line and, unless `col` is set, the column). */
  at: string;
  /** Which occurrence of `at` (default: the only one). */
  nth?: number;
  /** Expected column when it is not `at`'s (zone-level checks report column 1). */
  col?: number;
  /** Expected YAML path, when worth pinning. */
  path?: string;
  /** Substring of the message. */
  message: string;
}

/** One named test per case: the edit yields exactly one issue, at the right place, with a helpful message. */
function rejects(cases: BadCase[]): void {
  for (const c of cases) {
    test(c.name, () => {
      const issues = issuesOf(c.text);
      const shown = issues.map(formatIssue).join('\n');
      assert.equal(issues.length, 1, `exactly one issue expected, got:\n${shown}`);
      const [issue] = issues;
      const want = posOf(c.text, c.at, c.nth);
      assert.equal(issue.file, FILE, shown);
      assert.equal(issue.line, want.line, `line of ${JSON.stringify(c.at)}; got:\n${shown}`);
      assert.equal(issue.col, c.col ?? want.col, `column; got:\n${shown}`);
      assert.ok(issue.message.includes(c.message), `message should mention ${JSON.stringify(c.message)}; got:\n${shown}`);
      if (c.path !== undefined) assert.equal(issue.path, c.path);
    });
  }
}

const names = (map: MapConfig, idx: number[]): string[] => idx.map((i) => map.datacenters[i].name);

// ---------------------------------------------------------------- the sample map

describe('the sample map (geodata/map.yaml)', () => {
  const map = (() => {
    try {
      return loadMapFile(SAMPLE_PATH);
    } catch (e) {
      throw new Error(`sample map must load: ${(e as Error).message}`);
    }
  })();

  test('loads with its server id, bundled GeoIP database and a 12-hex version', () => {
    assert.equal(map.file, SAMPLE_PATH);
    assert.equal(map.serverId, 'ns1.example.com');
    assert.equal(map.geoDatabase, 'default');
    assert.match(map.version, /^[0-9a-f]{12}$/);
  });

  test('declares 3 datacenters', () => {
    assert.deepEqual(
      map.datacenters,
      [
        { name: 'gz', description: 'Guangzhou' },
        { name: 'bj', description: 'Beijing' },
        { name: 'sg', description: 'Singapore' },
      ],
    );
  });

  test('has regions south, north, overseas with their datacenter lists and rules', () => {
    assert.deepEqual(
      map.regions.map((r) => [r.name, names(map, r.datacenters)]),
      [
        ['south', ['gz', 'bj', 'sg']],
        ['north', ['bj', 'gz', 'sg']],
        ['overseas', ['sg', 'gz', 'bj']],
      ],
    );
    assert.deepEqual(map.rules.regions, ['south', 'north', 'overseas']);
    assert.equal(map.rules.defaultRegion, 2);
    assert.deepEqual([...map.rules.countries], [['CN', 1]]);
    assert.equal(map.rules.subdivisions.size, 13);
    for (const sd of ['CN-GD', 'CN-HB', 'CN-ZJ', 'CN-XZ']) assert.equal(map.rules.subdivisions.get(sd), 0, sd);
    assert.equal(map.rules.subdivisions.get('CN-SH'), undefined, 'Shanghai stays north');
    assert.equal(map.rules.continents.size, 0);
    assert.deepEqual(map.rules.cidrs, []);
  });

  test('serves www.example.com with a preference list per region', () => {
    assert.equal(map.services.length, 1);
    const [svc] = map.services;
    assert.equal(svc.name, 'www.example.com');
    assert.equal(map.zones[svc.zone].name, 'example.com');
    assert.equal(svc.ttl, 60);
    assert.equal(svc.fallback, 'first');
    assert.deepEqual(svc.addresses, [
      { a: ['192.0.2.10'], aaaa: ['2001:db8:10::10'], weight: { a: [1], aaaa: [1] }, capacity: null },
      { a: ['198.51.100.10'], aaaa: ['2001:db8:20::10'], weight: { a: [1], aaaa: [1] }, capacity: null },
      { a: ['203.0.113.10'], aaaa: ['2001:db8:30::10'], weight: { a: [1], aaaa: [1] }, capacity: null },
    ]);
    assert.deepEqual(
      svc.preference.map((p) => names(map, p)),
      [
        ['gz', 'bj', 'sg'],
        ['bj', 'gz', 'sg'],
        ['sg', 'gz', 'bj'],
      ],
    );
  });

  test('zone example.com has its SOA, NS and the static records, each with its map-file line', () => {
    assert.equal(map.zones.length, 1);
    const [zone] = map.zones;
    assert.equal(zone.name, 'example.com');
    assert.deepEqual(zone.soa, {
      mname: 'ns1.example.com',
      rname: 'hostmaster.example.com',
      serial: 2026112601,
      refresh: 3600,
      retry: 600,
      expire: 14 * 86400,
      minimum: 300,
      ttl: 3600,
    });
    assert.deepEqual(zone.ns, ['ns1.example.com', 'ns2.example.com']);
    const types = new Set<string>(zone.records.map((r) => r.rdata.type));
    for (const t of ['SOA', 'NS', 'A', 'MX', 'TXT', 'CAA', 'CNAME', 'SRV']) assert.ok(types.has(t), `has ${t}`);
    assert.equal(zone.records[0].rdata.type, 'SOA');
    assert.equal(zone.records.filter((r) => r.rdata.type === 'NS').length, 2);

    const srv = zone.records.find((r) => r.rdata.type === 'SRV');
    assert.ok(srv);
    assert.equal(srv.name, '_sip._udp.example.com');
    assert.equal(srv.file, SAMPLE_PATH);
    assert.equal(srv.line, posOf(SAMPLE, '_sip._udp  SRV').line);
    assert.equal(srv.ttl, 3600, 'records take the zone ttl');
    const cname = zone.records.find((r) => r.rdata.type === 'CNAME');
    assert.deepEqual(cname?.rdata, { type: 'CNAME', target: 'www.example.com' });
  });

  test('the version changes with the text', () => {
    assert.equal(load(SAMPLE).version, map.version, 'same text, same version');
    assert.notEqual(load(SAMPLE + '# a comment\n').version, map.version);
  });
});

// ---------------------------------------------------------------- YAML

describe('YAML syntax', () => {
  rejects([
    {
      name: 'rejects bad indentation with its line',
      text: edit('  bj: { description: Beijing }', '   bj: { description: Beijing }'),
      at: '   bj: { description',
      col: 1,
      message: 'same column',
    },
    {
      name: 'rejects a duplicate YAML key (two gz: under datacenters)',
      text: edit('  bj: { description: Beijing }', '  gz: { description: Beijing }'),
      at: '  gz: { description: Beijing }',
      message: 'unique',
    },
    {
      name: 'rejects an unterminated flow list',
      text: edit('    countries: [CN]', '    countries: [CN'),
      at: '    datacenters: [bj, gz, sg]',
      message: 'end with a ]',
    },
  ]);

  test('rejects a document that is not a mapping', () => {
    const issues = issuesOf('- just\n- a list\n');
    assert.equal(issues.length, 1);
    assert.match(issues[0].message, /must be a YAML mapping/);
  });
});

// ---------------------------------------------------------------- unknown keys

describe('unknown keys', () => {
  rejects([
    {
      name: 'rejects an unknown top-level key',
      text: edit('geoip:\n', 'listen: 127.0.0.1:53\ngeoip:\n'),
      at: 'listen:',
      path: 'listen',
      message: 'unknown key "listen" (allowed: server, geoip, asn_groups, health, datacenters, regions, zones, services, alerts, limits)',
    },
    {
      name: 'rejects an unknown key inside a service',
      text: edit('    fallback: first', '    fallback: first\n    weight: 3'),
      at: 'weight:',
      path: 'services.www.example.com.weight',
      message: 'unknown key "weight"',
    },
    {
      name: 'rejects an unknown key inside a region',
      text: edit('    countries: [CN]', '    countries: [CN]\n    country: [HK]'),
      at: 'country: [HK]',
      path: 'regions.north.country',
      message: 'unknown key "country"',
    },
    {
      name: 'rejects an unknown key inside a zone',
      text: edit('    ttl: 1h           #', '    tll: 1h           #'),
      at: 'tll:',
      path: 'zones.example.com.tll',
      message: 'unknown key "tll" (allowed: soa, ns, ttl, records, file, transfer, dnssec)',
    },
    {
      name: 'rejects an unknown key inside a datacenter',
      text: edit('{ description: Guangzhou }', '{ description: Guangzhou, city: Guangzhou }'),
      at: 'city:',
      path: 'datacenters.gz.city',
      message: 'unknown key "city" (allowed: description)',
    },
    {
      name: 'rejects an unknown key inside soa',
      text: insertAfter('      ttl: 1h', '      refesh: 2h'),
      at: 'refesh:',
      path: 'zones.example.com.soa.refesh',
      message: 'unknown key "refesh"',
    },
  ]);
});

// ---------------------------------------------------------------- service addresses

describe('service addresses', () => {
  rejects([
    {
      name: 'rejects a bad IPv4 address in a:',
      text: edit('a: [192.0.2.10]', 'a: [192.0.2.300]'),
      at: '192.0.2.300',
      path: 'services.www.example.com.datacenters.gz.a[0]',
      message: '"192.0.2.300" is not an IPv4 address',
    },
    {
      name: 'rejects an IPv6 address in a: (wrong family)',
      text: edit('a: [198.51.100.10]', 'a: ["2001:db8:20::11"]'),
      at: '"2001:db8:20::11"',
      path: 'services.www.example.com.datacenters.bj.a[0]',
      message: '"2001:db8:20::11" is not an IPv4 address',
    },
    {
      name: 'rejects an IPv4 address in aaaa: (wrong family)',
      text: edit('aaaa: ["2001:db8:30::10"]', 'aaaa: [203.0.113.11]'),
      at: '203.0.113.11',
      message: '"203.0.113.11" is not an IPv6 address',
    },
    {
      name: 'rejects a bad IPv6 address in aaaa:',
      text: edit('"2001:db8:30::10"', '"2001:db8:30::10::1"'),
      at: '"2001:db8:30::10::1"',
      path: 'services.www.example.com.datacenters.sg.aaaa[0]',
      message: '"2001:db8:30::10::1" is not an IPv6 address',
    },
    {
      name: 'rejects an IPv6 address with a zone id',
      text: edit('"2001:db8:30::10"', '"fe80::1%eth0"'),
      at: '"fe80::1%eth0"',
      message: 'is not an IPv6 address',
    },
    {
      name: 'rejects a duplicate address',
      text: edit('a: [203.0.113.10]', 'a: [203.0.113.10, 203.0.113.10]'),
      at: '203.0.113.10',
      nth: 2,
      path: 'services.www.example.com.datacenters.sg.a[1]',
      message: 'address 203.0.113.10 is listed twice',
    },
  ]);
});

// ---------------------------------------------------------------- references

describe('dangling references', () => {
  rejects([
    {
      name: 'rejects a region listing an unknown datacenter',
      text: edit('[sg, gz, bj]', '[sg, gz, bj, hk]'),
      at: 'hk]',
      path: 'regions.overseas.datacenters[3]',
      message: 'unknown datacenter "hk" (known: gz, bj, sg)',
    },
    {
      name: 'rejects a service using an unknown datacenter',
      text: edit('      sg: { a: [203.0.113.10]', '      hk: { a: [203.0.113.10]'),
      at: '      hk:',
      path: 'services.www.example.com.datacenters.hk',
      message: 'unknown datacenter "hk"',
    },
    {
      name: 'rejects a region listing a datacenter twice',
      text: edit('[bj, gz, sg]', '[bj, gz, bj]'),
      at: 'bj]',
      nth: 1,
      path: 'regions.north.datacenters[2]',
      message: 'datacenter "bj" is listed twice',
    },
  ]);
});

// ---------------------------------------------------------------- duplicate names

const SECOND_ZONE = [
  '  Example.COM.:',
  '    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }',
  '    ns: [ns1.example.net]',
  '',
].join('\n');

describe('duplicate names', () => {
  rejects([
    {
      name: 'rejects a service declared twice with different case and a trailing dot',
      text: SAMPLE + '  WWW.example.com.:\n    datacenters:\n      gz: { a: [192.0.2.11] }\n',
      at: 'WWW.example.com.:',
      path: 'services.WWW.example.com.',
      message: 'service "www.example.com" is declared twice',
    },
    {
      name: 'rejects a zone declared twice with different case and a trailing dot',
      text: edit('\nservices:\n', '\n' + SECOND_ZONE + 'services:\n'),
      at: 'Example.COM.:',
      message: 'zone "example.com" is declared twice',
    },
    {
      name: 'rejects a service clashing with a static A record at the same name',
      text: addRecords('www        A      192.0.2.99'),
      at: 'www.example.com:',
      path: 'services.www.example.com',
      message: 'also has a static A record',
    },
    {
      name: 'rejects a service clashing with a static AAAA record at the same name',
      text: addRecords('WWW.example.com.  AAAA  2001:db8::99'),
      at: 'www.example.com:',
      message: 'also has a static AAAA record',
    },
    {
      name: 'rejects a service clashing with a static CNAME at the same name',
      text: addRecords('www        CNAME  api'),
      at: 'www.example.com:',
      message: 'also has a static CNAME record',
    },
  ]);

  test('the clash message points at the static record', () => {
    const text = addRecords('www        A      192.0.2.99');
    const [issue] = issuesOf(text);
    assert.ok(issue.message.includes(`(${FILE}:${posOf(text, 'www        A').line})`), issue.message);
  });

  test('accepts a static TXT record at a service name', () => {
    const map = load(addRecords('www        TXT    "hello"'));
    assert.ok(map.zones[0].records.some((r) => r.name === 'www.example.com' && r.rdata.type === 'TXT'));
  });
});

// ---------------------------------------------------------------- regions

const NORTH_COUNTRIES = '    countries: [CN]';
const OVERSEAS_DEFAULT = '    default: true';

describe('regions', () => {
  rejects([
    {
      name: 'rejects two default regions',
      text: insertAfter(NORTH_COUNTRIES, OVERSEAS_DEFAULT),
      at: 'true',
      nth: 2,
      path: 'regions.overseas.default',
      message: 'only one region can be the default; "north" already is',
    },
    {
      name: 'rejects a map without a default region',
      text: edit(OVERSEAS_DEFAULT + '\n', ''),
      at: 'south:',
      path: 'regions',
      message: 'no default region',
    },
    {
      name: 'rejects a non-boolean default',
      text: edit(OVERSEAS_DEFAULT, '    default: yes'),
      at: 'yes',
      message: 'expected true or false',
    },
    {
      name: 'rejects the same country in two regions',
      text: insertAfter(OVERSEAS_DEFAULT, '    countries: [cn]'),
      at: 'cn]',
      path: 'regions.overseas.countries[0]',
      message: 'country CN is already mapped to region "north"',
    },
    {
      name: 'rejects the same subdivision twice',
      text: insertAfter(NORTH_COUNTRIES, '    subdivisions: [CN-GD]'),
      at: 'CN-GD]',
      path: 'regions.north.subdivisions[0]',
      message: 'subdivision CN-GD is already mapped to region "south"',
    },
    {
      name: 'rejects the same subdivision twice in one region',
      text: edit('CN-ZJ, CN-XZ]', 'CN-ZJ, CN-XZ, CN-gd]'),
      at: 'CN-gd',
      message: 'subdivision CN-GD is already mapped to region "south"',
    },
    {
      name: 'rejects the country code CHN (alpha-3)',
      text: edit(NORTH_COUNTRIES, '    countries: [CHN]'),
      at: 'CHN',
      path: 'regions.north.countries[0]',
      message: '"CHN" is not an ISO 3166-1 alpha-2 country code',
    },
    {
      name: 'rejects the subdivision GD without its country',
      text: edit('subdivisions: [CN-GD,', 'subdivisions: [GD,'),
      at: 'GD,',
      path: 'regions.south.subdivisions[0]',
      message: '"GD" is not an ISO 3166-2 code (e.g. CN-GD)',
    },
    {
      name: 'rejects an unknown continent',
      text: insertAfter(OVERSEAS_DEFAULT, '    continents: [EU, XX]'),
      at: 'XX',
      path: 'regions.overseas.continents[1]',
      message: '"XX" is not a continent code (AF, AN, AS, EU, NA, OC, SA)',
    },
    {
      name: 'rejects a CIDR with host bits set (10.1.2.3/8)',
      text: insertAfter(NORTH_COUNTRIES, '    cidrs: [10.1.2.3/8]'),
      at: '10.1.2.3/8',
      path: 'regions.north.cidrs[0]',
      message: 'host bits set after /8 (did you mean 10.0.0.0/8?)',
    },
    {
      name: 'rejects a CIDR with prefix /33',
      text: insertAfter(NORTH_COUNTRIES, '    cidrs: [1.2.3.0/33]'),
      at: '1.2.3.0/33',
      message: 'prefix length "33" must be 0-32',
    },
    {
      name: 'rejects a CIDR that is not an address',
      text: insertAfter(NORTH_COUNTRIES, '    cidrs: [example.com/24]'),
      at: 'example.com/24',
      message: 'bad CIDR "example.com/24"',
    },
    {
      name: 'rejects the same CIDR in two regions even when written differently',
      text: insertAfter(OVERSEAS_DEFAULT, '    cidrs: ["2001:DB8:0::/32"]', insertAfter(NORTH_COUNTRIES, '    cidrs: ["2001:db8::/32"]')),
      at: '"2001:DB8:0::/32"',
      path: 'regions.overseas.cidrs[0]',
      message: 'cidr 2001:db8::/32 is already mapped to region "north"',
    },
    {
      name: 'rejects a region without datacenters',
      text: edit('    datacenters: [bj, gz, sg]\n', ''),
      at: 'north:',
      path: 'regions.north.datacenters',
      message: 'missing: list at least one datacenter',
    },
    {
      name: 'rejects a region with an empty datacenter list',
      text: edit('[bj, gz, sg]', '[]'),
      at: 'north:',
      message: 'list at least one datacenter',
    },
    {
      name: 'rejects an upper-case region name',
      text: edit('  north:', '  North:'),
      at: 'North:',
      message: 'region name "North" must be lower-case',
    },
  ]);

  test('accepts continents and CIDRs and keeps their order and regions', () => {
    const text = insertAfter(OVERSEAS_DEFAULT, '    continents: [eu]', insertAfter(NORTH_COUNTRIES, '    cidrs: [10.0.0.0/8, "2001:db8::/32"]'));
    const map = load(text);
    assert.deepEqual([...map.rules.continents], [['EU', 2]]);
    assert.deepEqual(
      map.rules.cidrs.map((c) => [c.cidr.bytes.length, c.cidr.prefix, c.region]),
      [
        [4, 8, 1],
        [16, 32, 1],
      ],
    );
  });
});

// ---------------------------------------------------------------- zones

const SOA_BLOCK = SAMPLE.slice(SAMPLE.indexOf('    soa:\n'), SAMPLE.indexOf('    ns: ['));

describe('zones', () => {
  rejects([
    {
      name: 'rejects a zone without soa',
      text: edit(SOA_BLOCK, ''),
      at: '  example.com:',
      path: 'zones.example.com.soa',
      message: 'missing: every zone needs an SOA',
    },
    {
      name: 'rejects an soa missing a field (retry)',
      text: edit('      retry: 10m\n', ''),
      at: 'mname:',
      path: 'zones.example.com.soa',
      message: 'missing SOA field(s): retry',
    },
    {
      name: 'rejects a negative serial',
      text: edit('serial: 2026112601', 'serial: -1'),
      at: '-1\n',
      path: 'zones.example.com.soa.serial',
      message: '-1 is out of range 0..4294967295',
    },
    {
      name: 'rejects a serial above 2^32-1',
      text: edit('serial: 2026112601', 'serial: 4294967296'),
      at: '4294967296',
      message: '4294967296 is out of range 0..4294967295',
    },
    {
      name: 'rejects a non-numeric serial',
      text: edit('serial: 2026112601', 'serial: today'),
      at: 'today',
      message: 'expected an integer',
    },
    {
      name: 'rejects the duration "5 minutes"',
      text: edit('    ttl: 1h           #', '    ttl: 5 minutes    #'),
      at: '5 minutes',
      path: 'zones.example.com.ttl',
      message: 'expected a duration such as 300, 60s, 5m',
    },
    {
      name: 'rejects a bad soa duration',
      text: edit('      expire: 14d', '      expire: 2 weeks'),
      at: '2 weeks',
      path: 'zones.example.com.soa.expire',
      message: 'expected a duration',
    },
    {
      name: 'rejects an empty ns list',
      text: edit('ns: [ns1.example.com, ns2.example.com]', 'ns: []'),
      at: '[]',
      path: 'zones.example.com.ns',
      message: "missing: list the zone's name servers",
    },
    {
      name: 'rejects a zone without ns',
      text: edit('    ns: [ns1.example.com, ns2.example.com]\n', ''),
      at: '  example.com:',
      path: 'zones.example.com.ns',
      message: "missing: list the zone's name servers",
    },
    {
      name: 'rejects a name server listed twice',
      text: edit('ns: [ns1.example.com, ns2.example.com]', 'ns: [ns1.example.com, NS1.example.com.]'),
      at: 'NS1.example.com.',
      message: 'name server ns1.example.com is listed twice',
    },
    {
      name: 'rejects an in-zone NS target without glue',
      text: edit('      ns2        A      127.0.0.2\n', ''),
      at: '  example.com:',
      col: 1,
      path: 'zones.example.com',
      message: 'name server ns2.example.com is inside example.com but has no A or AAAA record (glue)',
    },
    {
      name: 'reports a bad record on the 3rd line of records: | at its line in the map file',
      text: edit('      @          MX     10 mail', '      @          A      192.0.2.256'),
      at: '192.0.2.256',
      path: 'zones.example.com',
      message: '"192.0.2.256" is not a valid IPv4 address',
    },
    {
      name: 'reports a zone-file syntax error inside records: | at its map-file line and column',
      text: addRecords('ftp        CNAME  "quoted"'),
      at: '"quoted"',
      message: 'CNAME target must not be a quoted string',
    },
    {
      name: 'rejects file: pointing to a missing file',
      text: insertAfter('    ttl: 1h           # default TTL of the static records below', '    file: missing.zone'),
      at: 'missing.zone',
      path: 'zones.example.com.file',
      message: `cannot read zone file ${join(FIXTURES, 'missing.zone')}`,
    },
    {
      name: 'rejects a CNAME with other data at the same name',
      text: addRecords('api        TXT    "also here"'),
      at: 'api        CNAME',
      col: 1,
      message: 'api.example.com has a CNAME and other records; a CNAME must be alone',
    },
    {
      name: 'rejects two CNAMEs at one name',
      text: addRecords('api        CNAME  mail'),
      at: 'api        CNAME  www',
      col: 1,
      message: 'a CNAME must be alone',
    },
    {
      name: 'rejects a CNAME at the zone apex',
      text: edit('      api        CNAME  www', '      @          CNAME  www.example.net.'),
      at: '@          CNAME',
      col: 1,
      message: 'a CNAME cannot sit at the zone apex',
    },
    {
      name: 'rejects records below a delegation',
      text: addRecords('sub        NS     ns1.example.net.', 'www.sub    TXT    "hidden"'),
      at: 'www.sub',
      col: 1,
      message: 'www.sub.example.com is below the delegation sub.example.com; only glue A/AAAA may sit there',
    },
    {
      name: 'rejects non-glue data at a delegation point',
      text: addRecords('sub        NS     ns1.example.net.', 'sub        MX     10 mail'),
      at: 'sub        MX',
      col: 1,
      message: 'sub.example.com is delegated (NS); only NS and glue A/AAAA may sit there',
    },
    {
      name: 'rejects a delegation to an in-zone name server without glue',
      text: addRecords('sub        NS     ns.sub'),
      at: 'sub        NS',
      col: 1,
      message: 'name server ns.sub.example.com is inside example.com but has no A or AAAA record (glue)',
    },
    {
      name: 'rejects apex NS records inside records',
      text: addRecords('@          NS     ns3.example.net.'),
      at: '@          NS',
      col: 1,
      message: 'apex NS records belong in the zone\'s "ns:" key',
    },
    {
      name: 'rejects an SOA inside records',
      text: addRecords('@          SOA    ns1 hostmaster 1 1h 10m 14d 5m'),
      at: '@          SOA',
      col: 1,
      message: 'SOA records belong in the zone\'s "soa:" key',
    },
    {
      name: 'rejects a record outside the zone (absolute name in another domain)',
      text: addRecords('host.example.net.  A  192.0.2.1'),
      at: 'host.example.net.',
      col: 1,
      message: 'host.example.net is outside zone example.com',
    },
    {
      name: 'rejects a service outside every zone',
      text: edit('  www.example.com:', '  www.example.net:'),
      at: 'www.example.net:',
      path: 'services.www.example.net',
      message: '"www.example.net" is not inside any zone (zones: example.com)',
    },
    {
      name: 'rejects differing TTLs in one RRset',
      text: addRecords('sip   300  A      192.0.2.27'),
      at: 'sip   300',
      col: 1,
      message: 'sip.example.com A: all records of one RRset need the same TTL',
    },
    {
      name: 'points the TTL mismatch at the record that differs, not the second one',
      text: addRecords('sip        A      192.0.2.27', 'sip   300  A      192.0.2.28'),
      at: 'sip   300',
      col: 1,
      message: 'need the same TTL',
    },
    {
      name: 'rejects a duplicate record',
      text: addRecords('sip        A      192.0.2.26'),
      at: 'sip        A      192.0.2.26',
      nth: 2,
      col: 1,
      message: 'duplicate record: sip.example.com A',
    },
  ]);

  test('rejects records: given as a list instead of zone-file text', () => {
    const block = SAMPLE.slice(SAMPLE.indexOf('    records: |'), SAMPLE.indexOf('\nservices:'));
    const text = edit(block, '    records: [ns1 A 127.0.0.1]\n');
    const issue = issuesOf(text).find((i) => i.path === 'zones.example.com.records');
    assert.ok(issue);
    assert.equal(issue.line, posOf(text, '[ns1 A').line);
    assert.match(issue.message, /expected zone-file text \(use "records: \|"/);
  });

  test('reports an error in a file: zone file with that file and its own line', () => {
    const zoneFile = join(FIXTURES, 'bad-record.zone');
    const text = insertAfter('    ttl: 1h           # default TTL of the static records below', '    file: bad-record.zone');
    const issues = issuesOf(text);
    assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
    const want = posOf(readFileSync(zoneFile, 'utf8'), '192.0.2.999');
    assert.deepEqual(issues[0], {
      file: zoneFile,
      line: want.line,
      col: want.col,
      path: 'zones.example.com',
      // A file: zone file's text is never quoted (it could be the wrong file); line and column point at it.
      message: 'the address is not a valid IPv4 address',
    });
  });

  test('file: with a real zone file loads its records next to records: |', () => {
    const zoneFile = join(FIXTURES, 'example.com.zone');
    const zoneText = readFileSync(zoneFile, 'utf8');
    const text = insertAfter('    ttl: 1h           # default TTL of the static records below', '    file: example.com.zone');
    const map = load(text);
    const recs = map.zones[0].records.filter((r) => r.file === zoneFile);
    assert.deepEqual(
      recs.map((r) => [r.name, r.ttl, r.rdata, r.line]),
      [
        ['ftp.example.com', 300, { type: 'A', address: '192.0.2.40' }, posOf(zoneText, 'ftp').line],
        ['ftp.example.com', 300, { type: 'AAAA', address: '2001:db8::40' }, posOf(zoneText, 'AAAA').line],
        ['docs.example.com', 300, { type: 'CNAME', target: 'www.example.com' }, posOf(zoneText, 'docs').line],
      ],
    );
    assert.ok(map.zones[0].records.some((r) => r.rdata.type === 'SRV'), 'records: | still loaded');
    assert.notEqual(map.version, load(SAMPLE).version, 'the zone file is part of the version');
  });

  test('a zone ttl applies to records and NS; an explicit record TTL wins', () => {
    const map = load(addRecords('short  120  A  192.0.2.50'));
    const ttlOf = (name: string, type: string): number | undefined =>
      map.zones[0].records.find((r) => r.name === name && r.rdata.type === type)?.ttl;
    assert.equal(ttlOf('short.example.com', 'A'), 120);
    assert.equal(ttlOf('mail.example.com', 'A'), 3600);
    assert.equal(ttlOf('example.com', 'NS'), 3600);
    const five = load(edit('    ttl: 1h           #', '    ttl: 5m           #'));
    assert.equal(five.zones[0].records.find((r) => r.name === 'mail.example.com')?.ttl, 300);
  });

  test('an soa rname may be written as an e-mail address', () => {
    const map = load(edit('rname: hostmaster.example.com', 'rname: hostmaster@example.com'));
    assert.equal(map.zones[0].soa.rname, 'hostmaster.example.com');
  });
});

// ---------------------------------------------------------------- services

const SERVICE_DCS = SAMPLE.slice(SAMPLE.indexOf('    datacenters:\n      gz:'), SAMPLE.indexOf('    # When every'));

describe('services', () => {
  test('accepts fallback: all', () => {
    assert.equal(load(edit('fallback: first', 'fallback: all')).services[0].fallback, 'all');
  });

  test('fallback defaults to first', () => {
    assert.equal(load(edit('    fallback: first\n', '')).services[0].fallback, 'first');
  });

  for (const [ttl, seconds] of [
    ['1m', 60],
    ['90', 90],
    ['1m30s', 90],
    ['0', 0],
    ['1h', 3600],
  ] as const) {
    test(`ttl: ${ttl} is ${seconds} seconds`, () => {
      assert.equal(load(edit('ttl: 60s', `ttl: ${ttl}`)).services[0].ttl, seconds);
    });
  }

  test('a service that runs in fewer datacenters gets each region list restricted to them', () => {
    const map = load(edit('      gz: { a: [192.0.2.10], aaaa: ["2001:db8:10::10"] }\n', ''));
    const [svc] = map.services;
    assert.equal(svc.addresses[0], null);
    assert.deepEqual(
      svc.preference.map((p) => names(map, p)),
      [
        ['bj', 'sg'],
        ['bj', 'sg'],
        ['sg', 'bj'],
      ],
    );
  });

  rejects([
    {
      name: 'rejects fallback: bogus',
      text: edit('fallback: first', 'fallback: bogus'),
      at: 'bogus',
      path: 'services.www.example.com.fallback',
      message: 'fallback must be "first" or "all", not "bogus"',
    },
    {
      name: 'rejects a service with no datacenters',
      text: edit(SERVICE_DCS, ''),
      at: 'www.example.com:',
      path: 'services.www.example.com.datacenters',
      message: 'missing: list the datacenters that serve it',
    },
    {
      name: 'rejects a service with an empty datacenters mapping',
      text: edit(SERVICE_DCS, '    datacenters: {}\n'),
      at: 'www.example.com:',
      message: 'missing: list the datacenters that serve it',
    },
    {
      name: 'rejects a datacenter entry with no addresses',
      text: edit('      sg: { a: [203.0.113.10], aaaa: ["2001:db8:30::10"] }', '      sg: { a: [] }'),
      at: 'sg: { a: [] }',
      path: 'services.www.example.com.datacenters.sg',
      message: 'no addresses: give a: [...] and/or aaaa: [...]',
    },
    {
      name: 'rejects a bad service ttl',
      text: edit('ttl: 60s', 'ttl: 1 minute'),
      at: '1 minute',
      path: 'services.www.example.com.ttl',
      message: 'expected a duration',
    },
    {
      name: 'rejects a negative service ttl',
      text: edit('ttl: 60s', 'ttl: -60'),
      at: '-60',
      message: 'expected a duration',
    },
    {
      name: 'rejects a service name that is not a domain name',
      text: edit('  www.example.com:', '  "www example.com":'),
      at: '"www example.com"',
      message: '"www example.com" is not a valid domain name',
    },
  ]);
});

// ---------------------------------------------------------------- whole-map behaviour

describe('reporting', () => {
  test('all problems are reported at once: 3 independent errors yield 3 issues', () => {
    let text = edit(NORTH_COUNTRIES, '    countries: [CHN]');
    text = edit('a: [192.0.2.10]', 'a: [192.0.2.300]', text);
    text = edit('{ description: Guangzhou }', '{ description: Guangzhou, city: Guangzhou }', text);
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map((i) => i.line).sort((a, b) => a - b),
      [posOf(text, 'city:').line, posOf(text, 'CHN').line, posOf(text, '192.0.2.300').line],
      issues.map(formatIssue).join('\n'),
    );
    assert.deepEqual(issues.map((i) => i.path).sort(), [
      'datacenters.gz.city',
      'regions.north.countries[0]',
      'services.www.example.com.datacenters.gz.a[0]',
    ]);
  });

  test('one bad zone does not cascade into "not inside any zone" for its services', () => {
    const issues = issuesOf(edit('serial: 2026112601', 'serial: -1'));
    assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
  });

  test('ConfigError carries a stable code and every issue in its message', () => {
    let text = edit(NORTH_COUNTRIES, '    countries: [CHN]');
    text = edit('fallback: first', 'fallback: bogus', text);
    try {
      parseMapText(text, FILE);
      assert.fail('expected a ConfigError');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, 'GS_ERR_CONFIG_INVALID');
      assert.match(e.message, /^2 error\(s\) in map file:\n/);
      for (const i of e.issues) assert.ok(e.message.includes(formatIssue(i)));
    }
  });

  test('formatIssue gives FILE:LINE:COL: PATH: message', () => {
    const text = edit(NORTH_COUNTRIES, '    countries: [CHN]');
    const [issue] = issuesOf(text);
    const { line, col } = posOf(text, 'CHN');
    assert.equal(
      formatIssue(issue),
      `${FILE}:${line}:${col}: regions.north.countries[0]: "CHN" is not an ISO 3166-1 alpha-2 country code (e.g. CN)`,
    );
  });

  test('formatIssue leaves the path out when there is none', () => {
    assert.equal(formatIssue({ file: 'z.db', line: 3, col: 7, path: '', message: 'bad' }), 'z.db:3:7: bad');
  });
});

describe('files and paths', () => {
  test('geoip.database: a relative path is resolved against the map file directory', () => {
    const text = edit('database: default', 'database: db/City.mmdb');
    assert.equal(load(text, '/srv/geosteer/map.yaml').geoDatabase, '/srv/geosteer/db/City.mmdb');
    assert.equal(load(text, FILE).geoDatabase, join(FIXTURES, 'db/City.mmdb'));
  });

  test('geoip.database: an absolute path is kept and "default" stays default', () => {
    assert.equal(load(edit('database: default', 'database: /var/lib/GeoIP/City.mmdb')).geoDatabase, '/var/lib/GeoIP/City.mmdb');
    assert.equal(load(SAMPLE).geoDatabase, 'default');
  });

  test('loadMapFile resolves relative paths against the map file, not the working directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'geosteer-map-'));
    const path = join(dir, 'map.yaml');
    writeFileSync(path, edit('database: default', 'database: City.mmdb'));
    const map = loadMapFile(path);
    assert.equal(map.file, path);
    assert.equal(map.geoDatabase, join(dir, 'City.mmdb'));
  });

  test('loadMapFile on a missing file throws a ConfigError saying it cannot read it', () => {
    const path = join(FIXTURES, 'no-such-map.yaml');
    assert.throws(
      () => loadMapFile(path),
      (e: unknown) => e instanceof ConfigError && e.issues.length === 1 && e.issues[0].file === path && /cannot read/.test(e.issues[0].message),
    );
  });
});

// ---------------------------------------------------------------- zone transfers

describe('zones: transfer', () => {
  const NS_LINE = '    ns: [ns1.example.com, ns2.example.com]';
  /** The sample map with `transfer: VALUE` in zone example.com. */
  const withTransfer = (value: string): string => insertAfter(NS_LINE, `    transfer: ${value}`);
  const cidrText = (map: MapConfig): string[] => map.zones[0].transfer.map((c) => `${[...c.bytes].join('.')}/${c.prefix}`);

  test('absent: nobody may transfer (an empty list)', () => {
    assert.deepEqual(load(SAMPLE).zones[0].transfer, []);
  });

  test('an empty list is accepted and means nobody', () => {
    assert.deepEqual(load(withTransfer('[]')).zones[0].transfer, []);
  });

  test('addresses become host routes, CIDRs are kept, IPv4-mapped networks are stored as IPv4', () => {
    const map = load(withTransfer('[192.0.2.53, 10.0.0.0/8, "::ffff:198.51.100.0/120", "2001:db8::/32"]'));
    const t = map.zones[0].transfer;
    assert.deepEqual(cidrText(map).slice(0, 3), ['192.0.2.53/32', '10.0.0.0/8', '198.51.100.0/24']);
    assert.equal(t[3].bytes.length, 16);
    assert.equal(t[3].prefix, 32);
    assert.deepEqual([...t[3].bytes.subarray(0, 4)], [0x20, 0x01, 0x0d, 0xb8]);
  });

  rejects([
    {
      name: 'rejects a transfer entry that is not an address or CIDR',
      text: withTransfer('[192.0.2.53, secondary.example.net]'),
      at: 'secondary.example.net]',
      path: 'zones.example.com.transfer[1]',
      message: 'bad CIDR "secondary.example.net"',
    },
    {
      name: 'rejects a transfer CIDR with host bits set',
      text: withTransfer('[192.0.2.53/24]'),
      at: '192.0.2.53/24]',
      path: 'zones.example.com.transfer[0]',
      message: 'host bits set after /24',
    },
    {
      name: 'rejects a transfer that is a single string instead of a list',
      text: withTransfer('192.0.2.53'),
      at: '192.0.2.53\n',
      path: 'zones.example.com.transfer',
      message: 'expected a list',
    },
    {
      name: 'rejects an empty transfer key (write [] for nobody)',
      text: withTransfer(''),
      at: '    transfer: \n',
      col: 15,
      path: 'zones.example.com.transfer',
      message: 'expected a list, found',
    },
  ]);
});

// ---------------------------------------------------------------- bytes, depth and size limits

/** Writes `files` (text or bytes) to a fresh directory; returns the path of the first. */
function writeFiles(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-limits-'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  return join(dir, Object.keys(files)[0]);
}

/** `text` with the first `mark` replaced by the raw byte `byte`. */
function withByte(text: string, mark: string, byte: number): Buffer {
  const b = Buffer.from(text);
  b[b.indexOf(mark)] = byte;
  return b;
}

function loadIssues(path: string): ConfigIssue[] {
  try {
    loadMapFile(path);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('expected the map to be rejected');
}

test('a map file with a byte that is not UTF-8 is rejected at its line and column', () => {
  const text = edit('gz: { description: Guangzhou }', 'gz: { description: Guang~zhou }');
  const path = writeFiles({ 'map.yaml': withByte(text, '~', 0xff) });
  const issues = loadIssues(path);
  const { line, col } = posOf(text, '~');
  assert.deepEqual(issues.map(formatIssue), [`${path}:${line}:${col}: not valid UTF-8 (byte 0xff); save the file as UTF-8`]);
});

test('UTF-8 that is not well-formed (overlong, surrogate, truncated) is rejected; real UTF-8 and a BOM are not', () => {
  for (const bad of [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe4, 0xb8], [0xf4, 0x90, 0x80, 0x80]]) {
    const text = edit('gz: { description: Guangzhou }', 'gz: { description: "Gu~" }');
    const at = Buffer.from(text).indexOf('~');
    const bytes = Buffer.concat([Buffer.from(text).subarray(0, at), Buffer.from(bad), Buffer.from(text).subarray(at + 1)]);
    const issues = loadIssues(writeFiles({ 'map.yaml': bytes }));
    assert.equal(issues.length, 1, JSON.stringify(bad));
    assert.match(formatIssue(issues[0]), new RegExp(`:${posOf(text, '~').line}:${posOf(text, '~').col}: not valid UTF-8 \\(byte 0x${bad[0].toString(16)}\\)`));
  }
  const fine = edit('gz: { description: Guangzhou }', 'gz: { description: 广州 }');
  const map = loadMapFile(writeFiles({ 'map.yaml': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(fine)]) }));
  assert.equal(map.datacenters[0].description, '广州');
});

test('a zone file named by file: with a byte that is not UTF-8 is rejected at the zone file line', () => {
  const zone = 'extra A 192.0.2.201\nbad TXT "caf~"\n';
  const path = writeFiles({
    'map.yaml': edit('    records: |', '    file: extra.zone\n    records: |'),
    'extra.zone': withByte(zone, '~', 0xe9),
  });
  const issues = loadIssues(path);
  assert.deepEqual(issues.map(formatIssue), [`${join(path, '..', 'extra.zone')}:2:13: zones.example.com.file: not valid UTF-8 (byte 0xe9); save the file as UTF-8`]);
});

test('10000 nested lists are a normal map error naming the limit, not a stack overflow', () => {
  const text = `${SAMPLE}\nextra: ${'['.repeat(10000)}${']'.repeat(10000)}\n`;
  const issues = issuesOf(text);
  assert.equal(issues.length, 1);
  const { line } = posOf(text, 'extra: [');
  // The 65th level: "extra" is level 1, its list level 2.
  assert.equal(issues[0].line, line);
  assert.equal(issues[0].col, 'extra: '.length + 64);
  assert.match(issues[0].path, /^extra\[0\]\[0\]/);
  assert.match(issues[0].message, /^nesting deeper than 64 levels/);
  assert.doesNotMatch(issues[0].message, /call stack/);
});

test('deep block and flow mappings are refused the same way, with their path; 64 levels pass the depth check', () => {
  const block = `${SAMPLE}\n${Array.from({ length: 70 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`;
  const b = issuesOf(block);
  assert.equal(b.length, 1);
  assert.match(b[0].message, /nesting deeper than 64 levels/);
  assert.match(b[0].path, /^k0\.k1\.k2\./);
  assert.equal(b[0].line, posOf(block, 'k64:').line);
  const flow = `${SAMPLE}\nextra: ${'{a: '.repeat(3000)}1${'}'.repeat(3000)}\n`;
  assert.match(issuesOf(flow)[0].message, /nesting deeper than 64 levels/);
  // 63 lists under a top-level key: the map's own checks answer (an unknown key), not the depth limit.
  const ok = `${SAMPLE}\nextra: ${'['.repeat(63)}${']'.repeat(63)}\n`;
  assert.deepEqual(issuesOf(ok).map((i) => i.message), ['unknown key "extra" (allowed: server, geoip, asn_groups, health, datacenters, regions, zones, services, alerts, limits)']);
});

test('a records block of 100,001 records is a normal map error at the first record over limits.zone_records: 100000', () => {
  const lines = Array.from({ length: 100_001 }, (_, i) => `h${i} A 192.0.2.${(i % 250) + 1}`);
  const text = 'limits: { zone_records: 100000 }\n' + addRecords(...lines);
  const issues = issuesOf(text);
  assert.equal(issues.length, 1, issues.slice(0, 3).map(formatIssue).join('\n'));
  // The sample already has 9 records, so the 99,992nd added one is the first too many.
  assert.equal(issues[0].line, posOf(text, '      h99991 A').line);
  assert.equal(issues[0].path, 'zones.example.com');
  assert.match(issues[0].message, /more than 100000 records in the zone/);
});

test('a zone file that is not one stops after 100 errors instead of reporting every line', () => {
  const junk = Array.from({ length: 5000 }, (_, i) => `line ${i}: something went wrong + more`).join('\n');
  const path = writeFiles({ 'map.yaml': edit('    records: |', '    file: junk.txt\n    records: |'), 'junk.txt': junk });
  const issues = loadIssues(path);
  assert.ok(issues.length <= 102, `${issues.length} issues`);
  assert.match(issues[issues.length - 1].message, /errors so far; the rest is not read/);
});

test('a zone file over limits.zone_file_bytes is refused before it is read', () => {
  const map = 'limits: { zone_file_bytes: 1MiB }\n' + edit('    records: |', '    file: big.zone\n    records: |');
  const path = writeFiles({ 'map.yaml': map, 'big.zone': Buffer.alloc(1024 * 1024 + 1, 0x20) });
  const issues = loadIssues(path);
  assert.equal(issues.length, 1);
  assert.equal(issues[0].path, 'zones.example.com.file');
  assert.match(issues[0].message, /is 1048577 bytes; the limit is 1048576 \(1 MiB\)/);
});

// ---------------------------------------------------------------- what errors quote of a zone file

const SHADOW_SECRET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const SHADOW = `root:$6$${SHADOW_SECRET}:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n`;

test('file: naming /etc/shadow by mistake: errors give each line and the reason, and none of its content', () => {
  const path = writeFiles({ 'map.yaml': edit('    records: |', '    file: shadow\n    records: |'), shadow: SHADOW });
  const issues = loadIssues(path);
  const shadowPath = join(path, '..', 'shadow');
  assert.deepEqual(
    issues.map((i) => [i.file, i.line, i.message]),
    [
      [shadowPath, 1, 'owner name contains ":"; labels may only use ASCII letters, digits, "-", "_" and "*"'],
      [shadowPath, 1, 'missing record type'],
      [shadowPath, 2, 'owner name contains ":"; labels may only use ASCII letters, digits, "-", "_" and "*"'],
      [shadowPath, 2, 'missing record type'],
    ],
  );
  const all = issues.map(formatIssue).join('\n');
  for (const secret of ['root', '$6$', 'abcdefgh', '19000', 'daemon']) assert.ok(!all.replace(shadowPath, '').includes(secret), `"${secret}" leaked:\n${all}`);
});

test('file: zone errors quote nothing, whatever the mistake', () => {
  const zone = ['hunter2 A', 'pw 300 IN TXT', 'key IN S3CR3T-VALUE', 'host A 10.0.0.999', 'host2 A 2001:db8::1', 'mx MX 10 mail extra-secret'].join('\n');
  const path = writeFiles({ 'map.yaml': edit('    records: |', '    file: z.zone\n    records: |'), 'z.zone': zone });
  const all = loadIssues(path).map((i) => i.message).join('\n');
  assert.match(all, /unsupported record type \(supported/);
  assert.match(all, /the address is not a valid IPv4 address/);
  assert.match(all, /the address is an IPv6 address; use an AAAA record/);
  assert.match(all, /unexpected text after MX data/);
  for (const secret of ['S3CR3T', '10.0.0.999', 'extra-secret', '2001:db8']) assert.ok(!all.includes(secret), `"${secret}" leaked:\n${all}`);
});

test('inline records: errors quote at most 20 characters of the text, with control characters escaped', () => {
  const long = `root:$6$${SHADOW_SECRET}:19000`;
  const issues = issuesOf(addRecords(`${long} A 192.0.2.1`, 'bell\x07ring A 192.0.2.2'));
  const messages = issues.map((i) => i.message);
  assert.ok(messages.includes(`owner name "${long.slice(0, 20)}..." contains ":"; labels may only use ASCII letters, digits, "-", "_" and "*"`), messages.join('\n'));
  assert.ok(messages.includes('owner name "bell\\x07ring" contains "\\x07"; labels may only use ASCII letters, digits, "-", "_" and "*"'), messages.join('\n'));
  assert.ok(!messages.join('\n').includes(SHADOW_SECRET.slice(10)), 'no more than the excerpt');
});
