import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { BACKGROUND_NICE } from '../../src/common/worker';

// A reload's build worker lowers its own thread's priority, and only its own:
// the answering thread keeps its nice value (Linux keeps one per thread).

/** Field 19 of /proc/thread-self/stat: the calling thread's nice value (after the command, which may hold spaces). */
const niceOf = (stat: string): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);

test('lowerThreadPriority lowers the calling worker thread only', async () => {
  const before = niceOf(readFileSync('/proc/thread-self/stat', 'utf8'));
  const mod = join(__dirname, '../../src/common/worker.js');
  const w = new Worker(
    `const { parentPort } = require('node:worker_threads'); const { readFileSync } = require('node:fs');
     const ok = require(${JSON.stringify(mod)}).lowerThreadPriority();
     parentPort.postMessage({ ok, stat: readFileSync('/proc/thread-self/stat', 'utf8') });`,
    { eval: true },
  );
  const got = await new Promise<{ ok: boolean; stat: string }>((done, fail) => {
    w.once('message', done);
    w.once('error', fail);
  });
  await w.terminate();
  assert.equal(got.ok, true);
  assert.equal(niceOf(got.stat), Math.max(before, BACKGROUND_NICE), 'the worker thread runs at the background nice value');
  assert.equal(niceOf(readFileSync('/proc/thread-self/stat', 'utf8')), before, 'the answering thread keeps its own');
});
