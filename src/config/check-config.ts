/**
 * The map file's health checks (`services.NAME.check`): one per service, run
 * by the probe part against each of the service's datacenter addresses. The
 * schema lives in config, which parses it; probe only reads it, so the two
 * parts depend one way (probe -> config).
 *
 * Defaults, and why: interval 5s, timeout 2s, fall 3, rise 2. A datacenter is
 * voted down after 3 consecutive failures (~15 s) and back up after 2
 * successes (~10 s). That sits between HAProxy's `inter 2s fall 3 rise 2`
 * (LAN-scale, flap-prone across the internet) and Route 53's 30 s x 3 (90 s
 * to fail over) or gdnsd's 10 s with thresholds of 10-20 (minutes). Rise <
 * fall because coming back late costs less than leaving late; the quorum of
 * several probers guards against one prober's bad network.
 */
export type CheckType = 'http' | 'https' | 'tcp' | 'dns';

export interface CheckTimingConfig {
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures (or timeouts) before this prober votes down. */
  fall: number;
  /** Consecutive successes before this prober votes up again. */
  rise: number;
  /**
   * `per_address: true`: each address of a datacenter gets its own vote (service, `DC@ADDRESS`), a dead one
   * leaves the weighted draw, and the datacenter is voted down only when every address is.
   */
  perAddress: boolean;
}

export interface HttpCheckConfig extends CheckTimingConfig {
  type: 'http' | 'https';
  port: number;
  path: string;
  method: 'GET' | 'HEAD';
  /** Inclusive ranges of accepted status codes, e.g. [[200, 299]]. */
  expectStatus: Array<[number, number]>;
  /** Substring the body must contain (GET only), or null. */
  bodyContains: string | null;
  /** Host header (and TLS SNI); null = the service name. */
  host: string | null;
}

export interface TcpCheckConfig extends CheckTimingConfig {
  type: 'tcp';
  port: number;
}

export interface DnsCheckConfig extends CheckTimingConfig {
  type: 'dns';
  port: number;
  /** Name to ask (FQDN, no trailing dot). */
  name: string;
  /** Numeric query type (1 = A). */
  qtype: number;
  /** The reply must have this rcode (0 = NOERROR) and, if set, at least one answer. */
  expectRcode: number;
  requireAnswer: boolean;
}

export type CheckConfig = HttpCheckConfig | TcpCheckConfig | DnsCheckConfig;

export const DEFAULT_CHECK_TIMING: CheckTimingConfig = { intervalMs: 5000, timeoutMs: 2000, fall: 3, rise: 2, perAddress: false };
