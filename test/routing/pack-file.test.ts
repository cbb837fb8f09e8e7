import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { loadMapFile } from '../../src/config';
import { readPackedFile, releaseTablesLater, tableBytes, writePackedFile, writePackedTemp } from '../../src/routing/pack-file';
import type { PackedTables } from '../../src/routing/pack-writer';
import { buildPacked, buildServices } from '../../src/routing/tables';
import { DEFAULT_MAP } from '../helpers/server';

// The build process's tables come back through one file into a SharedArrayBuffer (pack-file.ts says why), and a retired
// table set is handed back to V8 by releaseTablesLater.

const ARRAYS = ['names', 'nameEnd', 'slots', 'typeEnd', 'typeCodes', 'typeRefs', 'other', 'any', 'body', 'answers'] as const;

function sampleTables(): PackedTables {
  const map = loadMapFile(DEFAULT_MAP);
  return buildPacked(map, buildServices(map), new Map(), new Map());
}

const fileFor = (p: PackedTables) => writePackedFile(p, join(mkdtempSync(join(tmpdir(), 'geosteer-packfile-')), 'tables'));

test('packed tables read back equal, over one SharedArrayBuffer, and the file and its directory are gone', async () => {
  const p = sampleTables();
  const f = fileFor(p);
  const back = await readPackedFile(f);
  for (const key of ARRAYS) {
    assert.deepEqual(Array.from(back[key]), Array.from(p[key]), key);
    assert.ok(back[key].buffer instanceof SharedArrayBuffer, `${key} is over a SharedArrayBuffer`);
    assert.equal(back[key].buffer, back.names.buffer, `${key} shares the one buffer`);
  }
  assert.deepEqual(back.dynamic, p.dynamic);
  assert.deepEqual(back.nxdomain, p.nxdomain);
  assert.equal(tableBytes(back), back.names.buffer.byteLength);
  assert.equal(existsSync(f.path), false);
  assert.equal(existsSync(dirname(f.path)), false);
});

test('the build writes its tables to /dev/shm when it has room, and they read back the same', async (t) => {
  let room = false;
  try {
    const s = statfsSync('/dev/shm');
    room = s.bavail * s.bsize > (256 << 20);
  } catch {
    // none
  }
  if (!room) return t.skip('no /dev/shm with room on this machine');
  const p = sampleTables();
  const f = writePackedTemp(p);
  assert.match(f.path, /^\/dev\/shm\/geosteer-build-[^/]+\/tables$/);
  const back = await readPackedFile(f);
  for (const key of ARRAYS) assert.deepEqual(Array.from(back[key]), Array.from(p[key]), key);
  assert.equal(existsSync(dirname(f.path)), false);
});

test('a packed file cut short is an error, not tables with zeros at the end', async () => {
  const p = sampleTables();
  const f = fileFor(p);
  const { truncateSync, statSync } = await import('node:fs');
  truncateSync(f.path, statSync(f.path).size - 16);
  // The recorded layout still says the full length: the read must notice the missing bytes.
  await assert.rejects(readPackedFile(f), /bytes, the layout needs/);
  assert.equal(existsSync(dirname(f.path)), false);
});

test('releaseTablesLater has V8 collect a retired table set of 96 MB within seconds', async () => {
  const p = sampleTables();
  const big: PackedTables = { ...p, body: new Uint8Array(96 << 20) };
  big.body[big.body.length - 1] = 7;
  let back: PackedTables | null = await readPackedFile(fileFor(big));
  assert.equal(back.body[back.body.length - 1], 7);
  const bytes = tableBytes(back);
  const gone = new WeakRef(back.body.buffer);
  back = null;
  releaseTablesLater(bytes, 0);
  // Short-lived garbage all the time, as a server answering queries makes: it keeps V8's memory reducer (which would run
  // a major GC after some seconds of quiet) from firing, and it never fills the old generation. So nothing but the
  // release starts a major GC here (checked by hand: with the call removed, the buffer was still alive after the 20 s).
  let last: unknown[] = [];
  const churn = setInterval(() => {
    const made: unknown[] = [];
    for (let i = 0; i < 2000; i++) made.push({ i, s: `x${i}` });
    last = made;
  }, 1);
  try {
    const until = Date.now() + 20_000;
    while (gone.deref() !== undefined && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  } finally {
    clearInterval(churn);
  }
  assert.equal(last.length, 2000);
  assert.equal(gone.deref(), undefined, 'the retired tables were collected');
});
