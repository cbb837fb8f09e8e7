import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadMapFile } from '../../src/config';
import type { PreparedAnswer } from '../../src/dns';
import { buildTransfers } from '../../src/routing';
import { unpackTables } from '../../src/routing/pack';
import { buildPacked, buildServices, type Entry } from '../../src/routing/tables';
import { bigZoneLine } from '../helpers/big-zone';

// The answers' bytes, held to a digest recorded when the table builder was
// rewritten to write packed arrays directly (issue 15): the old builder
// (e729768: PreparedAnswer objects, then packTables) gave this digest for this
// map, and the new one must give every name, type, service variant, shared
// answer and transfer message the same bytes. A deliberate change of the
// answers changes the digest: check the diff of the dump (printed on failure)
// and record the new one.

const DIGEST = '4dfb440d1c963d0daf876f975e48643af23d00f59afbd86c1f215a4591d9da9d';

// The sample map's shape, plus delegations with glue, CNAME chains (in the zone, across zones, out, into a
// delegation, a loop), multi-record RRsets, an empty non-terminal, weighted and IPv4-only services, a transfer list.
const MAP = `server:
  id: ns1.example.com
geoip:
  database: default
datacenters:
  gz: { description: Guangzhou }
  bj: { description: Beijing }
  sg: { description: Singapore }
regions:
  south:
    subdivisions: [CN-GD, CN-GX, CN-HI, CN-FJ, CN-JX, CN-HN, CN-GZ, CN-YN, CN-SC, CN-CQ, CN-HB, CN-ZJ, CN-XZ]
    datacenters: [gz, bj, sg]
  north:
    countries: [CN]
    datacenters: [bj, gz, sg]
  overseas:
    default: true
    datacenters: [sg, gz, bj]
zones:
  example.com:
    soa:
      mname: ns1.example.com
      rname: hostmaster.example.com
      serial: 2026112601
      refresh: 1h
      retry: 10m
      expire: 14d
      minimum: 5m
      ttl: 1h
    ns: [ns1.example.com, ns2.example.com]
    ttl: 1h
    file: big.zone
    transfer: [127.0.0.1/32]
    records: |
      ns1        A      127.0.0.1
      ns2        A      127.0.0.2
      @          MX     10 mail
      mail       A      192.0.2.25
      @          TXT    "v=spf1 mx -all"
      @          CAA    0 issue "letsencrypt.org"
      api        CNAME  www
      _sip._udp  SRV    10 60 5060 sip
      sip        A      192.0.2.26
      sub        NS     ns.sub
      ns.sub     A      192.0.2.53
      deep.x.sub A 192.0.2.54
      txt        TXT    "a b" "c"
      c1 CNAME c2
      c2 CNAME mail
      out CNAME www.example.net.
      cross CNAME alias.example.org.
      insub CNAME host.sub
      loop1 CNAME loop2
      loop2 CNAME loop1
      two A 192.0.2.1
      two A 192.0.2.2
      two AAAA 2001:db8::2
      two MX 5 mail
      two MX 6 ns.sub
      a.b.c.ent TXT "x"
      Srv2 SRV 1 2 3 two
      _d._tcp.two SRV 0 0 80 www
      ptr PTR mail
  example.org:
    soa: { mname: ns1.example.com, rname: hostmaster.example.org, serial: 7, refresh: 1h, retry: 10m, expire: 14d, minimum: 1m }
    ns: [ns1.example.com]
    records: |
      alias CNAME target
      target AAAA 2001:db8::99
      @ MX 0 mail.example.com.
services:
  www.example.com:
    ttl: 60s
    datacenters:
      gz: { a: [192.0.2.10], aaaa: ["2001:db8:10::10"] }
      bj: { a: [198.51.100.10], aaaa: ["2001:db8:20::10"] }
      sg: { a: [203.0.113.10], aaaa: ["2001:db8:30::10"] }
    fallback: first
  cdn.example.com:
    answers: weighted 2
    datacenters:
      gz: { a: [192.0.2.1, 192.0.2.2, 192.0.2.3, { addr: 192.0.2.4, weight: 2 }], aaaa: ["2001:db8::1", "2001:db8::2", "2001:db8::3"] }
      bj: { a: [198.51.100.10] }
  v4only.example.com:
    ttl: 30s
    datacenters:
      gz: { a: [192.0.2.77] }
      sg: { a: [192.0.2.78] }
`;

function dump(): string {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-digest-'));
  const zone: string[] = [];
  for (let i = 0; i < 3000; i++) zone.push(bigZoneLine(i));
  writeFileSync(join(dir, 'big.zone'), zone.join(''));
  writeFileSync(join(dir, 'map.yaml'), MAP);
  const map = loadMapFile(join(dir, 'map.yaml'));
  const services = buildServices(map);
  const { tables: t, transfers } = unpackTables(buildPacked(map, services, new Map(), buildTransfers(map)), services);
  const ans = (a: PreparedAnswer | null): string =>
    a ? `${a.rcode}/${a.aa}/${a.an}/${a.ns}/${a.ar}/${a.body.toString('hex')} min(${ans(a.minimal)}) sig(${ans(a.signed)})` : '-';
  const ent = (e: Entry): string =>
    e.dynamic
      ? `dyn svc=${e.service.index} ${e.route === e.service.a ? 'a' : 'aaaa'} w=${e.weights ? (e.weights === e.service.weights.a ? 'a' : 'aaaa') : '-'} [${e.answers.map(ans).join(' ; ')}]`
      : ans(e.answer);
  const out: string[] = [];
  const nodes = t.nodes as typeof t.nodes & { keys(): IterableIterator<string> };
  for (const name of [...nodes.keys()].sort()) {
    const nd = t.nodes.get(name);
    assert.ok(nd, name);
    out.push(`${name} types ${[...nd.types.keys()].join(',')}`);
    for (const [k, e] of nd.types) out.push(`  ${k} ${ent(e)}`);
    out.push(`  other ${ent(nd.other)}`);
    out.push(`  any ${ent(nd.any)}`);
  }
  out.push(`size ${t.nodes.size}`);
  for (const key of ['nxdomain', 'referrals'] as const) for (const [k, v] of t[key]) for (const len of [1, 13, 30, 200]) out.push(`${key} ${k} ${len} ${ans(v.forLength(len))}`);
  for (const [z, tr] of transfers) out.push(`transfer ${z} ${JSON.stringify(tr.acl)} ${tr.messages.map(ans).join(' ; ')}`);
  return out.join('\n');
}

test('every answer of a generated zone and the sample map has the bytes recorded before the builder was rewritten', () => {
  const text = dump();
  assert.ok(text.includes('cross.example.com types 1,28,5') && text.includes('dyn svc=1 aaaa w=aaaa'), 'the map has what the digest covers');
  const got = createHash('sha256').update(text).digest('hex');
  if (got !== DIGEST) {
    const path = join(tmpdir(), 'geosteer-answers-digest.txt');
    writeFileSync(path, text + '\n');
    assert.fail(`answers digest ${got}, recorded ${DIGEST}; the dump is in ${path}`);
  }
});
