import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Packet } from 'dns2';
import { ConfigError, formatIssue } from '../../src/common/errors';
import { loadMapFile, parseMapText, type MapConfig } from '../../src/config';
import type { PreparedAnswer } from '../../src/dns';
import { buildResponse } from '../../src/dns/respond';
import { ParseResult, parseQuery, Query } from '../../src/dns/wire';
import { GeoClassifier, GeoDatabase } from '../../src/geo';
import { HealthMirror, MemoryStore } from '../../src/health';
import { buildTransfers, Router, TRANSFER_MESSAGE_BYTES } from '../../src/routing';
import { compareNames } from '../../src/routing/transfer';
import { buildQuery } from '../helpers/packet';
import { writeTemp } from '../helpers/server';
import { until } from '../helpers/wait';

// Zone transfers behind QueryResolver.transfer: who may ask, what the message
// sequence holds (decoded with dns2's parser, independent of how it was
// encoded) and how a big zone is split. The socket side is test/e2e/transfer.test.ts.

const QTYPE_AXFR = 252;
const QTYPE_IXFR = 251;

const MAP = `
server:
  id: ns1.example.org
datacenters:
  fra: { description: Frankfurt }
  iad: { description: Ashburn }
regions:
  europe:
    continents: [EU]
    datacenters: [fra, iad]
  rest:
    default: true
    datacenters: [iad, fra]
zones:
  example.org:
    soa: { mname: ns1.example.org, rname: hostmaster.example.org, serial: 7, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.org]
    transfer: [192.0.2.53, "2001:db8:53::/48"]
    records: |
      ns1        A      192.0.2.1
      @          MX     10 mail
      mail       A      192.0.2.25
      @          TXT    "v=spf1 -all"
      @          CAA    0 issue "letsencrypt.org"
      _sip._udp  SRV    10 60 5060 sip
      sip    300 A      192.0.2.26
      api        CNAME  www
      sub        NS     ns.sub
      ns.sub     A      192.0.2.99
  example.net:
    soa: { mname: ns1.example.org, rname: hostmaster.example.org, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.org]
services:
  www.example.org:
    ttl: 30s
    datacenters:
      fra: { a: [192.0.2.10], aaaa: ["2001:db8:10::10"] }
      iad: { a: [198.51.100.10, 198.51.100.11] }
  db.example.org:
    policy: primary
    primary: fra
    datacenters:
      fra: { a: [192.0.2.20] }
      iad: { a: [198.51.100.20] }
  www.example.net:
    datacenters:
      iad: { a: [198.51.100.30] }
`;

/** example.org's records as dig would print them (TTL, type, data), without the SOAs. */
const EXPECTED = [
  'example.org. 3600 NS ns1.example.org.',
  'example.org. 3600 MX 10 mail.example.org.',
  'example.org. 3600 TXT "v=spf1 -all"',
  'example.org. 3600 CAA 0 issue "letsencrypt.org"',
  '_sip._udp.example.org. 3600 SRV 10 60 5060 sip.example.org.',
  'api.example.org. 3600 CNAME www.example.org.',
  // policy primary: the configured primary (fra), as every region gets it
  'db.example.org. 60 A 192.0.2.20',
  'mail.example.org. 3600 A 192.0.2.25',
  'ns1.example.org. 3600 A 192.0.2.1',
  'sip.example.org. 300 A 192.0.2.26',
  'sub.example.org. 3600 NS ns.sub.example.org.',
  'ns.sub.example.org. 3600 A 192.0.2.99',
  // policy geo: the default region (rest) lists iad first; iad has no AAAA, so the AAAA is the next
  // datacenter's with AAAA (fra), as the query path answers it (aaaa_fallback: next, the default)
  'www.example.org. 30 A 198.51.100.10',
  'www.example.org. 30 A 198.51.100.11',
  'www.example.org. 30 AAAA 2001:db8:10::10',
];
const SOA = 'example.org. 3600 SOA ns1.example.org. hostmaster.example.org. 7 3600 600 1209600 300';

function load(text: string): MapConfig {
  try {
    return parseMapText(text, '/tmp/transfer-test.yaml');
  } catch (e) {
    if (e instanceof ConfigError) assert.fail(e.issues.map(formatIssue).join('\n'));
    throw e;
  }
}

function query(name: string, type = QTYPE_AXFR, qclass = 1): Query {
  const q = new Query();
  assert.equal(parseQuery(buildQuery({ name, type, qclass }), q), ParseResult.OK);
  return q;
}

type Rec = Packet.Resource & Record<string, unknown>;

/** One record in dig's presentation form (the fields dns2's decoder fills in). */
function show(r: Rec): string {
  const head = `${r.name}. ${r.ttl} ${Packet.typeName(r.type)}`;
  switch (r.type) {
    case Packet.TYPE.A:
    case Packet.TYPE.AAAA:
      return `${head} ${String(r.address)}`;
    case Packet.TYPE.NS:
      return `${head} ${String(r.ns)}.`;
    case Packet.TYPE.CNAME:
      return `${head} ${String(r.domain)}.`;
    case Packet.TYPE.MX:
      return `${head} ${String(r.priority)} ${String(r.exchange)}.`;
    case Packet.TYPE.TXT:
      return `${head} ${(r.data as string[]).map((s) => JSON.stringify(s)).join(' ')}`;
    case Packet.TYPE.SRV:
      return `${head} ${String(r.priority)} ${String(r.weight)} ${String(r.port)} ${String(r.target)}.`;
    case Packet.TYPE.CAA:
      return `${head} ${String(r.flags)} ${String(r.tag)} ${JSON.stringify(r.value)}`;
    case Packet.TYPE.SOA:
      return `${head} ${String(r.primary)}. ${String(r.admin)}. ${[r.serial, r.refresh, r.retry, r.expiration, r.minimum].join(' ')}`;
    default:
      return `${head} ?`;
  }
}

/**
 * Each message as the socket layer sends it (header + the query's question +
 * body), decoded with dns2; returns every answer record in order and the wire sizes.
 */
function decode(q: Query, messages: readonly PreparedAnswer[]): { records: string[]; sizes: number[] } {
  const records: string[] = [];
  const sizes: number[] = [];
  for (const m of messages) {
    const wire = buildResponse(q, m, 65535);
    sizes.push(wire.length);
    const p = Packet.parse(wire);
    assert.equal(p.header.aa, 1, 'authoritative');
    assert.equal(p.header.rcode, 0);
    assert.equal(p.answers.length, m.an, 'ANCOUNT matches the records present');
    assert.equal(p.authorities.length + p.additionals.length, 0);
    records.push(...p.answers.map((r) => show(r as Rec)));
  }
  return { records, sizes };
}

describe('compareNames (canonical order, RFC 4034 6.1)', () => {
  test('the apex first, then names by labels from the right', () => {
    const names = ['www.example.org', 'a.b.example.org', 'example.org', '_sip._udp.example.org', 'b.example.org', 'z.example.org', 'ns.sub.example.org', 'sub.example.org'];
    assert.deepEqual([...names].sort(compareNames), [
      'example.org',
      '_sip._udp.example.org',
      'b.example.org',
      'a.b.example.org',
      'sub.example.org',
      'ns.sub.example.org',
      'www.example.org',
      'z.example.org',
    ]);
  });
});

describe('buildTransfers', () => {
  const map = load(MAP);
  const transfers = buildTransfers(map);

  test('only zones with a transfer list get one', () => {
    assert.deepEqual([...transfers.keys()], ['example.org']);
  });

  test('SOA first and last, and exactly the zone\'s records (static, glue, delegation, services) in canonical order', () => {
    const { records } = decode(query('example.org'), transfers.get('example.org')?.messages ?? []);
    assert.equal(records[0], SOA);
    assert.equal(records[records.length - 1], SOA);
    assert.deepEqual(records.slice(1, -1), EXPECTED);
  });

  test('a question spelled in another case keeps its bytes, and every compression pointer still resolves', () => {
    const q = query('ExAmPlE.oRg');
    const messages = transfers.get('example.org')?.messages ?? [];
    for (const m of messages) assert.equal(buildResponse(q, m, 65535).toString('latin1', 12, q.questionEnd), q.buf.toString('latin1', 12, q.questionEnd));
    // Owners compressed against the question come back in the client's spelling.
    const { records } = decode(q, messages);
    assert.deepEqual(records.map((r) => r.toLowerCase()), [SOA, ...EXPECTED, SOA].map((r) => r.toLowerCase()));
  });

  test('a service in a zone without a transfer list stays out of other zones', () => {
    const { records } = decode(query('example.org'), transfers.get('example.org')?.messages ?? []);
    assert.ok(!records.some((r) => r.includes('example.net.')));
  });
});

describe('Router.transfer', () => {
  const map = load(MAP);
  const store = new MemoryStore();
  const mirror = new HealthMirror(store);
  let router: Router;
  before(async () => {
    await mirror.start();
    router = new Router(map, new GeoClassifier(GeoDatabase.open(GeoDatabase.geoLite2Path()), map.rules, { trie: 'lazy' }), mirror);
  });
  after(() => {
    router.detach();
    mirror.stop();
  });

  test('an address on the list gets the messages, for AXFR and IXFR alike', () => {
    const messages = router.transfer(query('example.org'), '192.0.2.53');
    assert.ok(messages && messages.length >= 1);
    assert.equal(router.transfer(query('example.org', QTYPE_IXFR), '192.0.2.53'), messages);
  });

  test('IPv6 sources inside a listed network and IPv4-mapped sources are allowed', () => {
    assert.notEqual(router.transfer(query('example.org'), '2001:db8:53::1'), null);
    assert.notEqual(router.transfer(query('example.org'), '::ffff:192.0.2.53'), null);
  });

  test('sources off the list are refused', () => {
    for (const client of ['192.0.2.54', '127.0.0.1', '2001:db8:54::1', '::ffff:192.0.2.54', 'not-an-ip']) {
      assert.equal(router.transfer(query('example.org'), client), null, client);
    }
  });

  test('a zone without a list, a name below the apex, a name outside our zones and class CH are refused', () => {
    assert.equal(router.transfer(query('example.net'), '192.0.2.53'), null);
    assert.equal(router.transfer(query('www.example.org'), '192.0.2.53'), null);
    assert.equal(router.transfer(query('sub.example.org'), '192.0.2.53'), null);
    assert.equal(router.transfer(query('example.com'), '192.0.2.53'), null);
    assert.equal(router.transfer(query('example.org', QTYPE_AXFR, 3), '192.0.2.53'), null);
  });

  test('health changes move answers but not the transfer', async () => {
    const was = router.transfer(query('example.org'), '192.0.2.53');
    const bytes = Buffer.concat((was ?? []).map((m) => m.body));
    await store.setDrain({ dc: 'iad', service: 'www.example.org', forMs: 60_000, reason: 'test', by: 'test' });
    await until('iad drained for www', () => !mirror.isUp('www.example.org', 'iad'));
    router.refreshHealth();
    // The default region's clients now get fra...
    const a = router.resolve(query('www.example.org', 1), '127.0.0.1');
    assert.ok(a.body.includes(Buffer.from([192, 0, 2, 10])), 'answer moved to fra');
    // ...while the transfer still carries iad's addresses and the same serial.
    const now = router.transfer(query('example.org'), '192.0.2.53');
    assert.deepEqual(Buffer.concat((now ?? []).map((m) => m.body)), bytes);
  });
});

describe('a big zone', () => {
  const N = 2000;
  const lines = Array.from({ length: N }, (_, i) => `      t${i}  TXT  "record ${i} of a generated zone, padded to look like an SPF or DKIM string"`);
  const text = MAP.replace('      ns.sub     A      192.0.2.99\n', `      ns.sub     A      192.0.2.99\n${lines.join('\n')}\n`);
  const map = loadMapFile(writeTemp('big-map.yaml', text));
  const messages = buildTransfers(map).get('example.org')?.messages ?? [];

  test('is split into several messages, each well under 65,535 bytes', () => {
    const { sizes } = decode(query('example.org'), messages);
    assert.ok(messages.length > 1, `${messages.length} message(s)`);
    for (const s of sizes) assert.ok(s < 65535 && s <= TRANSFER_MESSAGE_BYTES + 512, `message of ${s} bytes`);
  });

  test('still opens and closes with the SOA and carries every record once', () => {
    const { records } = decode(query('example.org'), messages);
    assert.equal(records[0], SOA);
    assert.equal(records[records.length - 1], SOA);
    assert.equal(records.filter((r) => r.startsWith(SOA)).length, 2);
    assert.equal(records.length, N + EXPECTED.length + 2);
    const txt = new Set(records.filter((r) => /^t\d+\.example\.org\. 3600 TXT /.test(r)).map((r) => r.split('.')[0]));
    assert.equal(txt.size, N);
  });
});
