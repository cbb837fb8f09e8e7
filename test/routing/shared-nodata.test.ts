import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadMapFile } from '../../src/config';
import { encodeAnswer } from '../../src/routing/encode';
import { unpackTables } from '../../src/routing/pack';
import { buildPacked, buildServices } from '../../src/routing/tables';

// The builder encodes a zone's NODATA body once per name length and shares it (routing/tables.ts entryFor): the SOA's
// names are compressed against the question, so equal lengths give equal bytes, except for names at or below the SOA's
// own names inside the zone, whose pointers land elsewhere. Each name's NODATA must still be the bytes the writer
// makes for that name alone.

const MAP = `datacenters:
  gz: { description: Guangzhou }
regions:
  all:
    default: true
    datacenters: [gz]
zones:
  example.com:
    soa: { mname: ns1.example.com, rname: host.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      ns1 A 192.0.2.1
      ns2 A 192.0.2.2
      host TXT "x"
      hos2 TXT "y"
      a.ns1 A 192.0.2.3
      b.ns2 A 192.0.2.4
      x.host A 192.0.2.5
      y.hos2 A 192.0.2.6
      q.x.host AAAA 2001:db8::1
      q.y.hos2 AAAA 2001:db8::2
  sub.example.net:
    soa: { mname: ns.example.org, rname: h.example.org, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns.example.org]
    records: |
      aaa A 192.0.2.7
      bbb A 192.0.2.8
`;

test('a shared NODATA body is, for every name, the bytes encoded for that name alone', () => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-shared-nodata-'));
  writeFileSync(join(dir, 'map.yaml'), MAP);
  const map = loadMapFile(join(dir, 'map.yaml'));
  const packed = buildPacked(map, buildServices(map), new Map(), new Map());
  const { tables } = unpackTables(packed, buildServices(map));
  let checked = 0;
  for (const zone of map.zones) {
    const s = zone.soa;
    const soa = { name: zone.name, ttl: Math.min(s.ttl, s.minimum), rdata: { type: 'SOA' as const, mname: s.mname, rname: s.rname, serial: s.serial, refresh: s.refresh, retry: s.retry, expire: s.expire, minimum: s.minimum } };
    for (const name of new Set(zone.records.map((r) => r.name))) {
      const node = tables.nodes.get(name);
      assert.ok(node, name);
      const other = node.other;
      assert.ok(!other.dynamic);
      const alone = encodeAnswer(name, 0, { rcode: 0, aa: true, answer: [], authority: [soa], additional: [] });
      assert.deepEqual(other.answer.body, alone.body, name);
      checked++;
    }
  }
  assert.ok(checked >= 14);
  // Which answer each name's NODATA is, by its index in the packed tables.
  const ref = (n: string): number => {
    for (let i = 0, start = 0; i < packed.nameEnd.length; start = packed.nameEnd[i++]) {
      if (String.fromCharCode(...packed.names.subarray(start, packed.nameEnd[i])) === n) return packed.other[i];
    }
    throw new Error(`no ${n}`);
  };
  // Same length, both eligible: one answer.
  assert.equal(ref('aaa.sub.example.net'), ref('bbb.sub.example.net'));
  // At and below the SOA's names: their own answers (the body test above holds them to their bytes).
  assert.notEqual(ref('ns1.example.com'), ref('ns2.example.com'));
  assert.notEqual(ref('a.ns1.example.com'), ref('b.ns2.example.com'));
  assert.notEqual(ref('q.x.host.example.com'), ref('q.y.hos2.example.com'));
});
