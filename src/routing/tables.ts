import type { Fallback, MapConfig, ServiceConfig, ZoneConfig } from '../config';
import type { OwnedRecords, RecordType } from '../config/records';
import { TYPE_CODE } from '../config/records';
import type { PreparedAnswer } from '../dns';
import { dsRdata, TYPE_CDNSKEY, TYPE_CDS, TYPE_DNSKEY } from '../dnssec';
import { encodeBody, type RR, type Sections, type WireRR } from './encode';
import { PackWriter, type PackedTables } from './pack-writer';
import type { ZoneTransfer } from './transfer';
import { AnswerSigner, nodataNsec, type Signers } from './sign-answers';
import type { SharedAnswer } from './encode';
import { BUCKETS, buildWeightPlan, updatePicks, type WeightPlan } from './weights';
import { bucketCounts, hasCapacity, planSpill, type SpillPlan } from './spill';

/**
 * Answer tables built from a map: every (name, qtype) a client can ask gets a
 * ready answer. Static answers are one PreparedAnswer; a service's answers are
 * one per datacenter (plus the fail-open "all" set), and the health state only
 * picks which one to send. Everything here runs at load, never per query.
 */

const RCODE_NOERROR = 0;
const RCODE_NXDOMAIN = 3;
const QTYPE_DS = 43;
const QTYPE_ANY = 255;
/** CNAME chains inside our zones are followed this far (BIND follows 16, Knot 20; 8 is plenty for a GeoDNS zone). */
const MAX_CHAIN = 8;
/** ANY (RFC 8482) answers with one RRset, the first present in this order. */
const ANY_ORDER: RecordType[] = ['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA', 'NS', 'SOA', 'PTR'];

/**
 * One address family's live routing state, rewritten by applyHealth when
 * health changes. A and AAAA share one unless the service's AAAA answers skip
 * datacenters without IPv6 (`aaaa_fallback: next`).
 */
export interface RouteState {
  /**
   * Per region: index into the entry's answers. 0..ndc-1 = that datacenter,
   * ndc = "all"; the same plus ndc+1 = the same answer with the failover TTL
   * (used when the answer moved off the region's first choice).
   */
  readonly choice: Int32Array;
  /** True when every region gets the same answer: then the ECS scope is 0. */
  independent: boolean;
  /** Per region: 1 when every datacenter of the region's list is down and the fallback answers. */
  readonly fallback: Uint8Array;
  /** Per region: the datacenters this family picks from, in preference order. */
  readonly lists: readonly (readonly number[])[];
  /** Capacity-aware spill (services with `capacity:`), else null. */
  readonly spill: SpillState | null;
}

/** A route's spill: which regions are split now, and per (region, bucket) the choice that replaces `choice[region]`. */
export interface SpillState {
  /** Per region index: its `share:`. */
  readonly shares: readonly number[];
  /** Per region: 1 while its first choice is down and its traffic is split by client block. */
  readonly split: Uint8Array;
  /** region * BUCKETS + bucket -> choice index (a datacenter + ndc + 1: moved, failover TTL). */
  readonly table: Int32Array;
  /** The plan the tables follow (for explain, check and metrics). */
  plan: SpillPlan | null;
}

/** A service's live routing state; `choice` is rewritten when health changes. */
export interface ServiceRuntime {
  readonly index: number;
  readonly config: ServiceConfig;
  /** Number of datacenters in the map; answers[ndc] is the fail-open "all" answer. */
  readonly ndc: number;
  /** A answers (and everything else that follows the region's list as the map gives it). */
  readonly a: RouteState;
  /**
   * AAAA answers: the same object as `a`, or for `aaaa_fallback: next` (policy geo)
   * one whose lists leave out the datacenters without IPv6 addresses.
   */
  readonly aaaa: RouteState;
  /** `a.choice`, `a.independent` and `a.fallback`, as the observability part reads them. */
  readonly choice: Int32Array;
  readonly independent: boolean;
  readonly fallback: Uint8Array;
  /** Answers served, per region x choice index (region * stride + choice); read at scrape time. */
  served: Float64Array;
  /** Choice indexes per region in `served`: 2 * (ndc + 1). */
  readonly stride: number;
  /** `answers: weighted N`: each family's draw (null when every client gets every address). */
  readonly weights: { readonly a: WeightPlan | null; readonly aaaa: WeightPlan | null };
}

export interface StaticEntry {
  readonly dynamic: false;
  readonly answer: PreparedAnswer;
}
export interface DynamicEntry {
  readonly dynamic: true;
  readonly service: ServiceRuntime;
  /** The family state this entry's answers follow (service.a or service.aaaa). */
  readonly route: RouteState;
  /**
   * Indexed like ServiceRuntime.choice values; with `weights`, followed by one answer per weighted address
   * set (normal TTL, then failover TTL), which `weights.pick` indexes.
   */
  readonly answers: PreparedAnswer[];
  /** The service's plan for this entry's family, or null: then answers[choice] is the answer. */
  readonly weights: WeightPlan | null;
}
export type Entry = StaticEntry | DynamicEntry;

export interface NodeEntry {
  readonly types: Map<number, Entry>;
  /** Any type not in `types` (NODATA, or a CNAME chain's NODATA, or a referral). */
  readonly other: Entry;
  readonly any: Entry;
}

/** What the query path asks of the names: a Map built here, or packed tables a worker built (pack.ts). */
export interface NodeLookup {
  get(name: string): NodeEntry | undefined;
  readonly size: number;
}

export interface RoutingTables {
  /** Every name that exists: owners, services, empty non-terminals, delegation points and glue below them. */
  readonly nodes: NodeLookup;
  /** Zone apex -> NXDOMAIN answer, for names under the zone that do not exist. */
  readonly nxdomain: Map<string, SharedAnswer>;
  /** Delegation point -> referral, for names below it that do not exist here. */
  readonly referrals: Map<string, SharedAnswer>;
  readonly services: ServiceRuntime[];
}

interface BuildNode {
  name: string;
  zone: ZoneConfig;
  /** The name's RRsets in the order their types first appear (a list: most names have one or two). */
  rrsets: RR[][];
  service: ServiceRuntime | null;
  /** Nearest delegation point at or above this name (apex excluded), or null. */
  cut: string | null;
}

interface Plan extends Sections {
  /** When set, the service's addresses of `serviceType` are appended to `answer` per datacenter. */
  service: ServiceRuntime | null;
  serviceType: 'A' | 'AAAA' | null;
  /** Zone whose SOA goes in authority if the service has no address of that type. */
  serviceZone: ZoneConfig | null;
  /** A NODATA answer: the name that exists without the type (its NSEC proves it when signed). */
  nodata: string | null;
}

/** The empty section of every plan that has none: shared, so never written to (plans' arrays are only read). */
const NONE: RR[] = [];

function makePlan(
  rcode: number,
  aa: boolean,
  answer: RR[],
  authority: RR[],
  additional: RR[],
  nodata: string | null = null,
  service: ServiceRuntime | null = null,
  serviceType: 'A' | 'AAAA' | null = null,
  serviceZone: ZoneConfig | null = null,
): Plan {
  return { rcode, aa, answer, authority, additional, service, serviceType, serviceZone, nodata };
}

function soaRR(zone: ZoneConfig, negative: boolean): RR {
  const s = zone.soa;
  // RFC 2308 section 5: negative answers carry the SOA with TTL min(SOA TTL, MINIMUM).
  const ttl = negative ? Math.min(s.ttl, s.minimum) : s.ttl;
  return {
    name: zone.name,
    ttl,
    rdata: { type: 'SOA', mname: s.mname, rname: s.rname, serial: s.serial, refresh: s.refresh, retry: s.retry, expire: s.expire, minimum: s.minimum },
  };
}

/** Each service's live routing state (health writes its choices); made on the thread that answers. */
export function buildServices(map: MapConfig): ServiceRuntime[] {
  return map.services.map((config, index) => {
    const spill = hasCapacity(config);
    const route = (lists: number[][]): RouteState => ({
      choice: new Int32Array(map.regions.length),
      independent: false,
      fallback: new Uint8Array(map.regions.length),
      lists,
      spill: spill
        ? { shares: map.regions.map((g) => g.share ?? 0), split: new Uint8Array(map.regions.length), table: new Int32Array(map.regions.length * BUCKETS), plan: null }
        : null,
    });
    const a = route(config.preference);
    // AAAA skips datacenters without IPv6 (gdnsd and Route 53 users expect an answer, not NODATA).
    // A region none of whose datacenters has IPv6 keeps its list: every choice there is NODATA anyway.
    const has6 = (dc: number): boolean => (config.addresses[dc]?.aaaa.length ?? 0) > 0;
    const apart =
      config.aaaaFallback === 'next' && config.policy === 'geo' && config.preference.some((list) => list.some((dc) => !has6(dc)));
    const aaaa = apart ? route(config.preference.map((list) => (list.some(has6) ? list.filter(has6) : list))) : a;
    return {
      index,
      config,
      ndc: map.datacenters.length,
      a,
      aaaa,
      choice: a.choice,
      get independent(): boolean {
        return a.independent;
      },
      fallback: a.fallback,
      served: new Float64Array(map.regions.length * 2 * (map.datacenters.length + 1)),
      stride: 2 * (map.datacenters.length + 1),
      weights: { a: buildWeightPlan(config, 'a', map.datacenters.length), aaaa: buildWeightPlan(config, 'aaaa', map.datacenters.length) },
    };
  });
}

/** The RRset of `type` at a node, or undefined. */
function setOf(n: BuildNode, type: RecordType): RR[] | undefined {
  for (const set of n.rrsets) if (set[0].rdata.type === type) return set;
  return undefined;
}

/** A zone's records by owner name: the zone check's grouping while it is still the zone's, else made here. */
function ownersOf(zone: ZoneConfig): ReadonlyMap<string, OwnedRecords> {
  const g = zone.grouped;
  if (g !== undefined && g.records === zone.records && g.length === zone.records.length) return g.byName;
  const byName = new Map<string, OwnedRecords>();
  for (const rec of zone.records) {
    const had = byName.get(rec.name);
    if (had === undefined) byName.set(rec.name, rec);
    else if (Array.isArray(had)) had.push(rec);
    else byName.set(rec.name, [had, rec]);
  }
  return byName;
}

/** Appends a name's records to `rrsets`, one list per type in the order the types first appear. */
function addRRsets(rrsets: RR[][], owned: OwnedRecords): void {
  if (!Array.isArray(owned)) {
    // The zone's record objects themselves (name, ttl, rdata): no copy per record.
    for (const set of rrsets) {
      if (set[0].rdata.type === owned.rdata.type) {
        set.push(owned);
        return;
      }
    }
    rrsets.push([owned]);
    return;
  }
  for (const rec of owned) addRRsets(rrsets, rec);
}

/** Whether a name's records include one of `type`. */
function ownsType(owned: OwnedRecords, type: RecordType): boolean {
  if (!Array.isArray(owned)) return owned.rdata.type === type;
  for (const rec of owned) if (rec.rdata.type === type) return true;
  return false;
}

/** How many RRsets (distinct types) a name's records make. */
function typeCount(owned: OwnedRecords): number {
  if (!Array.isArray(owned)) return 1;
  let n = 0;
  for (let i = 0; i < owned.length; i++) {
    let seen = false;
    for (let j = 0; j < i && !seen; j++) seen = owned[j].rdata.type === owned[i].rdata.type;
    if (!seen) n++;
  }
  return n;
}

const CODE_TYPE = new Map<number, RecordType>((Object.keys(TYPE_CODE) as RecordType[]).map((t) => [TYPE_CODE[t], t]));

/** Same sections, told apart by the identity of their RR objects (equal plans of a name share one answer). */
function samePlan(a: Plan, b: Plan): boolean {
  const same = (x: RR[], y: RR[]): boolean => {
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  };
  return a.rcode === b.rcode && a.aa === b.aa && a.nodata === b.nodata && same(a.answer, b.answer) && same(a.authority, b.authority) && same(a.additional, b.additional);
}

/**
 * Builds every answer of the map straight into packed tables (pack-writer.ts; pack.ts reads them).
 * `signers`: the signed zones' keys (build-worker.ts loads them); each answer of such a zone then
 * gets its `signed` counterpart (sign-answers.ts). `transfers`' messages are packed with the answers.
 */
export function buildPacked(map: MapConfig, services: ServiceRuntime[], signers: Signers, transfers: ReadonlyMap<string, ZoneTransfer>): PackedTables {
  const signer = new AnswerSigner(signers);

  // 1. Gather nodes. A zone's records by name are the zone check's grouping (ZoneConfig.grouped), and a name's
  // node is made when it is wanted and dropped after: a million-name zone gets no second Map of its names and no
  // node object, RRset lists and Map entry per name living through the build for the GC to copy and mark.
  // Only names that are more than a zone's records (a service, an empty non-terminal, an owner in two zones)
  // get a lasting node, in `extra`. The nodes are walked in the order a Map of every name would have them:
  // each zone's owners in file order (a name in two zones at its first), new service names, then the
  // empty non-terminals as they are found; the packed tables' layout follows that order.
  const zones = map.zones;
  const owners = zones.map(ownersOf);
  const zoneOf = (name: string): ZoneConfig | null => {
    let best: ZoneConfig | null = null;
    for (const z of zones) {
      if ((name === z.name || name.endsWith('.' + z.name)) && (!best || z.name.length > best.name.length)) best = z;
    }
    return best;
  };
  const extra = new Map<string, BuildNode>();
  /** Service names and empty non-terminals that no zone owns, in the order they were added. */
  const tail: BuildNode[] = [];
  const ownerZone = (name: string): number => {
    for (let zi = 0; zi < owners.length; zi++) if (owners[zi].has(name)) return zi;
    return -1;
  };
  /** The lasting node of a name some zone owns: its records from every zone that has them, in zone order. */
  const merged = (name: string, first: number): BuildNode => {
    const n: BuildNode = { name, zone: zones[first], rrsets: [], service: null, cut: null };
    for (let zi = first; zi < owners.length; zi++) {
      const o = owners[zi].get(name);
      if (o !== undefined) addRRsets(n.rrsets, o);
    }
    extra.set(name, n);
    return n;
  };
  for (let zi = 1; zi < owners.length; zi++) {
    for (const name of owners[zi].keys()) {
      if (extra.has(name)) continue;
      const first = ownerZone(name);
      if (first < zi) merged(name, first);
    }
  }
  const exists = (name: string): boolean => extra.has(name) || ownerZone(name) >= 0;
  for (const svc of services) {
    const name = svc.config.name;
    let n = extra.get(name);
    if (!n) {
      const first = ownerZone(name);
      if (first >= 0) n = merged(name, first);
      else {
        n = { name, zone: zones[svc.config.zone], rrsets: [], service: null, cut: null };
        extra.set(name, n);
        tail.push(n);
      }
    }
    n.service = svc;
  }
  /** Calls `f` for every node in order: a zone-owned name without a lasting node with its records, else its node. */
  const eachNode = (f: (name: string, zone: ZoneConfig, owned: OwnedRecords | null, node: BuildNode | null) => void): void => {
    for (let zi = 0; zi < owners.length; zi++) {
      const zone = zones[zi];
      // forEach, not for-of: an entry array and a result object per name is 64 MB of garbage at 1M.
      owners[zi].forEach((owned, name) => {
        const x = extra.size === 0 ? undefined : extra.get(name);
        if (x === undefined) f(name, zone, owned, null);
        else if (x.zone === zone) f(name, zone, null, x); // else it was walked with the first zone that has it
      });
    }
    for (let i = 0; i < tail.length; i++) f(tail[i].name, tail[i].zone, null, tail[i]);
  };
  // Empty non-terminals: every ancestor up to the apex exists (RFC 8020: NODATA, not NXDOMAIN). The ones added
  // here are walked too (the tail grows while it is walked; their ancestors are there already), and the apex
  // (it has its SOA) is not sliced out of each of its children's names.
  eachNode((nodeName, zone) => {
    const apexLength = zone.name.length;
    for (let name = nodeName; name.length > apexLength; ) {
      const dot = name.indexOf('.');
      if (name.length - dot - 1 === apexLength) break;
      name = name.slice(dot + 1);
      if (!exists(name)) {
        const n: BuildNode = { name, zone, rrsets: [], service: null, cut: null };
        extra.set(name, n);
        tail.push(n);
      }
    }
  });
  const cuts = new Set<string>();
  eachNode((name, zone, owned, node) => {
    if (name !== zone.name && (owned !== null ? ownsType(owned, 'NS') : setOf(node as BuildNode, 'NS') !== undefined)) cuts.add(name);
  });
  /** The delegation a name is at or below: the highest cut between it and its zone's apex, or null. */
  const cutOf = (name: string, zone: ZoneConfig): string | null => {
    let cut: string | null = null;
    for (let s = name; s !== zone.name; s = s.slice(s.indexOf('.') + 1)) if (cuts.has(s)) cut = s;
    return cut;
  };
  if (cuts.size) for (const n of extra.values()) n.cut = cutOf(n.name, n.zone);
  const nodeFor = (name: string, zone: ZoneConfig, owned: OwnedRecords): BuildNode => {
    // One record: arrays of one (an empty [] pushed to grows room for 17).
    let rrsets: RR[][];
    if (Array.isArray(owned)) addRRsets((rrsets = []), owned);
    else rrsets = [[owned]];
    return { name, zone, rrsets, service: null, cut: cuts.size === 0 ? null : cutOf(name, zone) };
  };
  // The last few names looked up and their nodes: a CNAME's plans look its target up once per type, an MX's
  // its exchange for each of MX and ANY. Nodes are never changed once made, so a cached one stays right.
  const seenNames: Array<string | null> = [null, null, null, null];
  const seenNodes: Array<BuildNode | undefined> = [undefined, undefined, undefined, undefined];
  let seenNext = 0;
  const nodes = {
    get(name: string): BuildNode | undefined {
      for (let i = 0; i < seenNames.length; i++) if (seenNames[i] === name) return seenNodes[i];
      let n = extra.size === 0 ? undefined : extra.get(name);
      if (n === undefined) {
        for (let zi = 0; zi < owners.length; zi++) {
          const o = owners[zi].get(name);
          if (o !== undefined) {
            n = nodeFor(name, zones[zi], o);
            break;
          }
        }
      }
      seenNames[seenNext] = name;
      seenNodes[seenNext] = n;
      seenNext = (seenNext + 1) & 3;
      return n;
    },
  };

  // The writer's arrays sized near what a zone like the 1M-record bench's needs (test/helpers/big-zone.ts: per
  // name 2.6 pairs, 2.4 answers of 39 bytes): A and AAAA per name, one per RRset, NODATA; hints, they grow.
  let count = 0;
  let chars = 0;
  let rrsets = 0;
  eachNode((name, _zone, owned, node) => {
    count++;
    chars += name.length;
    rrsets += owned !== null ? typeCount(owned) : (node as BuildNode).rrsets.length;
  });
  const answers = 2 * count + rrsets;
  const w = new PackWriter({ nodes: count, chars, pairs: 2 * count + rrsets, answers, bodyBytes: answers * 32 });

  // 2. Plans.
  const addressesOf = (name: string): RR[] => {
    const n = nodes.get(name);
    if (!n || n.service) return [];
    return [...(setOf(n, 'A') ?? []), ...(setOf(n, 'AAAA') ?? [])];
  };
  const glueFor = (rrs: RR[]): RR[] => {
    let out = NONE;
    for (const rr of rrs) {
      const d = rr.rdata;
      const target = d.type === 'NS' || d.type === 'SRV' ? d.target : d.type === 'MX' ? d.exchange : null;
      if (target === null) continue;
      for (const g of addressesOf(target)) {
        if (out === NONE) out = [];
        if (!out.includes(g)) out.push(g);
      }
    }
    return out;
  };
  const referral = (cut: string): Plan => {
    const cutNode = nodes.get(cut);
    const ns = (cutNode && setOf(cutNode, 'NS')) ?? NONE;
    return makePlan(RCODE_NOERROR, false, NONE, ns, glueFor(ns));
  };
  // One negative SOA per zone, so that equal plans hold the same RR objects (see samePlan).
  // (And one authority section holding it: a negative plan per name allocates nothing else.)
  const negativeSoa = new Map<ZoneConfig, RR[]>();
  const negAuthority = (zone: ZoneConfig): RR[] => {
    let rrs = negativeSoa.get(zone);
    if (!rrs) negativeSoa.set(zone, (rrs = [soaRR(zone, true)]));
    return rrs;
  };
  const negSoa = (zone: ZoneConfig): RR => negAuthority(zone)[0];
  // The last negative plan is reused while it fits: a name's A, AAAA and other types are often the same NODATA.
  // (Plans are only read, never changed.)
  let lastNegative: Plan | null = null;
  let lastNegativeZone: ZoneConfig | null = null;
  const negative = (zone: ZoneConfig, rcode: number, nodata: string | null = null): Plan => {
    if (lastNegative !== null && lastNegativeZone === zone && lastNegative.rcode === rcode && lastNegative.nodata === nodata) return lastNegative;
    lastNegativeZone = zone;
    return (lastNegative = makePlan(rcode, true, NONE, negAuthority(zone), NONE, nodata));
  };

  /** `known`: the node of `name` when the caller has it (a lookup in a Map of a million names is a cache miss). */
  const plan = (name: string, qtype: number, depth: number, known?: BuildNode): Plan | null => {
    const n = known ?? nodes.get(name);
    if (!n) {
      const zone = zoneOf(name);
      if (!zone) return null;
      for (let s = name; s !== zone.name; s = s.slice(s.indexOf('.') + 1)) {
        // The highest cut above a missing name decides; walk to the top and remember the last seen.
        if (cuts.has(s)) {
          let top = s;
          for (let t = s; t !== zone.name; t = t.slice(t.indexOf('.') + 1)) if (cuts.has(t)) top = t;
          return referral(top);
        }
      }
      return negative(zone, RCODE_NXDOMAIN);
    }
    if (n.cut) {
      // At the cut itself DS belongs to this (parent) side: we have none, so NODATA.
      if (n.cut === name && qtype === QTYPE_DS) return negative(n.zone, RCODE_NOERROR, name);
      return referral(n.cut);
    }
    const cname = setOf(n, 'CNAME');
    if (cname && qtype !== TYPE_CODE.CNAME) {
      const target = (cname[0].rdata as { target: string }).target;
      const rest = depth < MAX_CHAIN ? plan(target, qtype, depth + 1) : null;
      if (!rest || !rest.aa) return makePlan(RCODE_NOERROR, true, cname, NONE, NONE); // left our zones or hit a referral
      return { ...rest, answer: [...cname, ...rest.answer] };
    }
    let type = qtype;
    if (qtype === QTYPE_ANY) {
      if (n.service) type = n.service.config.addresses.some((a) => a && a.a.length) ? TYPE_CODE.A : TYPE_CODE.AAAA;
      else {
        let first: RecordType | null = null;
        for (const t of ANY_ORDER) {
          if (setOf(n, t)) {
            first = t;
            break;
          }
        }
        if (first === null) return negative(n.zone, RCODE_NOERROR, name);
        type = TYPE_CODE[first];
      }
    }
    if (n.service && (type === TYPE_CODE.A || type === TYPE_CODE.AAAA)) {
      return makePlan(RCODE_NOERROR, true, NONE, NONE, NONE, null, n.service, type === TYPE_CODE.A ? 'A' : 'AAAA', n.zone);
    }
    const rtype = CODE_TYPE.get(type);
    const set = rtype ? setOf(n, rtype) : undefined;
    if (!set) return negative(n.zone, RCODE_NOERROR, name);
    return makePlan(RCODE_NOERROR, true, set, NONE, glueFor(set));
  };

  // 3. Encode (and sign), straight into the packed tables.
  /** The types a name has, as its NSEC lists them (a delegation point: NS only, the rest is the child's). */
  const typesAt = (name: string): number[] => {
    const n = nodes.get(name);
    if (!n) return [];
    if (n.cut === name) return [TYPE_CODE.NS];
    const types = n.rrsets.map((set) => TYPE_CODE[set[0].rdata.type]);
    if (n.service?.config.addresses.some((a) => a && a.a.length)) types.push(TYPE_CODE.A);
    if (n.service?.config.addresses.some((a) => a && a.aaaa.length)) types.push(TYPE_CODE.AAAA);
    if (name === n.zone.name && signers.has(name)) types.push(TYPE_DNSKEY, ...(signers.get(name)?.sepKeys.length ? [TYPE_CDS, TYPE_CDNSKEY] : []));
    return types;
  };
  const zoneNameOf = (name: string): string => zoneOf(name)?.name ?? '';
  /** The sections encoded (and without their additional section, when they have one); returns the answer index. */
  const put = (name: string, qtype: number, s: Sections<WireRR>): number => {
    const k = w.answer(encodeBody(name, qtype, s, true), s.rcode, s.aa, s.answer.length, s.authority.length, s.additional.length);
    if (s.additional.length) w.setMinimal(k, w.answer(encodeBody(name, qtype, s, false), s.rcode, s.aa, s.answer.length, s.authority.length, 0));
    return k;
  };
  /** put, plus the signed counterpart when the name's zone is signed. */
  const enc = (name: string, qtype: number, p: Plan): number => {
    const k = put(name, qtype, p);
    if (signer.size === 0) return k;
    const zone = zoneNameOf(name);
    const nodata = p.nodata;
    const denial: WireRR[] = nodata === null ? [] : [nodataNsec(nodata, typesAt(nodata).filter((t) => t !== qtype), negSoa(nodes.get(nodata)?.zone ?? (zoneOf(nodata) as ZoneConfig)).ttl)];
    const signed = signer.sections(zone, p, denial);
    if (signed) w.setSigned(k, put(name, qtype, signed));
    return k;
  };
  /** An entry reference: the answer index of a static plan, or (< 0) a service entry with its answers. */
  const encode = (name: string, qtype: number, p: Plan): number => {
    if (!p.service) return enc(name, qtype, p);
    const svc = p.service;
    let ttl = svc.config.ttl;
    const type = p.serviceType as 'A' | 'AAAA';
    const key = type === 'A' ? 'a' : 'aaaa';
    const variant = (addrs: string[]): number => {
      if (addrs.length === 0) return enc(name, qtype, { ...p, authority: [soaRR(p.serviceZone as ZoneConfig, true)], nodata: svc.config.name });
      const rrs: RR[] = addrs.map((address) => ({ name: svc.config.name, ttl, rdata: { type, address } }));
      return enc(name, qtype, { ...p, answer: [...p.answer, ...rrs] });
    };
    const answers: number[] = [];
    for (const rrTtl of [svc.config.ttl, svc.config.failoverTtl]) {
      ttl = rrTtl;
      for (const a of svc.config.addresses) answers.push(variant(a ? a[key] : []));
      answers.push(variant(svc.config.addresses.flatMap((a) => (a ? a[key] : []))));
    }
    const weights = svc.weights[key];
    if (weights) {
      for (const rrTtl of [svc.config.ttl, svc.config.failoverTtl]) {
        ttl = rrTtl;
        for (const set of weights.subsets) {
          const all = (svc.config.addresses[set.dc] as { a: string[]; aaaa: string[] })[key];
          answers.push(variant(set.members.map((i) => all[i])));
        }
      }
    }
    return w.dynamicEntry({ service: svc.index, route: type === 'AAAA' && svc.aaaa !== svc.a ? 'aaaa' : 'a', answers, weights: weights === null ? null : key });
  };

  // Several qtypes of one name often get the same sections (A, AAAA and "other" NODATA; ANY and the first
  // RRset): their bodies are the same bytes, since the question is outside the body. Encode each distinct
  // plan of a name once (samePlan); the memo lives for one name. The memo and `wanted` are arrays kept for the
  // whole build with a count of what is used: emptied with `length = 0`, each got a new backing store per name.
  const memoPlans: Plan[] = [];
  const memoRefs: number[] = [];
  let memoCount = 0;
  // A NODATA body is the zone's SOA, its names compressed against the question: the same bytes for every name of the
  // zone with the same length (the question is outside the body), unless a name ends in a name of the SOA below the
  // apex (ns1.example.com., its children), whose pointers land elsewhere. Those bodies are encoded once per (zone,
  // length) and shared: a 1M-name zone has a NODATA per name, 40% of its answers. Not for a signed zone: its NSEC
  // names the query.
  const sharedNodata = new Map<ZoneConfig, { below: string[]; byLength: Map<number, number> } | null>();
  const nodataShare = (zone: ZoneConfig): { below: string[]; byLength: Map<number, number> } | null => {
    let s = sharedNodata.get(zone);
    if (s !== undefined) return s;
    s = null;
    if (!signers.has(zone.name) && zone.name !== '') {
      const soa = negSoa(zone).rdata as { mname: string; rname: string };
      const below: string[] = [];
      for (const n of [soa.mname, soa.rname]) {
        for (let t = n.toLowerCase(); t.length > zone.name.length && t.endsWith('.' + zone.name); t = t.slice(t.indexOf('.') + 1)) below.push(t);
      }
      s = { below, byLength: new Map() };
    }
    sharedNodata.set(zone, s);
    return s;
  };
  const isNodata = (p: Plan, zone: ZoneConfig): boolean =>
    p.rcode === RCODE_NOERROR && p.aa && p.answer.length === 0 && p.additional.length === 0 && p.authority === negAuthority(zone) && (signers.size === 0 || !signers.has(zoneNameOf(p.nodata ?? '')));
  const entryFor = (n: BuildNode, qtype: number): number => {
    const name = n.name;
    const p = plan(name, qtype, 0, n) as Plan; // name exists, so a plan always exists
    if (p.service) return encode(name, qtype, p);
    for (let i = 0; i < memoCount; i++) if (samePlan(memoPlans[i], p)) return memoRefs[i];
    let ref: number;
    const share = isNodata(p, n.zone) ? nodataShare(n.zone) : null;
    if (share !== null && !share.below.some((b) => name === b || name.endsWith('.' + b))) {
      const had = share.byLength.get(name.length);
      ref = had ?? encode(name, qtype, p);
      if (had === undefined) share.byLength.set(name.length, ref);
    } else ref = encode(name, qtype, p);
    memoPlans[memoCount] = p;
    memoRefs[memoCount++] = ref;
    return ref;
  };
  const wanted: number[] = [];
  let wantedCount = 0;
  const want = (t: number): void => {
    for (let i = 0; i < wantedCount; i++) if (wanted[i] === t) return;
    wanted[wantedCount++] = t;
  };
  eachNode((name, zone, owned, node) => {
    const n = node ?? nodeFor(name, zone, owned as OwnedRecords);
    // Types worth their own entry: those at the node, and for a CNAME those at the chain's end.
    wantedCount = 0;
    want(TYPE_CODE.A);
    want(TYPE_CODE.AAAA);
    for (let cur: BuildNode | undefined = n, i = 0; cur && i <= MAX_CHAIN; i++) {
      for (const set of cur.rrsets) want(TYPE_CODE[set[0].rdata.type]);
      const c = setOf(cur, 'CNAME');
      cur = c ? nodes.get((c[0].rdata as { target: string }).target) : undefined;
    }
    if (n.cut === n.name) want(QTYPE_DS);
    memoCount = 0;
    for (let i = 0; i < wantedCount; i++) w.type(wanted[i], entryFor(n, wanted[i]));
    // Any other type gets the same bytes (the question is outside the body), so encode it once.
    const other = entryFor(n, 0xff00);
    const any = entryFor(n, QTYPE_ANY);
    const zs = signers.get(n.name);
    if (zs && n.name === n.zone.name) {
      // The DNSKEY RRset at a signed apex, signed by the key-signing keys; CDS and CDNSKEY (RFC 7344): the DS
      // the parent should hold, for the published key-signing keys.
      const sets: Array<[number, Buffer[]]> = [[TYPE_DNSKEY, zs.keys.map((k) => k.rdata)]];
      if (zs.sepKeys.length) sets.push([TYPE_CDS, zs.sepKeys.map(dsRdata)], [TYPE_CDNSKEY, zs.sepKeys.map((k) => k.rdata)]);
      for (const [code, rdatas] of sets) {
        const rrs: WireRR[] = rdatas.map((data) => ({ name: n.name, ttl: n.zone.soa.ttl, rdata: { type: 'RAW', code, data } }));
        const plain: Sections<WireRR> = { rcode: RCODE_NOERROR, aa: true, answer: rrs, authority: [], additional: [] };
        const k = put(n.name, code, plain);
        w.setSigned(k, put(n.name, code, signer.sections(n.name, plain) as Sections<WireRR>));
        w.type(code, k);
      }
    }
    w.node(n.name, other, any);
  });
  const nxdomain: PackedTables['nxdomain'] = [];
  // Signed: NOERROR with the signed SOA; the query's own NSEC is added per query name (compact-denial.ts).
  for (const z of map.zones) nxdomain.push([z.name, negative(z, RCODE_NXDOMAIN), signer.sections(z.name, negative(z, RCODE_NOERROR))]);
  const referrals: PackedTables['referrals'] = [];
  for (const c of cuts) {
    const r = referral(c);
    const zone = nodes.get(c)?.zone as ZoneConfig;
    // Signed: the NSEC at the cut (NS, no DS) proves the child is unsigned (RFC 4035 3.1.4.1).
    referrals.push([c, r, signer.sections(zone.name, r, [nodataNsec(c, [TYPE_CODE.NS], negSoa(zone).ttl)])]);
  }
  const packedTransfers = [...transfers.values()].map((tr) => ({ zone: tr.zone, acl: tr.acl, messages: tr.messages.map((m) => w.prepared(m)) }));
  return w.finish({ nxdomain, referrals, transfers: packedTransfers });
}

/**
 * Recomputes each service's per-region choice from health; returns true if
 * anything changed. `primaryOf` gives the shared primary pointer of a
 * `policy: primary` service (a datacenter index, or -1 when there is none).
 * `addressUp` is asked for the addresses of weighted services whose check is
 * `per_address`: a dead one leaves the draw (weights.ts).
 */
export function applyHealth(
  tables: RoutingTables,
  isUp: (service: number, dc: number) => boolean,
  primaryOf: (service: number) => number = () => -1,
  addressUp: (service: number, dc: number, address: string) => boolean = () => true,
): boolean {
  let changed = false;
  for (const svc of tables.services) {
    const perAddress = svc.config.check?.perAddress === true;
    for (const plan of [svc.weights.a, svc.weights.aaaa]) {
      if (!plan || !perAddress) continue;
      const alive = (dc: number, i: number): boolean => addressUp(svc.index, dc, plan.draws[dc]?.addresses[i] ?? '');
      if (updatePicks(plan, svc.ndc, alive)) changed = true;
    }
    let primary = -1;
    if (svc.config.policy === 'primary') {
      const p = primaryOf(svc.index);
      primary = p >= 0 && svc.config.addresses[p] ? p : svc.config.primary;
    }
    if (applyRoute(svc, svc.a, primary, isUp)) changed = true;
    if (svc.aaaa !== svc.a && applyRoute(svc, svc.aaaa, primary, isUp)) changed = true;
  }
  return changed;
}

function applyRoute(svc: ServiceRuntime, route: RouteState, primary: number, isUp: (service: number, dc: number) => boolean): boolean {
  let changed = false;
  const moved = svc.ndc + 1;
  const lists = route.lists;
  const sp = route.spill;
  const plan = sp !== null && primary < 0 ? planSpill(svc.config, lists, sp.shares, (dc) => isUp(svc.index, dc)) : null;
  if (sp !== null) sp.plan = plan;
  for (let r = 0; r < lists.length; r++) {
    const list = lists[r];
    let pick = -1;
    if (primary >= 0) {
      // Every region gets the primary, healthy or not: moving it is the leader's job (hold-down, fencing).
      pick = primary === svc.config.primary ? primary : primary + moved;
    } else {
      for (const dc of list) {
        if (isUp(svc.index, dc)) {
          pick = dc === list[0] ? dc : dc + moved;
          break;
        }
      }
      route.fallback[r] = pick < 0 ? 1 : 0;
      if (pick < 0) pick = fallbackChoice(svc.config.fallback, list, svc.ndc) + moved;
    }
    const split = plan?.regions[r] ?? null;
    if (sp !== null && primary < 0) {
      const was = sp.split[r];
      sp.split[r] = split ? 1 : 0;
      if (was !== sp.split[r]) changed = true;
      if (split) {
        // choice[r] shows the datacenter with the largest part (status, metrics); the table decides per block.
        let big = split[0];
        for (const x of split) if (x.fraction > big.fraction) big = x;
        pick = big.dc + moved;
        const counts = bucketCounts(split);
        let b = r * BUCKETS;
        split.forEach((x, i) => {
          for (let k = 0; k < counts[i]; k++, b++) {
            if (sp.table[b] !== x.dc + moved) {
              sp.table[b] = x.dc + moved;
              changed = true;
            }
          }
        });
      }
    }
    if (route.choice[r] !== pick) {
      route.choice[r] = pick;
      changed = true;
    }
  }
  // Same addresses everywhere (TTLs may differ) = the answer does not depend on the client.
  let same = true;
  for (let r = 1; r < route.choice.length; r++) if (route.choice[r] % moved !== route.choice[0] % moved) same = false;
  if (sp !== null && sp.split.includes(1)) same = false;
  route.independent = same;
  return changed;
}

function fallbackChoice(fallback: Fallback, list: readonly number[], ndc: number): number {
  return fallback === 'all' ? ndc : list[0];
}
