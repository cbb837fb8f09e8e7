/**
 * What a check run produces. The check settings themselves are the map's
 * (config/check-config.ts; defaults and why are there).
 */
/** The three outcomes of a remote call; a timeout is kept apart from a refusal. */
export type CheckOutcome = 'success' | 'failure' | 'timeout';

export interface CheckResult {
  outcome: CheckOutcome;
  latencyMs: number;
  /** Short reason for humans: 'HTTP 200', 'HTTP 503', 'ECONNREFUSED', 'timeout after 2000 ms', 'body lacks "ok"', 'rcode SERVFAIL'. */
  detail: string;
}
