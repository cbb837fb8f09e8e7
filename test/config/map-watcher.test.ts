import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MapWatcher } from '../../src/config';
import { occupyThreadPool } from '../helpers/wait';

// watchFile takes its baseline with its first stat, after the constructor returned: an edit in
// between used to be the baseline itself, and no 'change' ever came.

test('an edit made right after the watcher starts (before its first poll) still fires one change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-watch-'));
  const file = join(dir, 'map.yaml');
  writeFileSync(file, 'a: 1\n');
  const busy = occupyThreadPool(); // watchFile's first stat waits behind it
  const w = new MapWatcher([file], { intervalMs: 50, settleMs: 50 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let changes = 0;
  w.on('change', () => changes++);
  writeFileSync(file, 'a: 22\n'); // before watchFile's first stat ran: it would take this as its baseline
  await busy;
  const end = Date.now() + 10_000;
  while (changes === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.equal(changes, 1);
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(changes, 1, 'one change for one edit');
});

test('no edit, no change', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-watch-'));
  const file = join(dir, 'map.yaml');
  writeFileSync(file, 'a: 1\n');
  const w = new MapWatcher([file], { intervalMs: 50, settleMs: 50 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let changes = 0;
  w.on('change', () => changes++);
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(changes, 0);
});
