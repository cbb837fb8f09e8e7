import assert from 'node:assert/strict';
import { Resolver } from 'node:dns/promises';
import { after, before, describe, test } from 'node:test';
import { dig } from '../helpers/dig';
import { buildQuery, ecsOption, rcodeOf, udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';

// The checklist a DNS engineer runs with dig against the sample map
// (geodata/map.yaml), one behaviour per test, against a real listening server.

const GD = '183.6.0.0/24'; // CN-GD (the default database's network 183.6.0.0/18)
const BJ = '202.96.0.0/24'; // CN-BJ (202.96.0.0/18)
const US = '8.8.8.0/24'; // US (8.8.0.0/17)

let s: TestServer;
before(async () => {
  s = await startServer();
});
after(async () => {
  await s.close();
});

describe('geo routing', () => {
  test('a Guangdong subnet gets the gz address with the widest same-region block as scope', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
    // The database's network is 183.6.0.0/18; every address of 183.0.0.0/11 is south too (like gdnsd's /11).
    assert.deepEqual(r.ecs, { address: '183.6.0.0', source: 24, scope: 11 });
  });

  test('a Beijing subnet gets the bj address', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${BJ}`]);
    assert.deepEqual(r.answer.map((a) => a[4]), ['198.51.100.10']);
    assert.deepEqual(r.ecs, { address: '202.96.0.0', source: 24, scope: 18 });
  });

  test('a US subnet gets the sg address', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${US}`]);
    assert.deepEqual(r.answer.map((a) => a[4]), ['203.0.113.10']);
    assert.deepEqual(r.ecs, { address: '8.8.8.0', source: 24, scope: 9 });
  });

  test('CN without a subdivision (114.114.114.0/24) is north', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+subnet=114.114.114.0/24']);
    assert.deepEqual(r.answer.map((a) => a[4]), ['198.51.100.10']);
  });

  test('AAAA follows the same region choice', async () => {
    const gd = await dig(s.port, ['www.example.com', 'AAAA', `+subnet=${GD}`]);
    const us = await dig(s.port, ['www.example.com', 'AAAA', `+subnet=${US}`]);
    assert.deepEqual(gd.answer.map((a) => a[4]), ['2001:db8:10::10']);
    assert.deepEqual(us.answer.map((a) => a[4]), ['2001:db8:30::10']);
  });

  test('an IPv6 /56 client subnet is routed and echoed', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+subnet=2001:4860:4860::/56']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((a) => a[4]), ['203.0.113.10']);
    assert.equal(r.ecs?.source, 56);
    assert.ok(r.ecs && r.ecs.scope > 0 && r.ecs.scope <= 56, `scope ${r.ecs?.scope}`);
  });

  test('ECS source /0 means "do not tailor": resolver address used and scope 0', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+subnet=0.0.0.0/0']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((a) => a[4]), ['203.0.113.10']); // 127.0.0.1 is in no country: default region
    assert.equal(r.ecs?.scope, 0);
  });

  test('without ECS the resolver address decides and no ECS is echoed', async () => {
    const r = await dig(s.port, ['www.example.com', 'A']);
    assert.deepEqual(r.answer.map((a) => a[4]), ['203.0.113.10']);
    assert.equal(r.ecs, null);
  });

  test('answers that do not depend on the client carry scope 0', async () => {
    const r = await dig(s.port, ['mail.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.25']);
    assert.equal(r.ecs?.scope, 0);
  });

  test('malformed ECS (IPv4 source prefix 33) gets FORMERR', async () => {
    const opt = ecsOption('1.2.3.4', 32);
    opt.data[2] = 33;
    const reply = await udpExchange(s.port, buildQuery({ name: 'www.example.com', edns: { options: [opt] } }));
    assert.ok(reply);
    assert.equal(rcodeOf(reply), 1);
  });
});

describe('authoritative answers', () => {
  test('AA set and RA clear even when recursion is desired', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+rec']);
    assert.ok(r.flags.includes('aa'));
    assert.ok(r.flags.includes('rd'), 'RD is copied from the query');
    assert.ok(!r.flags.includes('ra'));
  });

  test('names outside our zones are REFUSED', async () => {
    const r = await dig(s.port, ['www.example.org', 'A']);
    assert.equal(r.status, 'REFUSED');
    assert.ok(!r.flags.includes('aa'));
  });

  test('NXDOMAIN carries the SOA with the negative TTL min(SOA TTL, MINIMUM)', async () => {
    const r = await dig(s.port, ['nope.example.com', 'A']);
    assert.equal(r.status, 'NXDOMAIN');
    assert.ok(r.flags.includes('aa'));
    assert.equal(r.answer.length, 0);
    assert.equal(r.authority.length, 1);
    assert.equal(r.authority[0][3], 'SOA');
    assert.equal(r.authority[0][0], 'example.com.', 'the SOA owner is the apex, not the query name');
    assert.equal(r.authority[0][4], 'ns1.example.com.');
    assert.equal(r.authority[0][1], '300');
  });

  test('NXDOMAIN deeper in the zone keeps a correct SOA (no stale compression)', async () => {
    const r = await dig(s.port, ['a.b.c.nope.example.com', 'AAAA']);
    assert.equal(r.status, 'NXDOMAIN');
    assert.deepEqual(r.authority[0].slice(0, 5), ['example.com.', '300', 'IN', 'SOA', 'ns1.example.com.']);
  });

  test('NODATA: an existing name without the type answers NOERROR, empty, SOA in authority', async () => {
    const r = await dig(s.port, ['www.example.com', 'TXT']);
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer.length, 0);
    assert.equal(r.authority[0][3], 'SOA');
  });

  test('an empty non-terminal is NODATA, not NXDOMAIN', async () => {
    const r = await dig(s.port, ['_udp.example.com', 'A']);
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer.length, 0);
    assert.equal(r.authority[0][3], 'SOA');
  });

  test('a CNAME inside the zone is followed to a geo answer', async () => {
    const r = await dig(s.port, ['api.example.com', 'A', `+subnet=${BJ}`]);
    assert.deepEqual(
      r.answer.map((a) => [a[0], a[3], a[4]]),
      [
        ['api.example.com.', 'CNAME', 'www.example.com.'],
        ['www.example.com.', 'A', '198.51.100.10'],
      ],
    );
    assert.equal(r.ecs?.scope, 18);
  });

  test('SOA at the apex', async () => {
    const r = await dig(s.port, ['example.com', 'SOA']);
    assert.equal(r.answer[0][3], 'SOA');
    assert.equal(r.answer[0][4], 'ns1.example.com.');
    assert.equal(r.answer[0][6], '2026112601');
  });

  test('NS at the apex with glue addresses in additional', async () => {
    const r = await dig(s.port, ['example.com', 'NS']);
    assert.deepEqual(r.answer.map((a) => a[4]).sort(), ['ns1.example.com.', 'ns2.example.com.']);
    assert.deepEqual(r.additional.map((a) => a[4]).sort(), ['127.0.0.1', '127.0.0.2']);
  });

  test('MX, TXT, CAA and SRV static records', async () => {
    assert.deepEqual((await dig(s.port, ['example.com', 'MX'])).answer.map((a) => a.slice(4).join(' ')), ['10 mail.example.com.']);
    assert.deepEqual((await dig(s.port, ['example.com', 'TXT'])).answer.map((a) => a.slice(4).join(' ')), ['"v=spf1 mx -all"']);
    assert.deepEqual((await dig(s.port, ['example.com', 'CAA'])).answer.map((a) => a.slice(4).join(' ')), ['0 issue "letsencrypt.org"']);
    assert.deepEqual((await dig(s.port, ['_sip._udp.example.com', 'SRV'])).answer.map((a) => a.slice(4).join(' ')), ['10 60 5060 sip.example.com.']);
  });

  test('the question case is preserved in the reply', async () => {
    const r = await dig(s.port, ['WwW.ExAmPlE.cOm', 'A']);
    assert.match(r.raw, /;WwW\.ExAmPlE\.cOm\.\s+IN\s+A/);
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer.length, 1);
  });

  test('ANY is answered minimally with one RRset (RFC 8482)', async () => {
    const r = await dig(s.port, ['example.com', 'ANY']);
    assert.equal(r.status, 'NOERROR');
    assert.equal(new Set(r.answer.map((a) => a[3])).size, 1);
  });

  test('AXFR is refused', async () => {
    const r = await dig(s.port, ['example.com', 'AXFR']);
    assert.match(r.raw, /Transfer failed|REFUSED/);
  });

  test('IXFR is refused', async () => {
    const reply = await udpExchange(s.port, buildQuery({ name: 'example.com', type: 251 }));
    assert.ok(reply);
    assert.equal(rcodeOf(reply), 5);
  });

  test('NOTIFY and other opcodes get NOTIMP', async () => {
    const r = await dig(s.port, ['example.com', 'SOA', '+opcode=notify']);
    assert.equal(r.status, 'NOTIMP');
    const reply = await udpExchange(s.port, buildQuery({ name: 'example.com', opcode: 2 }));
    assert.ok(reply);
    assert.equal(rcodeOf(reply), 4);
  });

  test('CHAOS and other classes outside IN are REFUSED', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '-c', 'HS']);
    assert.equal(r.status, 'REFUSED');
  });
});

describe('EDNS0', () => {
  test('OPT is echoed with our UDP size 1232', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+bufsize=4096']);
    assert.deepEqual(r.edns && { v: r.edns.version, udp: r.edns.udp }, { v: 0, udp: 1232 });
  });

  test('no OPT in the query, none in the reply', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+noedns']);
    assert.equal(r.edns, null);
    assert.equal(r.status, 'NOERROR');
  });

  test('EDNS version 1 gets BADVERS with an OPT of version 0', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+edns=1', '+noednsnegotiation']);
    assert.equal(r.status, 'BADVERS');
    assert.equal(r.edns?.version, 0);
    assert.equal(r.answer.length, 0);
  });

  test('unknown EDNS options are ignored', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+ednsopt=65001:c0ffee']);
    assert.equal(r.status, 'NOERROR');
    assert.equal(r.answer.length, 1);
  });

  test('the DO bit is echoed', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+dnssec']);
    assert.match(r.edns?.flags ?? '', /do/);
  });
});

describe('TCP', () => {
  test('dig over TCP gets the same geo answer', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+tcp', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.equal(r.ecs?.scope, 11);
  });
});

describe("Node's c-ares resolver", () => {
  test('resolve4, resolveMx, resolveTxt, resolveSrv, resolveCname and NXDOMAIN', async () => {
    const res = new Resolver({ timeout: 2000, tries: 1 });
    res.setServers([`127.0.0.1:${s.port}`]);
    assert.deepEqual(await res.resolve4('www.example.com'), ['203.0.113.10']);
    assert.deepEqual(await res.resolve6('www.example.com'), ['2001:db8:30::10']);
    assert.deepEqual(await res.resolveMx('example.com'), [{ exchange: 'mail.example.com', priority: 10 }]);
    assert.deepEqual(await res.resolveTxt('example.com'), [['v=spf1 mx -all']]);
    assert.deepEqual(await res.resolveSrv('_sip._udp.example.com'), [{ name: 'sip.example.com', port: 5060, priority: 10, weight: 60 }]);
    assert.deepEqual(await res.resolveCname('api.example.com'), ['www.example.com']);
    await assert.rejects(res.resolve4('nope.example.com'), { code: 'ENOTFOUND' });
  });
});

describe('ECS edge cases', () => {
  test('an IPv4-mapped IPv6 subnet is classified as IPv4 and its scope given in IPv6 bits', async () => {
    const r = await dig(s.port, ['www.example.com', 'A', '+subnet=::ffff:183.6.0.0/120']);
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.equal(r.ecs?.scope, 96 + 11);
  });
});
