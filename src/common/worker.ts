import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
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

/** Nice value of a background build thread: the answering thread (nice 0) then wins the CPU when both want it. */
export const BACKGROUND_NICE = 10;

/**
 * Lowers the calling thread's CPU priority (Linux: the nice value is per
 * thread, and a worker's thread id is /proc/thread-self's last part), so a
 * build beside a serving map on a busy machine slows the build, not the
 * answers. Returns false where that cannot be done (not Linux, no /proc).
 */
export function lowerThreadPriority(nice = BACKGROUND_NICE): boolean {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (!Number.isInteger(tid) || tid <= 0) return false;
    // Never raise it: a thread already nicer (serve run under `nice`) stays as it is.
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
