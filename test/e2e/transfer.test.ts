import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig';
import { buildQuery, rcodeOf, udpExchange } from '../helpers/packet';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Zone transfers with real dig over TCP: the sample map, transfer allowed to
// 127.0.0.1 only, plus 2,000 TXT records so the zone spans several messages.
// dig -b 127.0.0.2 asks from a loopback address that is not on the list.

const N = 2000;
const SOA = ['example.com.', '3600', 'IN', 'SOA', 'ns1.example.com.', 'hostmaster.example.com.', '2026112601', '3600', '600', '1209600', '300'];

/** dig's AXFR output: one record per line, no sections; `;; XFR size:` gives records and messages. */
function parseXfr(raw: string): { records: string[][]; messages: number; failed: boolean } {
  const records = raw
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.split(/\s+/));
  const m = /;; XFR size: (\d+) records \(messages (\d+)/.exec(raw);
  return { records, messages: m ? Number(m[2]) : 0, failed: /Transfer failed/.test(raw) };
}

describe('zone transfers with dig', () => {
  let s: TestServer;
  before(async () => {
    const lines = Array.from({ length: N }, (_, i) => `      t${i}  TXT  "record ${i} of a generated zone, padded to look like a DKIM key"`);
    const text = readFileSync(DEFAULT_MAP, 'utf8')
      .replace('    ns: [ns1.example.com, ns2.example.com]\n', '    ns: [ns1.example.com, ns2.example.com]\n    transfer: [127.0.0.1]\n')
      .replace('      sip        A      192.0.2.26\n', `      sip        A      192.0.2.26\n${lines.join('\n')}\n`);
    s = await startServer({ mapText: text });
  });
  after(async () => {
    await s?.close();
  });

  test('dig AXFR from a listed address gets the whole zone, SOA first and last, over several messages', async () => {
    const r = await dig(s.port, ['example.com', 'AXFR']);
    const x = parseXfr(r.raw);
    assert.ok(!x.failed, r.raw.slice(0, 500));
    assert.deepEqual(x.records[0], SOA);
    assert.deepEqual(x.records[x.records.length - 1], SOA);
    assert.equal(x.records.filter((rr) => rr[3] === 'SOA').length, 2);
    assert.ok(x.messages > 1, `messages: ${x.messages}`);
    const txt = x.records.filter((rr) => rr[3] === 'TXT' && /^t\d+\.example\.com\.$/.test(rr[0]));
    assert.equal(new Set(txt.map((rr) => rr[0])).size, N);
    const has = (line: string): boolean => x.records.some((rr) => rr.join(' ') === line);
    for (const line of [
      'example.com. 3600 IN NS ns1.example.com.',
      'ns2.example.com. 3600 IN A 127.0.0.2',
      'api.example.com. 3600 IN CNAME www.example.com.',
      '_sip._udp.example.com. 3600 IN SRV 10 60 5060 sip.example.com.',
      // the service as the default region (overseas, sg first) gets it
      'www.example.com. 60 IN A 203.0.113.10',
      'www.example.com. 60 IN AAAA 2001:db8:30::10',
    ]) {
      assert.ok(has(line), `missing: ${line}`);
    }
    assert.equal(x.records.filter((rr) => rr[0] === 'www.example.com.').length, 2, 'one address per family, not every datacenter');
  });

  test('dig IXFR gets the same full transfer (RFC 1995 section 4)', async () => {
    const axfr = parseXfr((await dig(s.port, ['example.com', 'AXFR'])).raw);
    const ixfr = parseXfr((await dig(s.port, ['example.com', 'IXFR=2026112600'])).raw);
    assert.ok(!ixfr.failed);
    assert.deepEqual(ixfr.records, axfr.records);
  });

  test('a source off the list is refused', async () => {
    const r = await dig(s.port, ['-b', '127.0.0.2', 'example.com', 'AXFR']);
    const x = parseXfr(r.raw);
    assert.ok(x.failed, r.raw);
    assert.equal(x.records.length, 0);
  });

  test('a name below the apex is not transferred', async () => {
    const x = parseXfr((await dig(s.port, ['www.example.com', 'AXFR'])).raw);
    assert.ok(x.failed);
    assert.equal(x.records.length, 0);
  });

  test('AXFR over UDP gets no records, even from a listed address', async () => {
    const reply = await udpExchange(s.port, buildQuery({ name: 'example.com', type: 252 }), 2000);
    assert.ok(reply);
    assert.notEqual(rcodeOf(reply), 0);
    assert.equal(reply.readUInt16BE(6), 0, 'ANCOUNT');
  });
});
