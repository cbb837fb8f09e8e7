/**
 * The shared health table's records. All times are milliseconds on the
 * store's clock (Redis TIME for the Redis store), so servers and probers on
 * different hosts judge freshness against the same clock.
 */

/** One prober's opinion of one (service, datacenter), rewritten every check round. */
export interface Vote {
  prober: string;
  service: string;
  dc: string;
  up: boolean;
  /** When the store accepted it (store clock). */
  at: number;
  /** The vote counts while `now - at <= ttlMs`; after that it is stale and ignored. */
  ttlMs: number;
  /** Why: the last check's detail ('HTTP 200', 'ECONNREFUSED', 'timeout after 2000 ms'). */
  detail: string;
  latencyMs: number;
}

/** An operator's forced state: the datacenter is skipped (for one service, or '*' for all) until `until`. */
export interface Drain {
  dc: string;
  service: string;
  until: number;
  reason: string;
  by: string;
  at: number;
}

/** Which datacenter is the primary of a `policy: primary` service. */
export interface PrimaryPointer {
  service: string;
  dc: string;
  /** Leader epoch that wrote it (0 for an operator's `promote`). */
  epoch: number;
  at: number;
  by: string;
  reason: string;
}

export interface HealthSnapshot {
  votes: Vote[];
  drains: Drain[];
  primaries: PrimaryPointer[];
  /** Store clock when the snapshot was read. */
  now: number;
  /** What the read skipped as unreadable (Redis only; absent or empty: nothing). */
  invalid?: InvalidEntry[];
  /** The keys the read checked (Redis only), so their counters can start at 0. */
  keys?: Array<{ key: string; part: TablePart }>;
  /**
   * The data set's marker (Redis only): made by the first read of a table and lost
   * with it, so a new one means the table was replaced (restarted empty, flushed).
   */
  incarnation?: string;
}

/** Which part of the shared table a Redis key holds (see redis-store.ts for the keys). */
export type TablePart = 'votes' | 'drains' | 'primary' | 'leader' | 'epoch' | 'audit' | 'events';

/**
 * Why an entry was skipped: the key holds another Redis type, the value is
 * not JSON, is over the size limit, has a field of the wrong shape, or is
 * stamped later than the store clock allows.
 */
export type InvalidKind = 'wrong-type' | 'not-json' | 'too-large' | 'bad-shape' | 'future';

/** One unreadable entry of the shared table (or one malformed events message), skipped so the rest applies. */
export interface InvalidEntry {
  /** The Redis key, prefix included (`geosteer:primary`). */
  key: string;
  part: TablePart;
  /** The hash field; null for the whole key (wrong type) or a pub/sub message. */
  field: string | null;
  kind: InvalidKind;
  /** What is wrong, for people (`"until" is a string, not a number`); never the value itself. */
  reason: string;
}

export const voteKey = (service: string, dc: string, prober: string): string => `${service}|${dc}|${prober}`;
export const drainKey = (service: string, dc: string): string => `${service}|${dc}`;
export const pairKey = (service: string, dc: string): string => `${service}|${dc}`;
