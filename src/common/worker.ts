import { fork, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
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

/** What a Spawner asks of its child process (spawner-child.ts), and what it answers. */
export interface SpawnerRequest {
  id: number;
  file: string;
  message: unknown;
}
export type SpawnerReply = { id: number; ok: true; reply: unknown } | { id: number; ok: false; message: string };

/**
 * runChild through a small helper process made once, before the caller has
 * work that must not wait. fork() copies the caller's page tables: from a
 * server holding a million-record zone's tables (600 MB of ArrayBuffers) it
 * blocked the answering thread 32-45 ms at every reload. The helper is a fresh
 * Node process (fork + exec), so its forks are cheap, and they block nobody
 * here: asking is one IPC message. The helper runs at `nice` (null: this process's own), and so does
 * every process it forks. If the helper dies, the next run makes a new one.
 * Costs one idle Node process (about 40 MB RSS) for the server's lifetime.
 */
export class Spawner {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly nice: number | null = BACKGROUND_NICE) {
    this.child = this.spawn();
  }

  /** The helper's pid (tests, diagnostics); null before it is made again after dying. */
  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  run<T>(file: string, message: unknown): Promise<T> {
    if (this.closed) return Promise.reject(new Error('spawner closed'));
    const child = (this.child ??= this.spawn());
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      // Held only while a run is pending (its exit too, so a helper killed mid-run still settles it): an idle
      // helper never keeps this process alive.
      child.ref();
      child.channel?.ref();
      const req: SpawnerRequest = { id, file, message };
      child.send(req, (err) => {
        if (err) this.settle({ id, ok: false, message: `spawner: ${err.message}` });
      });
    });
  }

  /** Ends the helper and any build it is running (nobody will read it): told by closing its channel, killed if it lingers. */
  close(): void {
    this.closed = true;
    const child = this.child;
    this.child = null;
    if (child) {
      // Not SIGKILL first: the helper kills its builds on 'disconnect'; killed itself, it would leave them running.
      if (child.connected) child.disconnect();
      const kill = setTimeout(() => child.kill('SIGKILL'), 1000).unref();
      child.once('exit', () => clearTimeout(kill));
    }
    this.fail('spawner closed');
  }

  private spawn(): ChildProcess {
    const child = fork(join(__dirname, 'spawner-child.js'), this.nice === null ? [] : [String(this.nice)], {
      serialization: 'advanced',
      execArgv: [],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    child.unref();
    child.channel?.unref();
    child.on('message', (r: SpawnerReply) => this.settle(r));
    child.on('error', () => undefined); // a failed send is reported to its callback; the exit below settles the rest
    child.once('exit', (code, signal) => {
      if (this.child === child) this.child = null;
      this.fail(`spawner process exited (${signal ?? `code ${code}`})`);
    });
    return child;
  }

  private settle(r: SpawnerReply): void {
    const p = this.pending.get(r.id);
    if (!p) return;
    this.pending.delete(r.id);
    if (this.pending.size === 0) {
      this.child?.unref();
      this.child?.channel?.unref();
    }
    if (r.ok) p.resolve(r.reply);
    else p.reject(new Error(r.message));
  }

  private fail(message: string): void {
    for (const [id] of this.pending) this.settle({ id, ok: false, message });
  }
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
