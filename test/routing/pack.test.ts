import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { loadMapFile } from '../../src/config';
import type { PreparedAnswer } from '../../src/dns';
import { buildInWorker, buildTransfers } from '../../src/routing';
import { buildTables, transferList, unpackTables, type PackedLookup } from '../../src/routing/pack';
import { buildPacked, buildServices, type Entry, type RoutingTables } from '../../src/routing/tables';
import { writeBigZone } from '../helpers/big-zone';
import { DEFAULT_MAP } from '../helpers/server';

// Packed tables (what a reload's worker thread hands the answering thread) must
// answer every name and type with the bytes buildTables makes in place.
// (The bytes themselves are held to a recorded digest in answers-digest.test.ts.)

const dir = mkdtempSync(join(tmpdir(), 'geosteer-pack-'));
writeBigZone(dir, 2_000);
const mapPath = join(dir, 'map.yaml');
// The sample map plus a zone file, a delegation with glue, a TXT (Buffers in rdata) and a transfer list.
writeFileSync(
  mapPath,
  readFileSync(DEFAULT_MAP, 'utf8')
    .replace('    records: |', '    file: big.zone\n    transfer: [127.0.0.1/32]\n    records: |')
    .replace('      sip        A      192.0.2.26\n', '      sip        A      192.0.2.26\n      sub        NS     ns.sub\n      ns.sub     A      192.0.2.53\n      txt        TXT    "a b" "c"\n'),
);

function sameAnswer(a: PreparedAnswer, b: PreparedAnswer, where: string): void {
  assert.deepEqual([a.rcode, a.aa, a.an, a.ns, a.ar], [b.rcode, b.aa, b.an, b.ns, b.ar], where);
  assert.ok(a.body.equals(b.body), `${where}: body`);
  assert.equal(a.minimal === null, b.minimal === null, `${where}: minimal`);
  if (a.minimal && b.minimal) sameAnswer(a.minimal, b.minimal, `${where} (minimal)`);
}

function sameEntry(a: Entry, b: Entry, where: string): void {
  assert.equal(a.dynamic, b.dynamic, where);
  if (!a.dynamic && !b.dynamic) return sameAnswer(a.answer, b.answer, where);
  if (a.dynamic && b.dynamic) {
    assert.equal(a.service.index, b.service.index, where);
    assert.equal(a.route === a.service.a, b.route === b.service.a, `${where}: family state`);
    assert.equal(a.answers.length, b.answers.length, where);
    a.answers.forEach((x, i) => sameAnswer(x, b.answers[i], `${where} answer ${i}`));
  }
}

function sameTables(built: RoutingTables & { nodes: PackedLookup }, packed: RoutingTables): void {
  assert.equal(packed.nodes.size, built.nodes.size);
  for (const name of built.nodes.keys()) {
    const a = built.nodes.get(name);
    const b = packed.nodes.get(name);
    assert.ok(a && b, `${name} present`);
    assert.deepEqual([...b.types.keys()], [...a.types.keys()], `${name}: types`);
    for (const [t, e] of a.types) sameEntry(e, b.types.get(t) as Entry, `${name}/${t}`);
    sameEntry(a.other, b.other, `${name}/other`);
    sameEntry(a.any, b.any, `${name}/ANY`);
    assert.equal(packed.nodes.get(name), b, `${name}: the same node object the second time (made once)`);
  }
  for (const missing of ['nosuch.example.com', 'n2000.example.com', 'n1.example.co', '', 'example', 'N1.example.com']) assert.equal(packed.nodes.get(missing), undefined, missing);
  for (const key of ['nxdomain', 'referrals'] as const) {
    assert.deepEqual([...packed[key].keys()], [...built[key].keys()], key);
    for (const [k, v] of built[key]) sameAnswer(packed[key].get(k)?.forLength(30) as PreparedAnswer, v.forLength(30), `${key} ${k}`);
  }
}

test('packed tables, moved through a transfer as postMessage does, answer every name and type with the same bytes', () => {
  const map = loadMapFile(mapPath);
  const built = buildTables(map);
  const transfers = buildTransfers(map);
  assert.ok(built.nodes.size > 2_000 && built.referrals.size === 1 && transfers.size === 1, 'the map has what the test compares');
  const packed = buildPacked(map, buildServices(map), new Map(), transfers);
  const moved = structuredClone(packed, { transfer: transferList(packed) });
  assert.equal(packed.body.byteLength, 0, 'the bytes were moved, not copied');
  const { tables, transfers: tr } = unpackTables(moved, buildServices(map));
  sameTables(built, tables);
  const [zone, want] = [...transfers][0];
  const got = tr.get(zone);
  assert.ok(got);
  assert.deepEqual(got.acl, want.acl);
  assert.equal(got.messages.length, want.messages.length);
  want.messages.forEach((m, i) => sameAnswer(got.messages[i], m, `transfer message ${i}`));
});

test('a service entry follows the live state of this thread\'s services, not the builder\'s', () => {
  const map = loadMapFile(mapPath);
  const services = buildServices(map);
  const { tables } = unpackTables(buildPacked(map, services, new Map(), new Map()), services);
  for (const name of ['www.example.com', 'api.example.com']) {
    const e = tables.nodes.get(name)?.types.get(1);
    assert.ok(e?.dynamic, `${name} A is a service answer`);
    assert.equal(e.service, services[0]);
    assert.equal(e.route, services[0].a);
  }
});

test('buildInWorker: the map without its records, tables equal to those built here; unchanged and bad maps', async () => {
  const map = loadMapFile(mapPath);
  const b = await buildInWorker({ kind: 'file', path: mapPath });
  assert.ok(!b.unchanged);
  assert.equal(b.map.version, map.version);
  assert.equal(b.records, map.zones.reduce((n, z) => n + z.records.length, 0));
  assert.deepEqual(b.map.zones.map((z) => z.records.length), [0], 'the records stay in the packed answers');
  sameTables(buildTables(map), b.prebuilt.tables);
  assert.deepEqual(await buildInWorker({ kind: 'file', path: mapPath }, { version: map.version, asnDigest: null }), { unchanged: true, version: map.version });
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(mapPath, 'utf8').replace('fallback: first', 'fallback: sideways'));
  await assert.rejects(buildInWorker({ kind: 'file', path: bad }), (err: unknown) => err instanceof ConfigError && err.issues.some((i) => /fallback/.test(i.message)));
});

test('the recent-names memo: a name, a miss, either asked again, and past a clear of the memo, give what the tables hold', () => {
  const map = loadMapFile(mapPath);
  // The reference: each name asked once of its own tables, so every answer comes from the hash lookup.
  const built = buildTables(map);
  const names = [...built.nodes.keys()];
  const expected = new Map(names.map((name) => [name, [...(built.nodes.get(name)?.types.keys() ?? [])]]));
  const tables = buildTables(map);
  // 3 rounds over every name and twice as many misses: the memo (4,096 names) fills and is cleared on the way.
  for (let round = 0; round < 3; round++) {
    for (const name of names) assert.deepEqual([...(tables.nodes.get(name)?.types.keys() ?? [])], expected.get(name), name);
    for (let i = 0; i < names.length * 2; i++) assert.equal(tables.nodes.get(`miss${i}.example.com`), undefined);
  }
  assert.ok(names.length * 3 > 4096, `${names.length} names: too few to clear the memo`);
});
