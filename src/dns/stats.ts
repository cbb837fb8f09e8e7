import type { RrlCounters } from './rrl';
import type { Query } from './wire';

/** Slots per (transport, family) in `DnsStats.requests`: one per qtype 0..257 (257 = CAA), then one for every type above. */
export const QTYPE_SLOTS = 259;

/** Upper bounds (seconds) of the handle() time histogram; one more slot counts the rest (+Inf). */
export const DURATION_BUCKETS = [0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.001, 0.01] as const;

/** Called for one query in `every` (the query log): the reused Query, valid only during the call. */
export interface QuerySampler {
  every: number;
  sample(q: Query, client: string, rcode: number): void;
}

/**
 * Plain counters bumped on the query path (a property or typed-array
 * increment, no label lookup, no allocation); the observability part reads
 * them at scrape time and gives them labels there.
 */
export class DnsStats implements RrlCounters {
  udpQueries = 0;
  tcpQueries = 0;
  /** Datagrams dropped without an answer: responses (QR=1), source port 0, shorter than a header. */
  dropped = 0;
  truncated = 0;
  tcpConnections = 0;
  tcpRejected = 0;
  /** TCP connections closed at accept because their source had tcpMaxConnectionsPerSource open. */
  tcpRejectedPerSource = 0;
  /** TCP connections closed because they reached tcpMaxLifetimeMs. */
  tcpLifetimeClosed = 0;
  /** UDP responses the rate limiter dropped, sent truncated, or (log_only) would have limited. */
  rrlDropped = 0;
  rrlSlipped = 0;
  rrlWouldLimit = 0;
  internalErrors = 0;
  /** The UDP path in use ('batched' once a batched socket is open). */
  udpPath: 'batched' | 'dgram' = 'dgram';
  /** The batched sockets' own counters (udp-batch.ts BatchStat), live ones and what closed ones counted. */
  readonly udpBatchSockets: Float64Array[] = [];
  readonly udpBatchClosed = new Float64Array(16);
  readonly rcodes = new Float64Array(24);
  /**
   * Answered messages by transport, family and qtype:
   * index = (tcp ? 2 : 0) * QTYPE_SLOTS + (IPv6 client ? 1 : 0) * QTYPE_SLOTS + min(qtype, 258).
   * qtype 0 also counts messages without a readable question.
   */
  readonly requests = new Float64Array(4 * QTYPE_SLOTS);
  /** Answered messages that carried an EDNS Client Subnet option. */
  ecsPresent = 0;

  /** handle() time, sampled: one query in `timingEvery` is timed (0 = never). */
  timingEvery = 0;
  /** Countdown to the next timed query; negative when timing is off. */
  timingLeft = -1;
  /** Histogram of the timed queries: counts per DURATION_BUCKETS slot (+1 for +Inf), and their sum in seconds. */
  readonly durationCounts = new Float64Array(DURATION_BUCKETS.length + 1);
  durationSum = 0;

  /** Countdown to the next logged query; negative when the query log is off. */
  sampleLeft = -1;
  sampler: QuerySampler | null = null;

  /** A batched-socket counter (BatchStat index) summed over this server's sockets; 0 on the dgram path. */
  udpBatch(index: number): number {
    let sum = this.udpBatchClosed[index];
    for (const s of this.udpBatchSockets) sum += s[index];
    return sum;
  }

  /** Time one query in `every` (0 = off). performance.now() costs ~50 ns a call, so not every query. */
  setTiming(every: number): void {
    this.timingEvery = every > 0 ? Math.floor(every) : 0;
    this.timingLeft = this.timingEvery > 0 ? this.timingEvery : -1;
  }

  /** Hand one query in `sampler.every` to `sampler` (null or every <= 0: off, which costs one decrement per query). */
  setSampler(sampler: QuerySampler | null): void {
    this.sampler = sampler !== null && sampler.every > 0 ? sampler : null;
    this.sampleLeft = this.sampler ? Math.floor(this.sampler.every) : -1;
  }

  /** At the start of handle(): performance.now() for the one query in `timingEvery` that is timed, else 0. */
  startTiming(): number {
    if (--this.timingLeft !== 0) return 0;
    this.timingLeft = this.timingEvery;
    return performance.now();
  }

  /**
   * At the end of handle(), for every message answered: requests, ECS, the
   * sampled time (`t0` from startTiming) and the query log countdown. The
   * common case is three increments and three compares.
   */
  count(q: Query, client: string, tcp: boolean, rcode: number, t0: number): void {
    this.rcodes[rcode < 24 ? rcode : 23]++;
    const qt = q.qtype;
    this.requests[(tcp ? 2 * QTYPE_SLOTS : 0) + (client.indexOf(':') < 0 ? 0 : QTYPE_SLOTS) + (qt < 258 ? qt : 258)]++;
    if (q.ecs !== null) this.ecsPresent++;
    if (t0 !== 0) this.observe(performance.now() - t0);
    if (--this.sampleLeft === 0) this.sampleQuery(q, client, rcode);
  }

  /** Records one timed query (ms, from performance.now()). */
  observe(ms: number): void {
    const s = ms / 1000;
    this.durationSum += s;
    let i = 0;
    while (i < DURATION_BUCKETS.length && s > DURATION_BUCKETS[i]) i++;
    this.durationCounts[i]++;
  }

  /** Runs the query sampler and restarts its countdown. */
  private sampleQuery(q: Query, client: string, rcode: number): void {
    const sm = this.sampler;
    if (sm === null) return;
    this.sampleLeft = sm.every;
    try {
      sm.sample(q, client, rcode);
    } catch {
      // The query log must never break an answer.
    }
  }
}
