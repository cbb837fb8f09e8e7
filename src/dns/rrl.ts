import { cidrContains } from '../common/ip';
import type { Query } from './wire';

/**
 * Response rate limiting (RRL), the idea of BIND 9.9 and Knot: an
 * authoritative server answering spoofed queries reflects traffic at the
 * spoofed victim. Responses are counted per (client prefix, response) in
 * token buckets; over the rate, responses are dropped, except every `slip`th,
 * which is sent empty with TC=1 so a real resolver behind that prefix retries
 * over TCP (which cannot be spoofed) and still gets its answer.
 *
 * Only UDP is limited. Keys: answers by (prefix, qname, qtype); NXDOMAIN and
 * errors by (prefix, rcode), as random-name floods would otherwise never
 * repeat a key. The table is a fixed array of slots indexed by a seeded hash
 * (a collision restarts the slot's bucket: it can only make limiting more
 * lenient, never limit an innocent key harder), so memory is bounded whatever
 * the traffic and nothing allocates per query.
 */

export interface RrlConfig {
  /** Answers (NOERROR, including NODATA and referrals) per second per key. */
  responsesPerSecond: number;
  /** NXDOMAIN and error responses per second per (prefix, rcode). */
  errorsPerSecond: number;
  /** Seconds of credit a quiet key may build up: bucket size = rate * window. */
  window: number;
  /** Every `slip`th limited response is sent truncated (TC=1); 0 = drop them all, 1 = truncate them all. */
  slip: number;
  /** Client prefix lengths that share a bucket (BIND/Knot defaults: /24, /56). */
  ipv4Prefix: number;
  ipv6Prefix: number;
  /** Sources never limited (loopback by default, which cannot be spoofed from outside). */
  exempt: ReadonlyArray<{ bytes: Uint8Array; prefix: number }>;
  /** Count what would be limited but answer everything: for rolling RRL out. */
  logOnly: boolean;
  /** Slots in the bucket table (rounded up to a power of two). */
  tableSize: number;
}

export const enum RrlAction {
  /** Send the response as built. */
  Pass = 0,
  /** Send nothing. */
  Drop = 1,
  /** Send it empty with TC=1. */
  Slip = 2,
}

/** What the limiter has done, for metrics (DnsStats carries these). */
export interface RrlCounters {
  rrlDropped: number;
  rrlSlipped: number;
  /** Responses that would have been limited while `logOnly` is on. */
  rrlWouldLimit: number;
}

const CATEGORY_ERROR = 0x45525221;
/** prefixKey() result for sources that are never limited. */
const EXEMPT = 0; // mixed into the key instead of qname/qtype for NXDOMAIN and errors

export class RateLimiter {
  readonly counters: RrlCounters;
  private cfg: RrlConfig;
  private mask: number;
  private keys: Int32Array;
  private tokens: Float64Array;
  private stamps: Float64Array;
  private slipCount = 0;
  private readonly seed = (Math.random() * 0x7fffffff) | 0;
  /** Scratch for the client address: 8 16-bit groups (IPv4 in the first two), then as bytes. */
  private readonly groups = new Uint16Array(8);
  private readonly v4 = new Uint8Array(4);
  private readonly v6 = new Uint8Array(16);
  private lastClient = '';
  private lastPrefix = EXEMPT;

  constructor(config: RrlConfig, counters: RrlCounters = { rrlDropped: 0, rrlSlipped: 0, rrlWouldLimit: 0 }) {
    this.counters = counters;
    this.cfg = config;
    this.mask = 0;
    this.keys = new Int32Array(0);
    this.tokens = new Float64Array(0);
    this.stamps = new Float64Array(0);
    this.configure(config);
  }

  /** Applies a new configuration (map reload). Buckets survive unless the table size changes. */
  configure(config: RrlConfig): void {
    let size = 1;
    while (size < config.tableSize) size <<= 1;
    if (size !== this.keys.length) {
      this.keys = new Int32Array(size);
      this.tokens = new Float64Array(size);
      this.stamps = new Float64Array(size).fill(-Infinity);
      this.mask = size - 1;
    }
    this.cfg = config;
    this.lastClient = ''; // prefixes and exemptions may have changed
  }

  /**
   * Decides the fate of one UDP response to `client` (the packet's source
   * address text, as dgram gives it). `rcode` is the response's; `q` its
   * query (qname/qtype read only for answers). `nowMs` is a coarse clock.
   */
  check(client: string, q: Query, rcode: number, nowMs: number): RrlAction {
    const cfg = this.cfg;
    let h: number;
    // One-entry memo: consecutive packets often share a source (a resolver, or a flood).
    if (client === this.lastClient) h = this.lastPrefix;
    else {
      h = this.prefixKey(client);
      this.lastClient = client;
      this.lastPrefix = h;
    }
    if (h === EXEMPT) return RrlAction.Pass;
    let rate: number;
    if (rcode === 0) {
      rate = cfg.responsesPerSecond;
      h = mix(h, q.qtype);
      const name = q.qname;
      for (let i = 0; i < name.length; i++) h = mix(h, name.charCodeAt(i));
    } else {
      rate = cfg.errorsPerSecond;
      h = mix(mix(h, CATEGORY_ERROR), rcode);
    }
    const slot = h & this.mask;
    const cap = rate * cfg.window;
    let tokens: number;
    if (this.keys[slot] !== h || this.stamps[slot] === -Infinity) {
      this.keys[slot] = h;
      tokens = cap;
    } else {
      const elapsed = nowMs - this.stamps[slot];
      tokens = Math.min(cap, this.tokens[slot] + (elapsed > 0 ? (elapsed * rate) / 1000 : 0));
    }
    this.stamps[slot] = nowMs;
    if (tokens >= 1) {
      this.tokens[slot] = tokens - 1;
      return RrlAction.Pass;
    }
    this.tokens[slot] = tokens;
    if (cfg.logOnly) {
      this.counters.rrlWouldLimit++;
      return RrlAction.Pass;
    }
    if (cfg.slip > 0 && ++this.slipCount >= cfg.slip) {
      this.slipCount = 0;
      this.counters.rrlSlipped++;
      return RrlAction.Slip;
    }
    this.counters.rrlDropped++;
    return RrlAction.Drop;
  }

  /** Seeded hash of the client's prefix, or EXEMPT (also for text that is not an address). */
  private prefixKey(client: string): number {
    const cfg = this.cfg;
    const g = this.groups;
    let bytes: Uint8Array;
    let prefix: number;
    if (client.indexOf(':') < 0) {
      if (!parseIpv4(client, g)) return EXEMPT;
      bytes = this.v4;
      prefix = cfg.ipv4Prefix;
    } else {
      if (!parseIpv6(client, g)) return EXEMPT;
      bytes = this.v6;
      prefix = cfg.ipv6Prefix;
    }
    for (let i = 0; i < bytes.length; i += 2) {
      bytes[i] = g[i >> 1] >> 8;
      bytes[i + 1] = g[i >> 1] & 0xff;
    }
    for (const net of cfg.exempt) if (cidrContains(net, bytes)) return EXEMPT;
    let h = mix(this.seed, bytes.length);
    const full = prefix >> 3;
    for (let i = 0; i < full; i++) h = mix(h, bytes[i]);
    if (prefix & 7) h = mix(h, bytes[full] & (0xff << (8 - (prefix & 7))));
    // EXEMPT is reserved; nudge the one real key that could hash to it.
    return h === EXEMPT ? h + 1 : h;
  }
}

/** One round of a 32-bit multiplicative hash (murmur3's mixing step). */
function mix(h: number, v: number): number {
  let k = Math.imul(v, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Dotted quad into g[0], g[1] (high and low 16 bits), without allocating. False if malformed. */
export function parseIpv4(s: string, g: Uint16Array): boolean {
  let acc = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 255) return false;
      acc = acc * 256 + part;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48);
      if (++digits > 3) return false;
    } else return false;
  }
  if (parts !== 4) return false;
  g[0] = Math.floor(acc / 65536);
  g[1] = acc % 65536;
  return true;
}

/**
 * IPv6 text (as the kernel formats it: hex groups, one optional `::`, maybe a
 * trailing dotted quad) into 8 groups, without allocating. False if malformed.
 * An IPv4-mapped address keeps its ::ffff: form; its /56 is then shared by
 * all of IPv4 on a dual-stack socket, which is why the IPv6 listeners are
 * v6-only.
 */
export function parseIpv6(s: string, g: Uint16Array): boolean {
  g.fill(0);
  let n = 0; // groups written
  let gap = -1; // index in g where `::` was
  let i = 0;
  const len = s.length;
  if (len >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (len === 2) return true;
  }
  while (i < len) {
    if (n >= 8) return false;
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < len) {
      const c = s.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      if (++digits > 4) return false;
      i++;
    }
    if (i < len && s.charCodeAt(i) === 46) {
      // Embedded IPv4 tail: two more groups.
      if (n > 6) return false;
      const tmp = new Uint16Array(2); // rare (mapped addresses only)
      if (!parseIpv4(s.slice(start), tmp)) return false;
      g[n++] = tmp[0];
      g[n++] = tmp[1];
      i = len;
      break;
    }
    if (digits === 0) return false;
    g[n++] = v;
    if (i === len) break;
    if (s.charCodeAt(i) !== 58) return false;
    i++;
    if (i < len && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = n;
      i++;
      if (i === len) break;
    } else if (i === len) return false;
  }
  if (gap < 0) return n === 8;
  if (n > 7) return false;
  // Move the groups after `::` to the end.
  const tail = n - gap;
  for (let k = tail - 1; k >= 0; k--) {
    g[8 - tail + k] = g[gap + k];
    g[gap + k] = 0;
  }
  return true;
}
