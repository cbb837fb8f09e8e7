import type { EventEmitter } from 'node:events';
import type { HealthSnapshot, PrimaryPointer, Vote } from './model';

/**
 * The store answered, with an error (Redis replied `-ERR ...`: a permission,
 * LOADING, MASTERDOWN): it is reachable, so this is not an outage, but the
 * full read did not happen.
 */
export class StoreReplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreReplyError';
  }
}

export interface DrainRequest {
  dc: string;
  service: string;
  forMs: number;
  reason: string;
  by: string;
}

/**
 * Where the health table lives: Redis (shared by every serve and probe) or
 * memory (embedded mode, one process). Writes are idempotent, because ioredis
 * re-sends commands that were in flight when a connection dropped.
 *
 * Events: 'vote' (Vote), 'drain' (Drain), 'undrain' ({service, dc}),
 * 'primary' (PrimaryPointer), 'ready' (connected and subscribed: time to
 * resync), 'down' (Error: lost the connection), 'invalid' (InvalidEntry: a
 * malformed events message, skipped).
 */
export interface HealthStore extends EventEmitter {
  readonly kind: 'memory' | 'redis';
  /** Connected (and subscribed): a loadAll now would be answered. */
  readonly ready: boolean;
  /** Why the last connection attempt failed (secrets stripped), or null; absent for stores that cannot fail. */
  readonly connectionError?: Error | null;
  /**
   * Everything, for a full resync, with what was skipped as unreadable in
   * `invalid`. Rejects when the store is unreachable, and with StoreReplyError
   * when it answered with an error.
   */
  loadAll(): Promise<HealthSnapshot>;
  /** Stores a vote stamped with the store's clock (the `at` given is ignored). */
  writeVote(vote: Omit<Vote, 'at'>): Promise<void>;
  /** Drains a datacenter for `forMs` from now (store clock). */
  setDrain(drain: DrainRequest): Promise<void>;
  /** Returns false if there was no such drain. */
  clearDrain(service: string, dc: string): Promise<boolean>;
  /**
   * Moves a primary pointer. With `fence`, only while `fence.holder` still
   * holds the leader lease at `fence.epoch` (checked atomically with the
   * write), so a leader that lost its lease cannot move anything.
   */
  setPrimary(pointer: Omit<PrimaryPointer, 'at'>, fence?: { holder: string; epoch: number }): Promise<boolean>;
  /** Takes or renews the leader lease; returns the epoch held, or null when another holder has it. */
  acquireLease(holder: string, ttlMs: number): Promise<number | null>;
  /** Gives the lease up if `holder` has it (clean shutdown). */
  releaseLease(holder: string): Promise<void>;
  /** Appends an audit entry (drain, undrain, promote): who, when, why. */
  audit(entry: Record<string, unknown>): Promise<void>;
  /** The store clock, ms. */
  now(): Promise<number>;
  close(): Promise<void>;
}
