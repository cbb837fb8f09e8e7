import { EventEmitter } from 'node:events';
import type { HealthSnapshot } from './model';
import type { HealthStore } from './store';

/**
 * Embedded mode with cluster workers: the primary process owns the in-memory
 * table and runs the probes once; each worker mirrors it through the cluster
 * IPC channel. Workers only read, as serve's mirror does; writes belong to the
 * primary's store.
 */

interface IpcMessage {
  gs: 'load' | 'snapshot' | 'event';
  id?: number;
  kind?: string;
  data?: unknown;
  error?: string;
}

type Channel = { send(msg: unknown, callback?: (err: Error | null) => void): unknown; on(ev: 'message', cb: (msg: unknown) => void): unknown; isConnected?(): boolean; connected?: boolean };

/**
 * Sends to a worker unless its channel has closed: a worker stopping (SIGTERM, a crash) closes it
 * before the primary forgets the worker, and a send then would end in an unhandled
 * ERR_IPC_CHANNEL_CLOSED (or EPIPE) 'error' that takes the primary down. A closed worker needs no more events.
 */
const ignoreSendError = (): void => {};

function sendIfOpen(ch: Channel, msg: IpcMessage): void {
  if (ch.isConnected?.() === false || ch.connected === false) return; // a cluster Worker, a ChildProcess
  // Closing can also race the write itself (EPIPE): with a callback the error goes there, not to 'error'.
  ch.send(msg, ignoreSendError);
}

const isIpc = (m: unknown): m is IpcMessage => typeof m === 'object' && m !== null && typeof (m as IpcMessage).gs === 'string';
const EVENTS = ['vote', 'drain', 'undrain', 'primary'] as const;

/** Worker side: a read-only HealthStore fed by the primary. */
export class IpcStore extends EventEmitter implements HealthStore {
  readonly kind = 'memory' as const;
  readonly ready = true;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (s: HealthSnapshot) => void; reject: (e: Error) => void }>();

  constructor(private readonly channel: Channel) {
    super();
    channel.on('message', (m) => {
      if (!isIpc(m)) return;
      if (m.gs === 'event' && m.kind) this.emit(m.kind, m.data);
      else if (m.gs === 'snapshot' && m.id !== undefined) {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve(m.data as HealthSnapshot);
      }
    });
  }

  loadAll(): Promise<HealthSnapshot> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { resolve, reject });
      this.channel.send({ gs: 'load', id } satisfies IpcMessage);
      setTimeout(() => {
        if (this.pending.delete(id)) reject(new Error('primary did not answer'));
      }, 2000).unref();
    });
  }

  private readOnly(): Promise<never> {
    return Promise.reject(new Error('cluster workers do not write the embedded table; the primary does'));
  }
  writeVote(): Promise<void> {
    return this.readOnly();
  }
  setDrain(): Promise<void> {
    return this.readOnly();
  }
  clearDrain(): Promise<boolean> {
    return this.readOnly();
  }
  setPrimary(): Promise<boolean> {
    return this.readOnly();
  }
  acquireLease(): Promise<number | null> {
    return this.readOnly();
  }
  releaseLease(): Promise<void> {
    return this.readOnly();
  }
  audit(): Promise<void> {
    return this.readOnly();
  }
  async now(): Promise<number> {
    return Date.now();
  }
  async close(): Promise<void> {
    this.removeAllListeners();
  }
}

/** Primary side: answers workers' loads and forwards every store event to all of them. */
export function serveStoreOverIpc(store: HealthStore, workers: () => Iterable<Channel>): void {
  for (const kind of EVENTS) {
    store.on(kind, (data: unknown) => {
      for (const w of workers()) sendIfOpen(w, { gs: 'event', kind, data });
    });
  }
}

/** Primary side, per worker: answer its snapshot requests. */
export function answerLoads(store: HealthStore, worker: Channel): void {
  worker.on('message', (m) => {
    if (!isIpc(m) || m.gs !== 'load') return;
    store.loadAll().then(
      (data) => sendIfOpen(worker, { gs: 'snapshot', id: m.id, data }),
      (err: Error) => sendIfOpen(worker, { gs: 'snapshot', id: m.id, error: err.message }),
    );
  });
}
