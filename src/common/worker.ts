import { Worker } from 'node:worker_threads';

/**
 * Runs a worker script that posts exactly one message and resolves with it;
 * rejects if the worker fails or exits first. The builds that must stay off
 * the answering thread (the region trie, the map's tables) run this way.
 */
export function runWorker<T>(file: string, workerData: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const w = new Worker(file, { workerData });
    w.once('message', (m: T) => {
      settled = true;
      resolve(m);
    });
    w.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    w.once('exit', (code) => {
      if (!settled) reject(new Error(`worker ${file} exited with code ${code} before answering`));
      settled = true;
    });
  });
}
