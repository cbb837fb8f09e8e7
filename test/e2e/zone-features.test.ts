import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Truncation, delegations and long CNAME chains, on the sample map plus extra records.

const extra = [
  // 40 A records: ~660 bytes, over 512 (no EDNS) but under 1232.
  ...Array.from({ length: 40 }, (_, i) => `big        A      192.0.2.${i + 1}`),
  // 100 A records: ~1.6 KB, over 1232 too: only TCP can carry it.
  ...Array.from({ length: 100 }, (_, i) => `huge       A      198.51.100.${i + 1}`),
  'sub        NS     ns.sub',
  'sub        NS     ns.elsewhere.net.',
  'ns.sub     A      192.0.2.53',
  'c1         CNAME  c2',
  'c2         CNAME  www',
  'out        CNAME  www.example.net.',
  'dangling   CNAME  missing',
];
let s: TestServer;
before(async () => {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('      sip        A      192.0.2.26\n', `      sip        A      192.0.2.26\n${extra.map((l) => '      ' + l).join('\n')}\n`);
  s = await startServer({ mapText: text });
});
after(async () => {
  await s.close();
});

test('a reply over 512 bytes without EDNS is truncated (TC) and complete over TCP', async () => {
  const udp = await dig(s.port, ['big.example.com', 'A', '+noedns', '+ignore']);
  assert.ok(udp.flags.includes('tc'));
  assert.equal(udp.answer.length, 0);
  const tcp = await dig(s.port, ['big.example.com', 'A', '+noedns']); // dig retries over TCP on TC
  assert.equal(tcp.answer.length, 40);
});

test('with EDNS the same reply fits in 1232 bytes', async () => {
  const r = await dig(s.port, ['big.example.com', 'A', '+bufsize=1232', '+ignore']);
  assert.ok(!r.flags.includes('tc'));
  assert.equal(r.answer.length, 40);
});

test('the client\'s larger buffer is capped at 1232: a 1.6 KB reply is truncated over UDP', async () => {
  const r = await dig(s.port, ['huge.example.com', 'A', '+bufsize=4096', '+ignore']);
  assert.ok(r.flags.includes('tc'));
  assert.equal(r.edns?.udp, 1232, 'the OPT record survives truncation');
  const t = await dig(s.port, ['huge.example.com', 'A', '+tcp']);
  assert.equal(t.answer.length, 100);
});

test('a delegated name gets a referral: no AA, NS in authority, glue in additional', async () => {
  const r = await dig(s.port, ['host.sub.example.com', 'A']);
  assert.equal(r.status, 'NOERROR');
  assert.ok(!r.flags.includes('aa'));
  assert.equal(r.answer.length, 0);
  assert.deepEqual(r.authority.map((x) => x[4]).sort(), ['ns.elsewhere.net.', 'ns.sub.example.com.']);
  assert.deepEqual(r.additional.map((x) => x[4]), ['192.0.2.53']);
});

test('DS at a delegation point is answered by the parent side (NODATA, AA)', async () => {
  const r = await dig(s.port, ['sub.example.com', 'DS']);
  assert.equal(r.status, 'NOERROR');
  assert.ok(r.flags.includes('aa'));
  assert.equal(r.authority[0][3], 'SOA');
});

test('a CNAME chain inside the zone is followed to the end', async () => {
  const r = await dig(s.port, ['c1.example.com', 'A', '+subnet=202.96.0.0/24']);
  assert.deepEqual(r.answer.map((x) => x[3]), ['CNAME', 'CNAME', 'A']);
  assert.equal(r.answer[2][4], '198.51.100.10');
});

test('a CNAME leaving our zones is answered alone', async () => {
  const r = await dig(s.port, ['out.example.com', 'A']);
  assert.equal(r.status, 'NOERROR');
  assert.deepEqual(r.answer.map((x) => x[3]), ['CNAME']);
});

test('a CNAME to a missing in-zone name is NXDOMAIN with the CNAME (RFC 6604)', async () => {
  const r = await dig(s.port, ['dangling.example.com', 'A']);
  assert.equal(r.status, 'NXDOMAIN');
  assert.deepEqual(r.answer.map((x) => x[3]), ['CNAME']);
  assert.equal(r.authority[0][3], 'SOA');
});

test('asking for the CNAME type itself returns just the CNAME', async () => {
  const r = await dig(s.port, ['api.example.com', 'CNAME']);
  assert.deepEqual(r.answer.map((x) => x[3]), ['CNAME']);
});

test('a dot inside a label is not a delegation cut: host\\.sub.example.com is NXDOMAIN, not a referral', async () => {
  const r = await dig(s.port, ['host\\.sub.example.com.', 'A']);
  assert.equal(r.status, 'NXDOMAIN');
  assert.ok(r.flags.includes('aa'));
  assert.equal(r.authority[0][3], 'SOA');
  assert.equal(r.authority[0][0], 'example.com.');
  // And `sub.example.com` as one label is outside the zone.
  assert.equal((await dig(s.port, ['host.sub\\.example\\.com.', 'A'])).status, 'REFUSED');
});

test('a CNAME owner with an escaped dot is another name: c1\\.example.com gets no chain', async () => {
  const r = await dig(s.port, ['c1\\.example.com.', 'A']);
  assert.equal(r.status, 'REFUSED');
  const cased = await dig(s.port, ['C1.EXAMPLE.com.', 'A', '+subnet=202.96.0.0/24']);
  assert.deepEqual(cased.answer.map((x) => x[3]), ['CNAME', 'CNAME', 'A']);
  // RDATA names are the zone's, label for label (case may follow the question's, as compression allows).
  assert.deepEqual(cased.answer.slice(0, 2).map((x) => x[4].toLowerCase()), ['c2.example.com.', 'www.example.com.']);
});
