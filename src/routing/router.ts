import { isIpv4Mapped, parseIp } from '../common/ip';
import type { MapConfig } from '../config';
import { CLASS_CH, CLASS_IN, QTYPE_ANY, type PreparedAnswer, type Query, type QueryResolver, type RrlConfig } from '../dns';
import type { Classification, GeoClassifier } from '../geo';
import type { HealthView } from '../health';
import { allowed, DebugAnswers, EXPLAIN_PREFIX, REFUSED } from './debug-answers';
import type { Decider } from './explain';
import type { Prebuilt, SigningReport } from './build';
import { CompactDenial } from './compact-denial';
import { buildTables } from './pack';
import { applyHealth, type Entry, type RoutingTables } from './tables';
import { buildTransfers, type ZoneTransfer } from './transfer';
import { blockBucket, BUCKETS } from './weights';

const QTYPE_NXNAME = 128;
const FORMERR: PreparedAnswer = { rcode: 1, aa: false, an: 0, ns: 0, ar: 0, body: Buffer.alloc(0), minimal: null, signed: null };

/** Distinct resolver addresses remembered; real deployments see thousands, not millions. */
const RESOLVER_CACHE_MAX = 100_000;

/**
 * Answers queries from prebuilt tables: one Map lookup for the name, and for
 * a service one GeoIP classification (cached) and one array read of the
 * health-derived choice. Build one Router per map version and swap it whole.
 */
export class Router implements QueryResolver, Decider {
  readonly map: MapConfig;
  readonly tables: RoutingTables;
  /** Zone apex -> prebuilt AXFR messages, for the zones with a `transfer:` list. */
  readonly transfers: ReadonlyMap<string, ZoneTransfer>;
  /** server.id for the NSID option (RFC 5001); the dns part sends it when a query asks. */
  readonly nsid: Buffer;
  /** server.rrl, applied by the dns part to UDP answers. */
  readonly rrl: RrlConfig | null;
  /** The signed zones' keys and what signing them cost at build; null when no zone is signed. */
  readonly signing: SigningReport | null;
  /** On-demand compact NXDOMAIN proofs (signed zones only). */
  readonly denial: CompactDenial | null;
  private readonly debug: DebugAnswers;
  private classifier: GeoClassifier;
  private readonly resolverCache = new Map<string, number>();
  /** Resolver address -> its block's bucket (weights.ts), for weighted answers without ECS. */
  private readonly bucketCache = new Map<string, number>();
  private readonly health: HealthView;
  private readonly onHealth = (): void => {
    this.refreshHealth();
  };

  /** `prebuilt`: tables a worker built for `map` (build.ts); without it they are built here, now. */
  constructor(map: MapConfig, classifier: GeoClassifier, health: HealthView, prebuilt?: Prebuilt) {
    this.map = map;
    this.tables = prebuilt?.tables ?? buildTables(map);
    this.transfers = prebuilt?.transfers ?? buildTransfers(map);
    const signing = prebuilt?.signing ?? null;
    this.signing = signing;
    this.denial = signing ? new CompactDenial(signing, new Map(map.zones.map((z) => [z.name, Math.min(z.soa.ttl, z.soa.minimum)]))) : null;
    this.nsid = Buffer.from(map.server.id, 'latin1');
    this.rrl = map.server.rrl;
    this.debug = new DebugAnswers(map);
    this.classifier = classifier;
    this.health = health;
    this.refreshHealth();
    health.on('change', this.onHealth);
  }

  /** Stops following health changes (when a newer Router replaces this one). */
  detach(): void {
    this.health.off('change', this.onHealth);
  }

  /** A new GeoIP database was swapped into the classifier: forget cached resolver results. */
  geoChanged(classifier: GeoClassifier = this.classifier): void {
    this.classifier = classifier;
    this.resolverCache.clear();
  }

  /** Per-address verdicts are votes on the pseudo-datacenter `DC@ADDRESS` (probe/prober.ts writes them). */
  private addressUp(service: string, dc: string, address: string): boolean {
    return this.health.isUp(service, `${dc}@${address}`);
  }

  /** Returns true if any region's answer changed. */
  refreshHealth(): boolean {
    const dcs = this.map.datacenters;
    const svcs = this.map.services;
    return applyHealth(
      this.tables,
      (s, d) => this.health.isUp(svcs[s].name, dcs[d].name),
      (s) => {
        const name = this.health.primary(svcs[s].name);
        return name === null ? -1 : dcs.findIndex((d) => d.name === name);
      },
      (s, d, address) => this.addressUp(svcs[s].name, dcs[d].name, address),
    );
  }

  resolve(q: Query, client: string): PreparedAnswer {
    return this.answer(q, client, true);
  }

  /** The answer `resolve` gives, without counting it as served: explain asks this, so it reports the same decision. */
  preview(q: Query, client: string): PreparedAnswer {
    return this.answer(q, client, false);
  }

  private answer(q: Query, client: string, count: boolean): PreparedAnswer {
    q.scope = 0;
    if (q.qclass !== CLASS_IN) return q.qclass === CLASS_CH ? this.debug.chaos(q, client) : REFUSED;
    // RFC 9824 3.5: NXNAME is a meta-type of compact answers, never a question (signed zones only; others keep NODATA).
    if (q.qtype === QTYPE_NXNAME && this.denial !== null) return FORMERR;
    const t = this.tables;
    let entry: Entry;
    const node = t.nodes.get(q.qname);
    if (node) entry = q.qtype === QTYPE_ANY ? node.any : (node.types.get(q.qtype) ?? node.other);
    else {
      // Debugging name (only names we do not have get here, so normal queries never pay for it).
      if (q.qname.startsWith(EXPLAIN_PREFIX)) return this.debug.explain(q, client, this, this.health);
      // Not a name we have: the nearest delegation above it, else its zone's NXDOMAIN.
      let s = q.qname;
      for (let i = s.indexOf('.'); i >= 0; i = s.indexOf('.')) {
        s = s.slice(i + 1);
        const referral = t.referrals.get(s);
        if (referral) return referral.forLength(q.questionEnd - 16);
        const nx = t.nxdomain.get(s);
        if (nx) {
          const a = nx.forLength(q.questionEnd - 16);
          // DO=1 in a signed zone: the compact denial NSEC names the query, so it is signed now (compact-denial.ts).
          return q.dnssecOk && a.signed !== null && this.denial !== null ? this.denial.answer(q, s, a) : a;
        }
      }
      return REFUSED; // not a zone of ours
    }
    if (!entry.dynamic) return entry.answer;
    const located = this.locate(q, client);
    const svc = entry.service;
    const route = entry.route;
    if (!route.independent) {
      const scope = located & 0xff;
      // A ::ffff:a.b.c.d subnet is located as IPv4: its scope needs the 96 mapped bits back.
      q.scope = q.ecs !== null && q.ecs.family === 2 && isIpv4Mapped(q.ecs.address) ? scope + 96 : scope;
    }
    const region = located >> 8;
    let choice = route.choice[region];
    const w = entry.weights;
    const sp = route.spill;
    const split = sp !== null && sp.split[region] === 1;
    if (w === null && !split) {
      if (count) svc.served[region * svc.stride + choice]++;
      return entry.answers[choice];
    }
    // The answer depends on the client block: a weighted draw, or a region split by capacity (spill.ts).
    const bucket = this.bucketOf(q, client);
    if (split) choice = (sp as { table: Int32Array }).table[region * BUCKETS + bucket];
    if (count) svc.served[region * svc.stride + choice]++;
    const ecs = q.ecs;
    if (ecs !== null && ecs.sourcePrefix > 0) {
      // The answer holds for the draw's block, no wider (and never wider than the client's own source block).
      const block = ecs.family === 1 ? 24 : isIpv4Mapped(ecs.address) ? 120 : 56;
      const s = q.scope > block ? q.scope : block;
      q.scope = s > ecs.sourcePrefix ? ecs.sourcePrefix : s;
    }
    return w === null ? entry.answers[choice] : entry.answers[w.pick[choice * BUCKETS + bucket]];
  }

  /** The weighted-draw bucket of this query's client block: the ECS subnet when given (and not /0), else the resolver's address. */
  bucketOf(q: Query, client: string): number {
    const ecs = q.ecs;
    if (ecs && ecs.sourcePrefix > 0) return blockBucket(ecs.address);
    let b = this.bucketCache.get(client);
    if (b === undefined) {
      b = blockBucket(parseIp(client) ?? new Uint8Array(4));
      if (this.bucketCache.size >= RESOLVER_CACHE_MAX) this.bucketCache.clear();
      this.bucketCache.set(client, b);
    }
    return b;
  }

  /**
   * AXFR/IXFR (the dns part asks over TCP only): the zone's prebuilt messages
   * when q names the apex of a zone with a `transfer:` list that holds the
   * client, else null (refused). IXFR gets the full transfer (RFC 1995 4).
   */
  transfer(q: Query, client: string): readonly PreparedAnswer[] | null {
    if (q.qclass !== CLASS_IN) return null;
    const t = this.transfers.get(q.qname);
    if (t === undefined) return null;
    return allowed(t.acl, client) ? t.messages : null;
  }

  /**
   * Region and scope of this query's client, packed as region * 256 + scope:
   * the ECS subnet when given (and not /0), else the resolver's address. The
   * region trie answers without decoding any MMDB record; the scope is the
   * widest block with the same region (RegionTrie).
   */
  locate(q: Query, client: string): number {
    const ecs = q.ecs;
    if (ecs && ecs.sourcePrefix > 0) return this.classifier.locate(ecs.address);
    let c = this.resolverCache.get(client);
    if (c === undefined) {
      c = this.classifier.locate(parseIp(client) ?? new Uint8Array(4));
      if (this.resolverCache.size >= RESOLVER_CACHE_MAX) this.resolverCache.clear();
      this.resolverCache.set(client, c);
    }
    return c;
  }

  /** The full decision (rule, GeoIP match) for explaining it; not used on the query path. */
  explainAddress(address: Uint8Array): Classification {
    return this.classifier.classify(address);
  }

  /** Region * 256 + scope for an address, as the query path computes it. */
  locateAddress(address: Uint8Array): number {
    return this.classifier.locate(address);
  }
}
