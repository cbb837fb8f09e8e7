import { fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
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

/**
 * Runs a Node script in a child process (IPC with the advanced serialization:
 * typed arrays, Maps and Buffers cross), sends it `message` and resolves with
 * the one message it sends back; rejects if it fails or exits first. A child
 * process rather than a worker thread for builds whose heap reaches a GB: a
 * worker's GC shares this process's V8 helper threads, and the answering
 * thread's own scavenges waited behind them (330 ms at 1M records).
 */
export function runChild<T>(file: string, message: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const child = fork(file, [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (m: T) => {
      settled = true;
      resolve(m);
    });
    child.once('error', (err) => {
      if (!settled) reject(err);
      settled = true;
    });
    child.once('exit', (code, signal) => {
      if (!settled) reject(new Error(`${file} exited (${signal ?? `code ${code}`}) before answering`));
      settled = true;
    });
    child.send(message as object);
  });
}

/** Nice value of a background build: the answering thread (nice 0) then wins the CPU when both want it. */
export const BACKGROUND_NICE = 10;

/**
 * Lowers the CPU priority of every thread of this process (Linux keeps a nice
 * value per thread; threads made later inherit it), so a build beside a
 * serving map on a busy machine slows the build, not the answers. Never
 * raises it. Returns false where that cannot be done (no /proc).
 */
export function lowerProcessPriority(nice = BACKGROUND_NICE): boolean {
  try {
    for (const t of readdirSync('/proc/self/task')) {
      const tid = Number(t);
      if (getPriority(tid) < nice) setPriority(tid, nice);
    }
    return true;
  } catch {
    return false;
  }
}
