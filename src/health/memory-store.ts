import { EventEmitter } from 'node:events';
import { drainKey, voteKey, type Drain, type HealthSnapshot, type PrimaryPointer, type Vote } from './model';
import type { DrainRequest, HealthStore } from './store';

/**
 * The embedded health table: one process, no Redis. Same semantics as the
 * Redis store (votes stamped with the store clock, fenced primary writes), so
 * `serve` with in-process probes behaves like a one-node deployment.
 */
export class MemoryStore extends EventEmitter implements HealthStore {
  readonly kind = 'memory' as const;
  readonly ready = true;
  private readonly votes = new Map<string, Vote>();
  private readonly drains = new Map<string, Drain>();
  private readonly primaries = new Map<string, PrimaryPointer>();
  private lease: { holder: string; until: number } | null = null;
  private epoch = 0;
  readonly auditLog: Array<Record<string, unknown>> = [];

  constructor() {
    super();
    queueMicrotask(() => this.emit('ready'));
  }

  async loadAll(): Promise<HealthSnapshot> {
    return { votes: [...this.votes.values()], drains: [...this.drains.values()], primaries: [...this.primaries.values()], now: Date.now() };
  }

  async writeVote(v: Omit<Vote, 'at'>): Promise<void> {
    const vote: Vote = { ...v, at: Date.now() };
    this.votes.set(voteKey(v.service, v.dc, v.prober), vote);
    this.emit('vote', vote);
  }

  async setDrain(d: DrainRequest): Promise<void> {
    const now = Date.now();
    const drain: Drain = { dc: d.dc, service: d.service, reason: d.reason, by: d.by, at: now, until: now + d.forMs };
    this.drains.set(drainKey(d.service, d.dc), drain);
    this.emit('drain', drain);
  }

  async clearDrain(service: string, dc: string): Promise<boolean> {
    const had = this.drains.delete(drainKey(service, dc));
    if (had) this.emit('undrain', { service, dc });
    return had;
  }

  async setPrimary(p: Omit<PrimaryPointer, 'at'>, fence?: { holder: string; epoch: number }): Promise<boolean> {
    if (fence && !(this.lease && this.lease.holder === fence.holder && this.lease.until > Date.now() && this.epoch === fence.epoch)) return false;
    const pointer: PrimaryPointer = { ...p, at: Date.now() };
    this.primaries.set(p.service, pointer);
    this.emit('primary', pointer);
    return true;
  }

  async acquireLease(holder: string, ttlMs: number): Promise<number | null> {
    const now = Date.now();
    if (this.lease && this.lease.until > now && this.lease.holder !== holder) return null;
    if (!this.lease || this.lease.holder !== holder || this.lease.until <= now) this.epoch++;
    this.lease = { holder, until: now + ttlMs };
    return this.epoch;
  }

  /** The leader lease's holder while it is live, and the epoch (`geosteer status` through the admin port). */
  leader(): { holder: string | null; epoch: number } {
    return { holder: this.lease && this.lease.until > Date.now() ? this.lease.holder : null, epoch: this.epoch };
  }

  async releaseLease(holder: string): Promise<void> {
    if (this.lease?.holder === holder) this.lease = null;
  }

  async audit(entry: Record<string, unknown>): Promise<void> {
    this.auditLog.push({ ...entry, at: Date.now() });
  }

  async now(): Promise<number> {
    return Date.now();
  }

  async close(): Promise<void> {
    this.removeAllListeners();
  }
}
