import { test } from 'node:test';
import assert from 'node:assert/strict';
import { excerpt, parseZoneText, type ZoneFileOptions } from '../../src/config/zone-file';
import type { RData } from '../../src/config/records';

const OPTS: ZoneFileOptions = { file: 'zone.db', origin: 'example.com' };

function parse(text: string, opts: Partial<ZoneFileOptions> = {}) {
  return parseZoneText(text, { ...OPTS, ...opts });
}

/** Parses text that must be error-free; fails with the issues otherwise. */
function ok(text: string, opts: Partial<ZoneFileOptions> = {}) {
  const res = parse(text, opts);
  assert.deepEqual(res.issues, []);
  return res.records;
}

/** Parses text that must yield exactly one issue; returns it. */
function oneIssue(text: string, opts: Partial<ZoneFileOptions> = {}) {
  const res = parse(text, opts);
  assert.equal(res.issues.length, 1, JSON.stringify(res.issues));
  return res.issues[0];
}

function rdataOf(line: string): RData {
  const recs = ok(line);
  assert.equal(recs.length, 1);
  return recs[0].rdata;
}

test('a realistic zone parses with origin, $TTL, @, relative, absolute and blank owners and a multi-line SOA', () => {
  const text = [
    '; example zone',
    '$ORIGIN Example.COM.',
    '$TTL 1h',
    '@   IN  SOA ns1 hostmaster.example.com. (',
    '        2024010101 ; serial',
    '        2h         ; refresh',
    '        15m        ; retry',
    '        2w         ; expire',
    '        300 )      ; minimum',
    '',
    '    IN  NS  ns1',
    '    IN  NS  ns2.example.net.',
    '    IN  MX  10 mail',
    'ns1     A   192.0.2.1',
    'WWW 300 IN  A   192.0.2.10',
    '        IN  AAAA 2001:DB8::10   ; same owner as www',
    'mail    CNAME www',
    '$ORIGIN sub.example.com.',
    'host    A   192.0.2.20',
    '',
  ].join('\n');
  const recs = ok(text);
  const summary = recs.map((r) => [r.name, r.ttl, r.rdata.type, r.line]);
  assert.deepEqual(summary, [
    ['example.com', 3600, 'SOA', 4],
    ['example.com', 3600, 'NS', 11],
    ['example.com', 3600, 'NS', 12],
    ['example.com', 3600, 'MX', 13],
    ['ns1.example.com', 3600, 'A', 14],
    ['www.example.com', 300, 'A', 15],
    ['www.example.com', 3600, 'AAAA', 16],
    ['mail.example.com', 3600, 'CNAME', 17],
    ['host.sub.example.com', 3600, 'A', 19],
  ]);
  assert.deepEqual(recs[0].rdata, {
    type: 'SOA',
    mname: 'ns1.example.com',
    rname: 'hostmaster.example.com',
    serial: 2024010101,
    refresh: 7200,
    retry: 900,
    expire: 1209600,
    minimum: 300,
  });
  assert.deepEqual(recs[2].rdata, { type: 'NS', target: 'ns2.example.net' });
  assert.deepEqual(recs[3].rdata, { type: 'MX', preference: 10, exchange: 'mail.example.com' });
  assert.deepEqual(recs[6].rdata, { type: 'AAAA', address: '2001:db8::10' });
  assert.equal(recs[0].file, 'zone.db');
});

test('every supported record type parses into its rdata shape', () => {
  assert.deepEqual(rdataOf('a A 192.0.2.1'), { type: 'A', address: '192.0.2.1' });
  assert.deepEqual(rdataOf('a AAAA 2001:db8:0:0::1'), { type: 'AAAA', address: '2001:db8::1' });
  assert.deepEqual(rdataOf('a CNAME b.example.org.'), { type: 'CNAME', target: 'b.example.org' });
  assert.deepEqual(rdataOf('a NS @'), { type: 'NS', target: 'example.com' });
  assert.deepEqual(rdataOf('1.2 PTR host'), { type: 'PTR', target: 'host.example.com' });
  assert.deepEqual(rdataOf('a MX 0 .'), { type: 'MX', preference: 0, exchange: '' });
  assert.deepEqual(rdataOf('a TXT "v=spf1 -all"'), { type: 'TXT', strings: [Buffer.from('v=spf1 -all')] });
  assert.deepEqual(rdataOf('_sip._tcp SRV 10 60 5060 sip'), {
    type: 'SRV',
    priority: 10,
    weight: 60,
    port: 5060,
    target: 'sip.example.com',
  });
  assert.deepEqual(rdataOf('a CAA 0 issue "letsencrypt.org"'), { type: 'CAA', flags: 0, tag: 'issue', value: 'letsencrypt.org' });
  assert.deepEqual(rdataOf('a CAA 128 iodef mailto:sec@example.com'), {
    type: 'CAA',
    flags: 128,
    tag: 'iodef',
    value: 'mailto:sec@example.com',
  });
  assert.deepEqual(rdataOf('@ SOA ns hm 1 2 3 4 5'), {
    type: 'SOA',
    mname: 'ns.example.com',
    rname: 'hm.example.com',
    serial: 1,
    refresh: 2,
    retry: 3,
    expire: 4,
    minimum: 5,
  });
  // Type and class names are case-insensitive; wildcard and underscore labels are fine.
  assert.equal(ok('*.w in a 192.0.2.1')[0].name, '*.w.example.com');
});

test('TTLs accept plain seconds and case-insensitive BIND units', () => {
  const recs = ok(['a 0 A 192.0.2.1', 'a 30m A 192.0.2.1', 'a 1H30M A 192.0.2.1', 'a 1d A 192.0.2.1', 'a 1W A 192.0.2.1', 'a 2147483647 A 192.0.2.1', 'a 10s A 192.0.2.1'].join('\n'));
  assert.deepEqual(
    recs.map((r) => r.ttl),
    [0, 1800, 5400, 86400, 604800, 2147483647, 10],
  );
});

test('TTL and class can come in either order or be left out, falling back to $TTL then defaultTtl', () => {
  const recs = ok(['a 300 IN A 192.0.2.1', 'b IN 301 A 192.0.2.1', 'c 302 A 192.0.2.1', 'd IN A 192.0.2.1', 'e A 192.0.2.1', '$TTL 99', 'f A 192.0.2.1'].join('\n'), {
    defaultTtl: 42,
  });
  assert.deepEqual(
    recs.map((r) => [r.name, r.ttl]),
    [
      ['a.example.com', 300],
      ['b.example.com', 301],
      ['c.example.com', 302],
      ['d.example.com', 42],
      ['e.example.com', 42],
      ['f.example.com', 99],
    ],
  );
  assert.equal(ok('x A 192.0.2.1')[0].ttl, 3600);
});

test('TXT handles escapes, several strings, bare words and semicolons inside quotes', () => {
  const rd = rdataOf('t TXT "say \\"hi\\"" "back\\\\slash" "\\065\\255" bare "a;b" ; real comment');
  assert.equal(rd.type, 'TXT');
  if (rd.type !== 'TXT') return;
  assert.deepEqual(rd.strings, [
    Buffer.from('say "hi"'),
    Buffer.from('back\\slash'),
    Buffer.from([65, 255]),
    Buffer.from('bare'),
    Buffer.from('a;b'),
  ]);
  const empty = rdataOf('t TXT ""');
  assert.deepEqual(empty, { type: 'TXT', strings: [Buffer.alloc(0)] });
});

test('a TXT string of 255 bytes is accepted and one of 256 bytes is rejected', () => {
  assert.equal(ok(`t TXT "${'x'.repeat(255)}"`).length, 1);
  // 253 plain bytes + one \DDD byte + a two-byte UTF-8 char = 256: length is counted after unescaping.
  const issue = oneIssue(`t TXT "${'x'.repeat(253)}\\065é"`);
  assert.match(issue.message, /256 bytes/);
  assert.equal(issue.line, 1);
  assert.equal(issue.col, 7);
});

test('each kind of error is reported at its line while the good records around it still parse', () => {
  const text = [
    'good1 A 192.0.2.1', // 1
    'bad1 A 192.0.2.256', // 2 bad IPv4
    'bad2 AAAA 2001:db8::g', // 3 bad IPv6
    'bad3 HINFO "x" "y"', // 4 unknown type
    'bad4 CH A 192.0.2.1', // 5 class CH
    'bad5 99999999999 A 192.0.2.1', // 6 TTL out of range
    'bad6 1x A 192.0.2.1', // 7 bad TTL syntax
    'bad7 MX 65536 mail', // 8 16-bit overflow
    'bad8 SRV 1 2 3', // 9 missing field
    'bad9 A 192.0.2.1 192.0.2.2', // 10 extra field
    'bad_ü A 192.0.2.1', // 11 non-ASCII name
    `${'l'.repeat(64)} A 192.0.2.1`, // 12 label too long
    'a\\.b A 192.0.2.1', // 13 escaped dot
    'a..b A 192.0.2.1', // 14 empty label
    'bad10 CAA 256 issue "ca"', // 15 CAA flags
    'bad11 CAA 0 is-sue "ca"', // 16 CAA tag
    'bad12 SOA ns hm -1 1 1 1 1', // 17 serial
    'bad13', // 18 missing type
    'good2 A 192.0.2.2', // 19
  ].join('\n');
  const res = parse(text);
  assert.deepEqual(
    res.records.map((r) => [r.name, r.line]),
    [
      ['good1.example.com', 1],
      ['good2.example.com', 19],
    ],
  );
  const got = res.issues.map((i): [number, string] => [i.line, i.message]);
  const expected: [number, RegExp][] = [
    [2, /"192\.0\.2\.256" is not a valid IPv4 address/],
    [3, /"2001:db8::g" is not a valid IPv6 address/],
    [4, /unsupported record type "HINFO" \(supported: A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA, SOA\)/],
    [5, /class "CH" is not supported/],
    [6, /out of range 0-2147483647/],
    [7, /TTL "1x" is not a valid duration/],
    [8, /MX preference "65536" must be an integer 0-65535/],
    [9, /SRV record is missing target/],
    [10, /unexpected "192\.0\.2\.2" after A data/],
    [11, /contains "ü".*punycode, e\.g\. "xn--/],
    [12, /is 64 bytes long; the limit is 63/],
    [13, /escaped dots .* not supported/],
    [14, /empty label/],
    [15, /CAA flags "256" must be an integer 0-255/],
    [16, /CAA tag "is-sue"/],
    [17, /SOA serial "-1"/],
    [18, /missing record type/],
  ];
  assert.equal(got.length, expected.length, JSON.stringify(got, null, 1));
  expected.forEach(([line, re], idx) => {
    assert.equal(got[idx][0], line, `issue ${idx}: ${got[idx][1]}`);
    assert.match(got[idx][1], re);
  });
  for (const i of res.issues) {
    assert.equal(i.file, 'zone.db');
    assert.equal(i.path, '');
  }
});

test('issues carry the column of the offending token', () => {
  const issue = oneIssue('www  300  IN  A  10.0.0.999');
  assert.deepEqual([issue.line, issue.col], [1, 18]);
});

test('lineOffset shifts both issue lines and record lines', () => {
  const res = parse('ok A 192.0.2.1\nbad A nope\n', { lineOffset: 10, file: 'map.yaml' });
  assert.deepEqual(
    res.records.map((r) => [r.line, r.file]),
    [[11, 'map.yaml']],
  );
  assert.deepEqual(
    res.issues.map((i) => [i.file, i.line, i.col]),
    [['map.yaml', 12, 7]],
  );
});

test('$INCLUDE and $GENERATE are rejected as not supported, unknown directives too', () => {
  const res = parse('$INCLUDE other.db\na A 192.0.2.1\n$GENERATE 1-10 h$ A 10.0.0.$\n$FOO bar\n');
  assert.deepEqual(
    res.issues.map((i) => [i.line, i.col]),
    [
      [1, 1],
      [3, 1],
      [4, 1],
    ],
  );
  assert.match(res.issues[0].message, /\$INCLUDE is not supported/);
  assert.match(res.issues[1].message, /\$GENERATE is not supported/);
  assert.match(res.issues[2].message, /unknown directive "\$FOO"/);
  assert.equal(res.records.length, 1);
});

test('bad IPv4 and IPv6 addresses are rejected, including the wrong family', () => {
  for (const bad of ['1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', 'example', '"1.2.3.4"']) {
    assert.match(oneIssue(`a A ${bad}`).message, /not a valid IPv4 address/, bad);
  }
  for (const bad of ['2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'gggg::1']) {
    assert.match(oneIssue(`a AAAA ${bad}`).message, /not a valid IPv6 address/, bad);
  }
  assert.match(oneIssue('a A 2001:db8::1').message, /IPv6 address; use an AAAA record/);
  assert.match(oneIssue('a AAAA 192.0.2.1').message, /IPv4 address; use an A record/);
});

test('an unknown record type is rejected with the list of supported types', () => {
  const issue = oneIssue('a 300 IN DNAME b');
  assert.match(issue.message, /unsupported record type "DNAME" \(supported: A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA, SOA\)/);
  assert.equal(issue.col, 10);
  // A forgotten type should not be blamed on the TTL.
  assert.match(oneIssue('www 192.0.2.1').message, /missing record type before "192\.0\.2\.1"/);
});

test('class CH (and any class but IN) is rejected', () => {
  assert.match(oneIssue('a CH A 192.0.2.1').message, /class "CH" is not supported; only IN is/);
  assert.match(oneIssue('a 60 HS TXT x').message, /class "HS" is not supported/);
  assert.match(oneIssue('a CLASS3 A 192.0.2.1').message, /class "CLASS3" is not supported/);
});

test('a blank owner with no previous record is an issue, and an invalid owner is not reused silently', () => {
  const res = parse('  A 192.0.2.1\nbad..name A 192.0.2.1\n  AAAA ::1\ngood A 192.0.2.1\n  AAAA ::1\n');
  assert.deepEqual(
    res.issues.map((i) => i.line),
    [1, 2],
  );
  assert.match(res.issues[0].message, /no previous record/);
  assert.deepEqual(
    res.records.map((r) => [r.name, r.rdata.type]),
    [
      ['good.example.com', 'A'],
      ['good.example.com', 'AAAA'],
    ],
  );
});

test('parenthesis and quote problems are reported where they start and parsing resumes', () => {
  const res = parse(['a TXT "unterminated', 'b A 192.0.2.1', 'c A 192.0.2.1 )', 'd A 192.0.2.2', 'e SOA ns hm ( 1 2 3 4 5'].join('\n'));
  assert.deepEqual(
    res.issues.map((i) => [i.line, i.col]),
    [
      [1, 7],
      [3, 15],
      [5, 13],
    ],
  );
  assert.match(res.issues[0].message, /unterminated quoted string/);
  assert.match(res.issues[1].message, /without a matching/);
  assert.match(res.issues[2].message, /never closed/);
  assert.deepEqual(
    res.records.map((r) => r.name),
    ['b.example.com', 'd.example.com'],
  );
});

test('names longer than 253 characters are rejected after the origin is appended', () => {
  const label = 'a'.repeat(63);
  const rel = [label, label, label, 'a'.repeat(49)].join('.'); // 241 chars + '.example.com' = 253
  assert.equal(ok(`${rel} A 192.0.2.1`)[0].name.length, 253);
  assert.match(oneIssue(`${rel}b A 192.0.2.1`).message, /254 characters long; the limit is 253/);
});

test('rdata names resolve against the current $ORIGIN and the root is the empty string', () => {
  const recs = ok('$ORIGIN net.\nx CNAME y\n$ORIGIN sub\nz MX 5 @\n. NS a.root-servers.net.\n');
  assert.deepEqual(
    recs.map((r) => [r.name, r.rdata]),
    [
      ['x.net', { type: 'CNAME', target: 'y.net' }],
      ['z.sub.net', { type: 'MX', preference: 5, exchange: 'sub.net' }],
      ['', { type: 'NS', target: 'a.root-servers.net' }],
    ],
  );
});

test('SOA timers accept units but the serial must be a plain 32-bit integer', () => {
  assert.equal(ok('@ SOA ns hm 4294967295 1h 1h 1w 1d').length, 1);
  assert.match(oneIssue('@ SOA ns hm 4294967296 1 1 1 1').message, /serial "4294967296" must be an integer 0-4294967295/);
  assert.match(oneIssue('@ SOA ns hm 1h 1 1 1 1').message, /serial "1h"/);
  assert.match(oneIssue('@ SOA ns hm 1 1 1 1 1y').message, /SOA minimum "1y" is not a valid duration/);
});

test('Windows line endings and a BOM do not disturb parsing', () => {
  const recs = ok('\ufeff$TTL 60\r\nwww A 192.0.2.1\r\n  TXT "x"\r\n');
  assert.deepEqual(
    recs.map((r) => [r.name, r.ttl, r.rdata.type]),
    [
      ['www.example.com', 60, 'A'],
      ['www.example.com', 60, 'TXT'],
    ],
  );
});

test('excerpt: at most 20 characters, then "..."; control, format and separator characters and quotes escaped', () => {
  assert.equal(excerpt('www'), 'www');
  assert.equal(excerpt('a'.repeat(20)), 'a'.repeat(20));
  assert.equal(excerpt('a'.repeat(21)), `${'a'.repeat(20)}...`);
  assert.equal(excerpt('a\tb\x00c"d\x7f'), 'a\\x09b\\x00c\\x22d\\x7f');
  // Right-to-left override and a no-break space: shown as escapes, never acted on by a terminal.
  assert.equal(excerpt('x\u202ey\u00a0z'), 'x\\u{202e}y\\xa0z');
  assert.equal(excerpt('bücher 广州'), 'bücher 广州');
});

test('quoteContent: false keeps the reason and the position but none of the text', () => {
  const res = parse('secret-token-value IN SECRETTYPE data\n', { quoteContent: false });
  assert.deepEqual(res.issues.map((i) => [i.line, i.col, i.message]), [[1, 23, 'unsupported record type (supported: A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA, SOA)']]);
  const quoted = parse('secret-token-value IN SECRETTYPE data\n');
  assert.equal(quoted.issues[0].message, 'unsupported record type "SECRETTYPE" (supported: A, AAAA, CNAME, NS, PTR, MX, TXT, SRV, CAA, SOA)');
});
