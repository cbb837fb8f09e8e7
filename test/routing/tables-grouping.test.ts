import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deserialize, serialize } from 'node:v8';
import { loadMapFile, type MapConfig, type ZoneConfig } from '../../src/config';
import type { PackedTables } from '../../src/routing/pack-writer';
import { unpackTables } from '../../src/routing/pack';
import { buildPacked, buildServices } from '../../src/routing/tables';

// The table builder takes a zone's records by owner name from the zone check (ZoneConfig.grouped) and makes
// each name's node when it needs it. These hold it to what grouping the records itself gives (a zone copy has
// no grouping), on a map with what changes the node walk: two zones, an owner name in both (with a service on
// it), a service name no record owns, empty non-terminals, a delegation with glue.

const MAP = `datacenters:
  gz: { description: Guangzhou }
regions:
  all:
    default: true
    datacenters: [gz]
zones:
  example.com:
    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      ns1 A 192.0.2.1
      a.sub A 192.0.2.5
      deep.e.f TXT "x"
      two A 192.0.2.2
      two MX 5 ns1
      two A 192.0.2.3
      del NS ns.del
      ns.del A 192.0.2.53
      mx MX 10 two
  sub.example.com:
    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      a MX 10 ns1.example.com.
      a TXT "in sub"
      b.c TXT "y"
services:
  www.example.com:
    datacenters:
      gz: { a: [192.0.2.10] }
  a.sub.example.com:
    datacenters:
      gz: { a: [192.0.2.11] }
`;

function load(): MapConfig {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-grouping-'));
  writeFileSync(join(dir, 'map.yaml'), MAP);
  return loadMapFile(join(dir, 'map.yaml'));
}

/** Every array and list of the packed tables, as one comparable value. */
function flat(p: PackedTables): unknown {
  const arrays = [p.names, p.nameEnd, p.slots, p.typeEnd, p.typeCodes, p.typeRefs, p.other, p.any, p.body, p.answers].map((a) => Array.from(a));
  return JSON.parse(JSON.stringify({ arrays, dynamic: p.dynamic, nxdomain: p.nxdomain, referrals: p.referrals }));
}

/** The map with each zone copied: the copies have no grouping, so the builder groups the records itself. */
function ungrouped(map: MapConfig): MapConfig {
  return { ...map, zones: map.zones.map((z) => ({ ...z })) };
}

test('a loaded zone carries its records by name, out of sight of copies, JSON and structured clone', () => {
  const map = load();
  const zone = map.zones[0];
  const g = zone.grouped;
  assert.ok(g, 'loadMapFile groups the records');
  assert.equal(g.records, zone.records);
  assert.equal(g.length, zone.records.length);
  // One record: the record itself; more: a list in file order.
  assert.equal(g.byName.get('ns1.example.com'), zone.records.find((r) => r.name === 'ns1.example.com'));
  const two = g.byName.get('two.example.com');
  assert.ok(Array.isArray(two));
  assert.deepEqual(two.map((r) => r.rdata.type), ['A', 'MX', 'A']);
  assert.equal(g.byName.size, new Set(zone.records.map((r) => r.name)).size);
  assert.ok(!Object.keys(zone).includes('grouped'));
  assert.equal({ ...zone }.grouped, undefined);
  assert.ok(!('grouped' in JSON.parse(JSON.stringify(zone))));
  assert.equal((deserialize(serialize(zone)) as ZoneConfig).grouped, undefined);
});

test('tables built from the zone check grouping equal those from the records grouped by the builder', () => {
  const map = load();
  assert.ok(map.zones.every((z) => z.grouped));
  const a = buildPacked(map, buildServices(map), new Map(), new Map());
  const copy = ungrouped(map);
  assert.ok(copy.zones.every((z) => z.grouped === undefined));
  const b = buildPacked(copy, buildServices(copy), new Map(), new Map());
  assert.deepEqual(flat(a), flat(b));

  const { tables } = unpackTables(a, buildServices(map));
  // The name both zones own: the first zone's A (under the service) plus the second zone's MX and TXT.
  const both = tables.nodes.get('a.sub.example.com');
  assert.ok(both);
  assert.deepEqual([...both.types.keys()].sort((x, y) => x - y), [1, 15, 16, 28]);
  assert.equal(both.types.get(1)?.dynamic, true);
  // Empty non-terminals of both zones exist; a name nobody has does not.
  for (const ent of ['e.f.example.com', 'f.example.com', 'c.sub.example.com']) assert.ok(tables.nodes.get(ent), ent);
  assert.equal(tables.nodes.get('g.example.com'), undefined);
  // Below the delegation: the referral, whose glue is the zone's own A.
  const glue = tables.nodes.get('ns.del.example.com')?.types.get(1);
  assert.ok(glue && !glue.dynamic);
  assert.equal(glue.answer.aa, false);
  assert.ok(tables.referrals.has('del.example.com'));
});

test('a grouping that no longer matches its zone\'s records is not used', () => {
  const map = load();
  const zone = map.zones[0];
  const extra = { name: 'late.example.com', ttl: 300, rdata: { type: 'A' as const, address: '192.0.2.99' }, file: 'x', line: 1 };
  // New records array, the old grouping still attached.
  const replaced: ZoneConfig = { ...zone, records: [...zone.records, extra] };
  Object.defineProperty(replaced, 'grouped', { value: zone.grouped, enumerable: false });
  const m1: MapConfig = { ...map, zones: [replaced, map.zones[1]] };
  const t1 = unpackTables(buildPacked(m1, buildServices(m1), new Map(), new Map()), buildServices(m1)).tables;
  assert.ok(t1.nodes.get('late.example.com')?.types.has(1));
  // The same array, grown in place.
  zone.records.push(extra);
  const t2 = unpackTables(buildPacked(map, buildServices(map), new Map(), new Map()), buildServices(map)).tables;
  assert.ok(t2.nodes.get('late.example.com')?.types.has(1));
});
