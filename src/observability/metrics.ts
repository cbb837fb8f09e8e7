import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { MapConfig } from '../config';
import { DURATION_BUCKETS, QTYPE_SLOTS, type DnsStats } from '../dns';
import type { HealthMirror } from '../health';
import type { CheckEvent, PrimaryLeader, Prober, PromotionEvent } from '../probe';
import type { Router, SpillPlan } from '../routing';
import type { HealthEvents } from './events';

/**
 * Metrics. The query path only bumps plain numbers and typed arrays (DnsStats,
 * ServiceRuntime.served); they become labelled Prometheus samples here, when
 * scraped. Everything else (probes, webhook) is rare enough for prom-client's
 * own counters. Names: geosteer_<part>_<name>, _total for counters, _seconds.
 *
 * In a cluster every metric says how the primary merges the workers' values
 * (prom-client's AggregatorRegistry): per-process counts are summed; views of
 * the shared health table, which every worker holds alike, take min or max.
 */

export type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';

export interface Sample {
  labels?: Record<string, string | number>;
  value: number;
  /** For histograms: name_bucket / name_sum / name_count. */
  metricName?: string;
}

export interface ScrapedSpec {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  /** @default 'sum' */
  aggregator?: Aggregator;
  read(): Sample[];
}

/**
 * A metric whose samples are computed at scrape time from plain numbers: the
 * shape prom-client's Registry (and its cluster aggregation) reads from any
 * metric, without per-label bookkeeping between scrapes.
 */
export function scraped(registry: Registry, spec: ScrapedSpec): void {
  const { name, help, type } = spec;
  const aggregator = spec.aggregator ?? 'sum';
  const metric = {
    name,
    help,
    type,
    aggregator,
    // Every sample carries a labels object: the cluster aggregation hashes it (and would throw on undefined).
    get: async () => ({ name, help, type, aggregator, values: spec.read().map((v) => (v.labels ? v : { ...v, labels: {} })) }),
    reset: () => undefined,
  };
  registry.registerMetric(metric as unknown as Metric<string>);
}

/** Query types with their own label value (CoreDNS's list, roughly); every other type counts as "other". */
export const QTYPE_NAMES: Record<number, string> = {
  1: 'A', 2: 'NS', 5: 'CNAME', 6: 'SOA', 12: 'PTR', 13: 'HINFO', 15: 'MX', 16: 'TXT', 28: 'AAAA', 33: 'SRV', 35: 'NAPTR',
  43: 'DS', 46: 'RRSIG', 47: 'NSEC', 48: 'DNSKEY', 50: 'NSEC3', 52: 'TLSA', 64: 'SVCB', 65: 'HTTPS', 99: 'SPF',
  251: 'IXFR', 252: 'AXFR', 255: 'ANY', 257: 'CAA',
};

export const RCODE_NAMES: Record<number, string> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 6: 'YXDOMAIN', 7: 'YXRRSET',
  8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE', 16: 'BADVERS',
};

export const qtypeName = (t: number): string => QTYPE_NAMES[t] ?? 'other';
export const rcodeName = (r: number): string => RCODE_NAMES[r] ?? String(r);

/** Counter samples from the DNS part's plain counters. */
export function registerDnsMetrics(registry: Registry, stats: () => DnsStats): void {
  const total = (s: DnsStats): number => s.requests.reduce((a, b) => a + b, 0);
  scraped(registry, {
    name: 'geosteer_dns_requests_total',
    help: 'DNS messages answered, by transport (udp, tcp), client address family (ipv4, ipv6) and query type (other types: "other")',
    type: 'counter',
    read() {
      const s = stats();
      const out = new Map<string, Sample>();
      for (let slot = 0; slot < 4; slot++) {
        const labels0 = { proto: slot >= 2 ? 'tcp' : 'udp', family: slot & 1 ? 'ipv6' : 'ipv4' };
        for (let t = 0; t < QTYPE_SLOTS; t++) {
          const v = s.requests[slot * QTYPE_SLOTS + t];
          if (v === 0) continue;
          const type = qtypeName(t);
          const key = `${slot}|${type}`;
          const cur = out.get(key);
          if (cur) cur.value += v;
          else out.set(key, { labels: { ...labels0, type }, value: v });
        }
      }
      return [...out.values()];
    },
  });
  scraped(registry, {
    name: 'geosteer_dns_responses_total',
    help: 'DNS responses sent, by rcode',
    type: 'counter',
    read() {
      const s = stats();
      const out: Sample[] = [];
      s.rcodes.forEach((v, i) => {
        if (v > 0) out.push({ labels: { rcode: i === 23 ? 'other' : rcodeName(i) }, value: v });
      });
      return out;
    },
  });
  scraped(registry, {
    name: 'geosteer_dns_request_duration_seconds',
    help: 'Time to answer a query inside the server (parse, route, encode; not socket time). Sampled: one query in N is timed (N = 64 by default), so _count is about requests/N',
    type: 'histogram',
    read() {
      const s = stats();
      const out: Sample[] = [];
      let cum = 0;
      DURATION_BUCKETS.forEach((le, i) => {
        cum += s.durationCounts[i];
        out.push({ metricName: 'geosteer_dns_request_duration_seconds_bucket', labels: { le }, value: cum });
      });
      cum += s.durationCounts[DURATION_BUCKETS.length];
      out.push({ metricName: 'geosteer_dns_request_duration_seconds_bucket', labels: { le: '+Inf' }, value: cum });
      out.push({ metricName: 'geosteer_dns_request_duration_seconds_sum', value: s.durationSum });
      out.push({ metricName: 'geosteer_dns_request_duration_seconds_count', value: cum });
      return out;
    },
  });
  scraped(registry, {
    name: 'geosteer_dns_ecs_total',
    help: 'Queries answered with (present="true") and without (present="false") an EDNS Client Subnet option',
    type: 'counter',
    read() {
      const s = stats();
      return [
        { labels: { present: 'true' }, value: s.ecsPresent },
        { labels: { present: 'false' }, value: total(s) - s.ecsPresent },
      ];
    },
  });
  scraped(registry, {
    name: 'geosteer_dns_rrl_limited_total',
    help: 'UDP responses over the rate limit (server.rrl): dropped, sent truncated (slipped), or only counted (log_only)',
    type: 'counter',
    read() {
      const s = stats();
      return [
        { labels: { action: 'dropped' }, value: s.rrlDropped },
        { labels: { action: 'slipped' }, value: s.rrlSlipped },
        { labels: { action: 'log_only' }, value: s.rrlWouldLimit },
      ];
    },
  });
  scraped(registry, {
    name: 'geosteer_dns_udp_path',
    help: 'Processes on each UDP socket layer: path="batched" (recvmmsg/sendmmsg addon) or "dgram" (Node dgram); 1 per process, summed over cluster workers',
    type: 'gauge',
    read() {
      const p = stats().udpPath;
      return [
        { labels: { path: 'batched' }, value: p === 'batched' ? 1 : 0 },
        { labels: { path: 'dgram' }, value: p === 'dgram' ? 1 : 0 },
      ];
    },
  });
  const plain: Array<[string, string, (s: DnsStats) => number]> = [
    // Batched path only (0 on dgram); indexes are udp-batch.ts BatchStat.
    ['geosteer_dns_udp_batches_total', 'recvmmsg calls that returned datagrams (batched UDP path)', (s) => s.udpBatch(1)],
    ['geosteer_dns_udp_batch_datagrams_total', 'Datagrams received by those recvmmsg calls (divide by batches for the mean batch size)', (s) => s.udpBatch(2)],
    ['geosteer_dns_udp_send_batches_total', 'sendmmsg calls that sent replies (batched UDP path)', (s) => s.udpBatch(3)],
    ['geosteer_dns_udp_send_dropped_total', 'UDP replies dropped because the socket send buffer stayed full after one retry (batched path; never waits)', (s) => s.udpBatch(5)],
    ['geosteer_dns_udp_send_errors_total', 'UDP replies the kernel refused to send (unreachable or invalid destination; batched path)', (s) => s.udpBatch(6)],
    ['geosteer_dns_udp_oversize_total', 'Datagrams cut short by the receive ring (batched path; 64 KiB slots, so this stays 0), dropped unanswered', (s) => s.udpBatch(7)],
    ['geosteer_dns_dropped_total', 'Datagrams dropped without an answer: responses (QR=1), source port 0, shorter than a header', (s) => s.dropped],
    ['geosteer_dns_truncated_total', 'UDP answers sent truncated (TC=1): the client should retry over TCP', (s) => s.truncated],
    ['geosteer_dns_tcp_connections_total', 'TCP connections accepted', (s) => s.tcpConnections],
    ['geosteer_dns_tcp_rejected_total', 'TCP connections refused because tcp_max_connections were open', (s) => s.tcpRejected],
    ['geosteer_dns_tcp_rejected_per_source_total', 'TCP connections refused because their source address had tcp_max_per_source open', (s) => s.tcpRejectedPerSource],
    ['geosteer_dns_tcp_lifetime_closed_total', 'TCP connections closed because they reached the maximum lifetime', (s) => s.tcpLifetimeClosed],
    ['geosteer_dns_internal_errors_total', 'Queries answered SERVFAIL because of a bug (each also logged, rate-limited)', (s) => s.internalErrors],
  ];
  for (const [name, help, get] of plain) scraped(registry, { name, help, type: 'counter', read: () => [{ value: get(stats()) }] });
}

type RoutingKey = string;

/**
 * Answers per (service, zone, region, datacenter, moved) and fallback answers
 * per service, from each Router's `served` array. A Router replaced by a map
 * reload is folded into `carried` so counters never go backwards.
 */
export class RoutingCounters {
  private readonly carried = new Map<RoutingKey, Sample>();
  private readonly carriedFallback = new Map<string, number>();
  private readonly retired = new WeakSet<Router>();

  /** The router stopped serving (map reload): keep what it counted. Call once, right after the swap. */
  retire(router: Router): void {
    if (this.retired.has(router)) return;
    this.retired.add(router);
    addAnswers(router, this.carried);
    addFallbacks(router, this.carriedFallback);
  }

  answers(current: Router): Sample[] {
    const out = new Map<RoutingKey, Sample>();
    for (const [k, s] of this.carried) out.set(k, { labels: s.labels, value: s.value });
    if (!this.retired.has(current)) addAnswers(current, out);
    return [...out.values()];
  }

  fallbacks(current: Router): Sample[] {
    const out = new Map(this.carriedFallback);
    if (!this.retired.has(current)) addFallbacks(current, out);
    return [...out].map(([service, value]) => ({ labels: { service }, value }));
  }
}

function addAnswers(router: Router, into: Map<RoutingKey, Sample>): void {
  const map = router.map;
  for (const svc of router.tables.services) {
    const perRegion = 2 * (svc.ndc + 1);
    const moved = svc.ndc + 1;
    const zone = map.zones[svc.config.zone]?.name ?? '';
    for (let i = 0; i < svc.served.length; i++) {
      const v = svc.served[i];
      if (v === 0) continue;
      const region = map.regions[Math.floor(i / perRegion)]?.name ?? 'unknown';
      const c = i % perRegion;
      const d = c % moved;
      const datacenter = d < svc.ndc ? map.datacenters[d].name : 'all';
      const m = c >= moved ? 'true' : 'false';
      const key = `${svc.config.name}|${zone}|${region}|${datacenter}|${m}`;
      const cur = into.get(key);
      if (cur) cur.value += v;
      else into.set(key, { labels: { service: svc.config.name, zone, region, datacenter, moved: m }, value: v });
    }
  }
}

/**
 * Fallback answers: when every datacenter of a region's list is down the
 * region gets its list's first datacenter (`fallback: first`) or every one
 * (`all`), both with the failover TTL. Those two choices occur only then
 * (a healthy first choice is served without the moved flag), so they are read
 * back from `served` without a counter of their own on the query path.
 */
function addFallbacks(router: Router, into: Map<string, number>): void {
  for (const svc of router.tables.services) {
    if (svc.config.policy === 'primary') continue;
    const perRegion = 2 * (svc.ndc + 1);
    const moved = svc.ndc + 1;
    let n = 0;
    svc.config.preference.forEach((list, r) => {
      if (list.length === 0) return;
      n += svc.served[r * perRegion + list[0] + moved] + svc.served[r * perRegion + svc.ndc + moved];
    });
    into.set(svc.config.name, (into.get(svc.config.name) ?? 0) + n);
  }
}

/** What the serve metrics read at scrape time; RunningServer has all of it. */
export interface ServeMetricsSource {
  readonly dns: { readonly stats: DnsStats };
  readonly router: Router;
  readonly map: MapConfig;
  readonly mirror: HealthMirror;
  readonly reloads: { ok: number; failed: number; lastError: string | null; lastAt: number };
  /** The GeoIP database in use (its build time, unix seconds). */
  readonly geoip: { readonly buildEpoch: number; readonly description: string };
}

/** What a router's signing cost: at build (the worker's count) and on demand (compact denial). */
function signingOf(router: Router): { build: number; buildSeconds: number; denial: number; denialSeconds: number; hits: number } {
  const b = router.signing;
  const d = router.denial?.stats;
  return { build: b?.signatures ?? 0, buildSeconds: b?.seconds ?? 0, denial: d?.signatures ?? 0, denialSeconds: d?.seconds ?? 0, hits: d?.hits ?? 0 };
}

/** Every metric of a serving process: DNS, routing, health (its mirror), config. */
export class ServeMetrics {
  readonly routing = new RoutingCounters();
  private readonly startedAt = Date.now();

  constructor(
    readonly registry: Registry,
    src: ServeMetricsSource,
    events: HealthEvents,
  ) {
    registerDnsMetrics(registry, () => src.dns.stats);
    const r = registry;
    this.registerDnssec(r, src);
    scraped(r, {
      name: 'geosteer_routing_answers_total',
      help: 'Service answers, by service, its zone, client region, datacenter answered ("all" = every datacenter) and moved (true: not the region\'s first choice, failover TTL)',
      type: 'counter',
      read: () => this.routing.answers(src.router),
    });
    scraped(r, {
      name: 'geosteer_routing_fallback_answers_total',
      help: 'Service answers given while every datacenter of the client region\'s list was down (fail-open fallback)',
      type: 'counter',
      read: () => this.routing.fallbacks(src.router),
    });
    scraped(r, {
      name: 'geosteer_routing_fallback_regions',
      help: 'Regions whose whole datacenter list is down for this service now (answered by the fallback)',
      type: 'gauge',
      aggregator: 'max',
      read: () => src.router.tables.services.map((s) => ({ labels: { service: s.config.name }, value: s.fallback.reduce((a, b) => a + b, 0) })),
    });
    // Capacity spill (routing/spill.ts): the plan the answering tables follow now, A family (AAAA lists follow the same shares).
    const spillOf = (s: Router['tables']['services'][number]): SpillPlan | null => s.a.spill?.plan ?? null;
    scraped(r, {
      name: 'geosteer_routing_spill_regions',
      help: 'Regions of this service split over their lists by spare capacity now (their first datacenter is down or drained)',
      type: 'gauge',
      aggregator: 'max',
      read: () => src.router.tables.services.filter((s) => s.a.spill).map((s) => ({ labels: { service: s.config.name }, value: spillOf(s)?.regions.filter((x) => x !== null).length ?? 0 })),
    });
    scraped(r, {
      name: 'geosteer_routing_capacity_short',
      help: '1 when the spare capacity of some region list is less than the traffic that spilled onto it: the rest is sent to the first live datacenter, past its capacity',
      type: 'gauge',
      aggregator: 'max',
      read: () => src.router.tables.services.filter((s) => s.a.spill).map((s) => ({ labels: { service: s.config.name }, value: spillOf(s)?.short ? 1 : 0 })),
    });
    scraped(r, {
      name: 'geosteer_routing_planned_load_ratio',
      help: 'Planned load over declared capacity per service and datacenter (region shares from the map); above 1 means over capacity',
      type: 'gauge',
      aggregator: 'max',
      read: () =>
        src.router.tables.services.flatMap((s) => {
          const p = spillOf(s);
          if (!p) return [];
          return s.config.addresses.flatMap((a, d) => (a && p.capacity[d] > 0 ? [{ labels: { service: s.config.name, dc: src.map.datacenters[d].name }, value: p.load[d] / p.capacity[d] }] : []));
        }),
    });
    const pairs = (): Array<{ service: string; dc: string }> => {
      const map = src.map;
      const out: Array<{ service: string; dc: string }> = [];
      for (const s of map.services) s.addresses.forEach((a, d) => a !== null && out.push({ service: s.name, dc: map.datacenters[d].name }));
      return out;
    };
    scraped(r, {
      name: 'geosteer_health_verdict',
      help: 'The probers\' verdict per service and datacenter: 1 up, 0 down (drains not included)',
      type: 'gauge',
      aggregator: 'min',
      read: () => pairs().map((p) => ({ labels: p, value: src.mirror.verdictUp(p.service, p.dc) ? 1 : 0 })),
    });
    scraped(r, {
      name: 'geosteer_health_drained',
      help: '1 while an operator\'s drain (for the service or for every service) is in force on the datacenter',
      type: 'gauge',
      aggregator: 'max',
      read: () => pairs().map((p) => ({ labels: p, value: src.mirror.isDrained(p.service, p.dc) ? 1 : 0 })),
    });
    const votes = (value: (v: { up: boolean; at: number }) => number): Sample[] =>
      src.mirror.pairs().flatMap((p) => p.votes.map((v) => ({ labels: { service: p.service, dc: p.dc, prober: v.prober }, value: value(v) })));
    scraped(r, {
      name: 'geosteer_health_vote_up',
      help: 'Each prober\'s last vote per service and datacenter: 1 up, 0 down',
      type: 'gauge',
      aggregator: 'min',
      read: () => votes((v) => (v.up ? 1 : 0)),
    });
    scraped(r, {
      name: 'geosteer_health_vote_age_seconds',
      help: 'Age of each prober\'s last vote (store clock); a vote counts until its TTL (3 check intervals + timeout by default)',
      type: 'gauge',
      aggregator: 'min',
      read: () => {
        const now = src.mirror.now();
        return votes((v) => Math.max(0, (now - v.at) / 1000));
      },
    });
    scraped(r, {
      name: 'geosteer_health_primary',
      help: '1 for the datacenter that is the current primary of a policy: primary service',
      type: 'gauge',
      aggregator: 'max',
      read: () => {
        const map = src.map;
        return map.services
          .filter((s) => s.policy === 'primary')
          .map((s) => ({ labels: { service: s.name, dc: src.mirror.primary(s.name) ?? map.datacenters[s.primary].name }, value: 1 }));
      },
    });
    scraped(r, {
      name: 'geosteer_health_primary_changes_total',
      help: 'Primary pointer moves seen (automatic failover or geosteer promote)',
      type: 'counter',
      aggregator: 'max',
      read: () => [{ value: events.primaryChanges }],
    });
    scraped(r, {
      name: 'geosteer_health_store_up',
      help: '1 while the health store (Redis, or the in-memory table) is reachable; 0: answering from the last known state',
      type: 'gauge',
      aggregator: 'min',
      read: () => [{ value: src.mirror.storeConnected ? 1 : 0 }],
    });
    // Counter and gauge: the counter never goes down (Prometheus), the gauge says whether the garbage is still there.
    scraped(r, {
      name: 'geosteer_health_store_invalid_entries_total',
      help: 'Unreadable entries of the shared health table skipped, by Redis key: a key of the wrong type, a value not JSON, over 64 KiB, with a bad field or stamped in the future; on the events key, malformed messages. Each entry counts once, when first seen',
      type: 'counter',
      aggregator: 'max',
      read: () => src.mirror.invalidKeys().map((k) => ({ labels: { key: k.key }, value: k.total })),
    });
    scraped(r, {
      name: 'geosteer_health_store_invalid_entries',
      help: 'Unreadable entries of the shared health table now, by Redis key (the last full read; events: malformed messages since the read before). 0 once the garbage is gone',
      type: 'gauge',
      aggregator: 'max',
      read: () => src.mirror.invalidKeys().map((k) => ({ labels: { key: k.key }, value: k.current })),
    });
    scraped(r, {
      name: 'geosteer_health_store_lost_entries',
      help: 'Drains and primary pointers the shared table lost (Redis came back empty) and does not hold again yet; geosteer recover puts them back',
      type: 'gauge',
      aggregator: 'max',
      read: () => {
        const l = src.mirror.lostState();
        return [
          { labels: { part: 'drains' }, value: l?.drains.length ?? 0 },
          { labels: { part: 'primary' }, value: l?.primaries.length ?? 0 },
        ];
      },
    });
    scraped(r, {
      name: 'geosteer_health_mirror_age_seconds',
      help: 'Seconds since the health mirror last read the whole table (every 10 s while the store is up); since start when it never has',
      type: 'gauge',
      aggregator: 'max',
      read: () => [{ value: (Date.now() - (src.mirror.lastSyncAt || this.startedAt)) / 1000 }],
    });
    scraped(r, {
      name: 'geosteer_config_reloads_total',
      help: 'Map reloads since start, by result: ok (applied) or failed (rejected; the last good map keeps serving)',
      type: 'counter',
      aggregator: 'max',
      read: () => [
        { labels: { result: 'ok' }, value: src.reloads.ok },
        { labels: { result: 'failed' }, value: src.reloads.failed },
      ],
    });
    scraped(r, {
      name: 'geosteer_config_last_reload_successful',
      help: '0 when the last map reload was rejected (the previous map still serves), else 1',
      type: 'gauge',
      aggregator: 'min',
      read: () => [{ value: src.reloads.lastError === null ? 1 : 0 }],
    });
    scraped(r, {
      name: 'geosteer_config_info',
      help: 'The map version serving (short hash of the map and its zone files) and server.id; compare across servers',
      type: 'gauge',
      aggregator: 'max',
      read: () => [{ labels: { version: src.map.version, server: src.map.server.id }, value: 1 }],
    });
    scraped(r, {
      name: 'geosteer_geoip_build_timestamp_seconds',
      help: 'Build time (unix seconds) of the GeoIP database in use, from its metadata; label database: type and build date',
      type: 'gauge',
      aggregator: 'min',
      read: () => [{ labels: { database: src.geoip.description }, value: src.geoip.buildEpoch }],
    });
    scraped(r, {
      name: 'geosteer_geoip_stale',
      help: '1 when the GeoIP database in use was built longer ago than geoip.max_age (default 90d): update it (README "Fresh GeoIP data")',
      type: 'gauge',
      aggregator: 'max',
      read: () => [{ value: Date.now() - src.geoip.buildEpoch * 1000 > src.map.geoMaxAgeMs ? 1 : 0 }],
    });
  }

  /** Call when a map reload replaced the router (right after the swap). */
  routerReplaced(old: Router): void {
    this.routing.retire(old);
    const s = signingOf(old);
    this.signedBefore.build += s.build;
    this.signedBefore.buildSeconds += s.buildSeconds;
    this.signedBefore.denial += s.denial;
    this.signedBefore.denialSeconds += s.denialSeconds;
    this.signedBefore.hits += s.hits;
  }

  /** Signing done by routers a reload replaced, so the counters never go down. */
  private readonly signedBefore = { build: 0, buildSeconds: 0, denial: 0, denialSeconds: 0, hits: 0 };

  private registerDnssec(r: Registry, src: ServeMetricsSource): void {
    const now = (): ReturnType<typeof signingOf> => {
      const s = signingOf(src.router);
      const b = this.signedBefore;
      return { build: s.build + b.build, buildSeconds: s.buildSeconds + b.buildSeconds, denial: s.denial + b.denial, denialSeconds: s.denialSeconds + b.denialSeconds, hits: s.hits + b.hits };
    };
    scraped(r, {
      name: 'geosteer_dnssec_signatures_total',
      help: 'RRSIGs made, by when: build (every answer of a signed zone, at load and re-sign, in the build worker) or denial (a compact NXDOMAIN proof signed for its query name)',
      type: 'counter',
      read: () => {
        const s = now();
        return [{ labels: { when: 'build' }, value: s.build }, { labels: { when: 'denial' }, value: s.denial }];
      },
    });
    scraped(r, {
      name: 'geosteer_dnssec_signing_seconds_total',
      help: 'CPU seconds spent making RRSIGs, by when (build, denial)',
      type: 'counter',
      read: () => {
        const s = now();
        return [{ labels: { when: 'build' }, value: s.buildSeconds }, { labels: { when: 'denial' }, value: s.denialSeconds }];
      },
    });
    scraped(r, {
      name: 'geosteer_dnssec_denial_cache_hits_total',
      help: 'Compact NXDOMAIN proofs answered from the LRU instead of signed again (misses: geosteer_dnssec_signatures_total{when="denial"})',
      type: 'counter',
      read: () => [{ value: now().hits }],
    });
    scraped(r, {
      name: 'geosteer_dnssec_signature_expiry_timestamp_seconds',
      help: 'When the signatures now served expire (RRSIG expiration, Unix time), per signed zone; a re-sign moves it on halfway through',
      type: 'gauge',
      aggregator: 'min',
      read: () => (src.router.signing?.zones ?? []).map((z) => ({ labels: { zone: z.zone }, value: src.router.signing?.validity.expiration ?? 0 })),
    });
    scraped(r, {
      name: 'geosteer_dnssec_keys',
      help: 'DNSSEC keys loaded per signed zone (a CSK, or KSKs and ZSKs; more during a rollover)',
      type: 'gauge',
      aggregator: 'max',
      read: () => (src.router.signing?.zones ?? []).map((z) => ({ labels: { zone: z.zone }, value: z.keys.length })),
    });
  }
}

/** Probe results and the leader's actions (serve with in-process probes, the cluster primary, `geosteer probe`). */
export class ProbeMetrics {
  private readonly checks: Counter<'service' | 'dc' | 'result'>;
  private readonly duration: Histogram<'service' | 'dc'>;
  private readonly promotions: Counter<'service'>;
  private leading = 0;

  constructor(registry: Registry) {
    this.checks = new Counter({
      name: 'geosteer_probe_checks_total',
      help: 'Health checks run by this process, by service, datacenter and result (success, failure, timeout)',
      labelNames: ['service', 'dc', 'result'],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'geosteer_probe_check_duration_seconds',
      help: 'Health check duration, by service and datacenter',
      labelNames: ['service', 'dc'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    this.promotions = new Counter({
      name: 'geosteer_probe_promotions_total',
      help: 'Primary pointers moved by this process while it held the leader lease',
      labelNames: ['service'],
      registers: [registry],
    });
    const leading = (): number => this.leading;
    new Gauge({
      name: 'geosteer_probe_leader',
      help: '1 while this prober holds the leader lease (it moves primary pointers)',
      registers: [registry],
      collect() {
        this.set(leading());
      },
    });
  }

  /** Follows one generation's prober and leader (a map reload makes new ones). */
  watch(prober: Prober | null, leader: PrimaryLeader | null): void {
    this.leading = leader?.isLeader ? 1 : 0; // the previous generation's leader has stopped
    prober?.on('check', (e: CheckEvent) => {
      this.checks.inc({ service: e.service, dc: e.dc, result: e.result.outcome });
      this.duration.observe({ service: e.service, dc: e.dc }, e.result.latencyMs / 1000);
    });
    leader?.on('leader', () => (this.leading = 1));
    leader?.on('follower', () => (this.leading = 0));
    leader?.on('promoted', (e: PromotionEvent) => this.promotions.inc({ service: e.service }));
  }

  /** The leader was stopped (reload or shutdown) without a 'follower' event. */
  stepDown(): void {
    this.leading = 0;
  }
}

const processMetricRegistries = new WeakSet<Registry>();

/** prom-client's default process_* and nodejs_* metrics, once per registry (the CLI; tests skip them). */
export function collectProcessMetrics(registry: Registry): void {
  if (processMetricRegistries.has(registry)) return;
  processMetricRegistries.add(registry);
  collectDefaultMetrics({ register: registry });
}

/** In a cluster worker: answer the primary's metric requests with this registry. */
export function reportToClusterPrimary(registry: Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  new AggregatorRegistry(); // installs the worker's IPC listener (idempotent)
}

/**
 * The cluster primary's /metrics: the workers' registries merged by
 * AggregatorRegistry.clusterMetrics(), then the primary's own metrics (probes,
 * webhook, worker restarts), which share no name with the workers'.
 */
export class ClusterMetrics {
  readonly own = new Registry();
  private readonly aggregator = new AggregatorRegistry();

  async text(): Promise<string> {
    const [workers, own] = await Promise.all([this.aggregator.clusterMetrics(), this.own.metrics()]);
    return [workers.trimEnd(), own.trimEnd()].filter(Boolean).join('\n\n') + '\n';
  }
}

export { Registry };
/** prom-client's default registry: the CLI's, which cluster workers report to the primary. */
export { register as globalRegistry } from 'prom-client';
