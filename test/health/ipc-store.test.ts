import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { answerLoads, MemoryStore, serveStoreOverIpc } from '../../src/health';
import { until } from '../helpers/wait';

// The primary's side of the in-memory health table shared over IPC, with a real child process
// on the other end of a real IPC channel.

test('a worker whose IPC channel has closed gets no more events and its pending load is dropped: the primary keeps running', async () => {
  // The child answers 'load' replies by counting them, and leaves when told to (closing its channel first).
  const child = spawn(process.execPath, ['-e', "let n = 0; process.on('message', (m) => { if (m === 'bye') process.disconnect(); else if (m && m.gs) n++; if (m === 'count') process.send({ n }); });"], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  const errors: Error[] = [];
  child.on('error', (e) => errors.push(e));
  const store = new MemoryStore();
  serveStoreOverIpc(store, () => [child]);
  answerLoads(store, child);
  await store.writeVote({ service: 'www', dc: 'gz', prober: 'p1', up: false, ttlMs: 60_000, detail: 'timeout', latencyMs: 2 });
  const count = new Promise<{ n: number }>((r) => child.once('message', (m) => r(m as { n: number })));
  child.send('count');
  assert.equal((await count).n, 1, 'the open channel got the vote');
  child.send('bye');
  await until('the channel closed', () => !child.connected, 5000);
  // Without the check each of these sends would end in an 'error' event (ERR_IPC_CHANNEL_CLOSED).
  // With no 'error' listener, that event would crash the primary.
  await store.writeVote({ service: 'www', dc: 'gz', prober: 'p2', up: false, ttlMs: 60_000, detail: 'timeout', latencyMs: 2 });
  await store.setDrain({ service: 'www', dc: 'bj', by: 'test', reason: 'drill', forMs: 60_000 });
  child.emit('message', { gs: 'load', id: 7 }); // a load asked just before the channel closed
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(errors, []);
  await exited;
});
