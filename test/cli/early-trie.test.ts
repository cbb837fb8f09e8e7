import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startEarlyTrie } from '../../src/cli/early-trie';
import { loadMapFile } from '../../src/config';
import { GeoDatabase, RegionTrie } from '../../src/geo';
import { writeBigZone } from '../helpers/big-zone';
import { DEFAULT_MAP } from '../helpers/server';

// serve's start builds the region trie beside the zone build, from a parse of the map with its zone files left out.
// It must be the trie the map's own rules and database give, and never a trie for other rules.

const dir = mkdtempSync(join(tmpdir(), 'geosteer-early-trie-'));
writeBigZone(dir, 500);
const mapPath = join(dir, 'map.yaml');
writeFileSync(mapPath, readFileSync(DEFAULT_MAP, 'utf8').replace('    records: |', '    file: big.zone\n    records: |'));

const addrs = ['1.2.3.4', '36.110.0.1', '113.108.0.1', '8.8.8.8', '202.96.128.86', '223.5.5.5'].map((a) => Uint8Array.from(a.split('.').map(Number)));

test('a map with a zone file: the early trie is the one its rules and database build', async () => {
  const early = startEarlyTrie(mapPath);
  const map = loadMapFile(mapPath);
  assert.ok(map.zones.some((z) => z.records.length >= 500), 'the zone file was read by the real load');
  const got = await early.take(map);
  assert.ok(got, 'the early trie is handed over');
  const db = GeoDatabase.open(GeoDatabase.pathsFor(map.geoDatabase, map.geoDatabaseIpv6));
  const want = RegionTrie.build(db, map.rules);
  assert.equal(got.trie.regionCount, map.rules.regions.length);
  for (const a of addrs) assert.equal(got.trie.locate(a), want.locate(a), `locate ${a.join('.')}`);
});

test('rules edited between the early parse and the build: no early trie', async () => {
  const file = join(dir, 'edited.yaml');
  writeFileSync(file, readFileSync(mapPath, 'utf8'));
  const early = startEarlyTrie(file);
  // The build reads the file after the edit: CN-GD moves from south to north.
  writeFileSync(file, readFileSync(mapPath, 'utf8').replace('subdivisions: [CN-GD, ', 'subdivisions: ['));
  const map = loadMapFile(file);
  assert.equal(await early.take(map), null);
  // The same map as the early parse still gets it.
  assert.ok(await startEarlyTrie(file).take(map));
});

test('a map that does not parse: no early trie, and no error until the build reports it', async () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'regions: [\n');
  const early = startEarlyTrie(file);
  assert.equal(await early.take(loadMapFile(mapPath)), null);
});
