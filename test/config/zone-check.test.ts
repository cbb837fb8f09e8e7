import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseZoneText } from '../../src/config/zone-file';
import { checkZone } from '../../src/config/zone-check';
import type { ZoneRecord } from '../../src/config/records';

// checkZone keeps names with one record apart from names with several (no array, no key string), and
// compares a name's records pairwise up to 16, by a Set of keys past that: these cases cross each path.

const HEAD = [
  '@ SOA ns1 hostmaster 1 1h 10m 14d 5m',
  '@ NS ns1',
  'ns1 A 192.0.2.1',
];

/** The zone's records (the SOA and one apex NS first, as the map loader puts them) and checkZone's messages by line. */
function check(lines: string[]): Array<[number, string]> {
  const res = parseZoneText([...HEAD, ...lines].join('\n') + '\n', { file: 'z', origin: 'example.com' });
  assert.deepEqual(res.issues, []);
  const records: ZoneRecord[] = res.records;
  return checkZone('example.com', records, 1, 'zones.example.com').map((i) => [i.line, i.message]);
}

/** The line number of lines[i] in the text check() parses. */
const at = (i: number): number => HEAD.length + i + 1;

test('duplicates in a name with many records are found on both sides of the pairwise limit, among single-record names', () => {
  const lines: string[] = [];
  for (let k = 0; k < 40; k++) {
    lines.push(`solo${k} A 192.0.2.${k + 10}`);
    lines.push(`many TXT "t${k}"`);
  }
  lines.push('many TXT "t3"'); // repeats the 4th record of a 40-record name: found through the key Set
  lines.push('solo7 A 192.0.2.17'); // repeats a single-record name's record
  lines.push('solo8 A 192.0.2.99'); // same name, other address: fine
  lines.push('few MX 10 solo1', 'few MX 20 solo1', 'few MX 10 solo1'); // pairwise
  lines.push('many TXT "t3" "x"', 'many TXT "t3x"', 'many TXT "t3" "x"'); // split strings differ; the repeat does not
  const n = lines.length;
  assert.deepEqual(check(lines), [
    [at(80), 'duplicate record: many.example.com TXT'],
    [at(81), 'duplicate record: solo7.example.com A'],
    [at(85), 'duplicate record: few.example.com MX'],
    [at(n - 1), 'duplicate record: many.example.com TXT'],
  ]);
});

test('a duplicate between the 2nd and 17th record of one name is found at the switch to the key Set', () => {
  const lines: string[] = [];
  for (let k = 0; k < 16; k++) lines.push(`w A 192.0.2.${k + 1}`);
  lines.push('w A 192.0.2.2', 'w A 192.0.2.17', 'w A 192.0.2.17');
  assert.deepEqual(check(lines), [
    [at(16), 'duplicate record: w.example.com A'],
    [at(18), 'duplicate record: w.example.com A'],
  ]);
});

test('single-record names keep every rule: below a delegation, a delegation point with other data, glue, outside the zone', () => {
  assert.deepEqual(
    check([
      'sub NS ns.sub',
      'ns.sub A 192.0.2.5', // glue: fine
      'www.sub CNAME solo', // one record, below the cut
      'deep.www.sub TXT "x"',
      'cut2 NS ns.cut2', // no glue
      'other.example.net. A 192.0.2.6',
      'solo A 192.0.2.7',
      'alias CNAME solo',
      'alias A 192.0.2.8', // a CNAME with other data: the second record makes a list
      'ttl A 192.0.2.9',
      'ttl 60 A 192.0.2.10',
    ]),
    [
      [at(5), 'other.example.net is outside zone example.com'],
      [at(2), 'www.sub.example.com is below the delegation sub.example.com; only glue A/AAAA may sit there'],
      [at(3), 'deep.www.sub.example.com is below the delegation sub.example.com; only glue A/AAAA may sit there'],
      [at(7), 'alias.example.com has a CNAME and other records; a CNAME must be alone (RFC 1034)'],
      [at(10), 'ttl.example.com A: all records of one RRset need the same TTL (RFC 2181)'],
      [at(4), 'name server ns.cut2.example.com is inside example.com but has no A or AAAA record (glue)'],
    ],
  );
});

test('a delegation point holding a single non-NS record next to its NS is reported once, at that record', () => {
  assert.deepEqual(check(['sub NS ns.example.net.', 'sub TXT "no"']), [[at(1), 'sub.example.com is delegated (NS); only NS and glue A/AAAA may sit there']]);
});
