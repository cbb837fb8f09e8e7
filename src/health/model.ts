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
}

export const voteKey = (service: string, dc: string, prober: string): string => `${service}|${dc}|${prober}`;
export const drainKey = (service: string, dc: string): string => `${service}|${dc}`;
export const pairKey = (service: string, dc: string): string => `${service}|${dc}`;
