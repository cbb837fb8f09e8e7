import type { MapConfig, ServiceConfig } from '../config';
import type { RegionRules } from '../geo';

/**
 * What changes between two versions of a map, before the new one goes live (`geosteer check NEW --against
 * OLD`). Pure functions: maps and classifiers in, plain data out. Regions, services and datacenters are
 * matched by name (indexes differ between loads). "Where a region is sent" always means the healthy case:
 * the first datacenter of the region's list for the service (policy geo), or the configured primary (policy
 * primary).
 */

export type Change = 'added' | 'removed' | 'changed' | 'same';

export interface RegionDiff {
  region: string;
  change: Change;
  /** Datacenter names in order of preference; null when the region is absent from that map. */
  old: string[] | null;
  new: string[] | null;
}

/** A classification rule whose region changed: `subdivision CN-HB` south -> north. */
export interface RuleDiff {
  /** 'cidr 10.0.0.0/8' | 'subdivision CN-HB' | 'country CN' | 'continent AS' | 'default' */
  rule: string;
  /** Region name, or null when the rule is absent from that map. */
  old: string | null;
  new: string | null;
}

export interface FieldDiff {
  /** 'ttl' | 'failover_ttl' | 'fallback' | 'aaaa_fallback' | 'answers' | 'policy' | 'primary' | 'standbys' | 'hold_down' | 'datacenters' | 'addresses DC' | 'check' */
  field: string;
  old: string;
  new: string;
}

export interface ServiceRegionDiff {
  region: string;
  /** The datacenters the region's clients try, in order (geo: the region's list for the service; primary: primary then standbys). */
  old: string[] | null;
  new: string[] | null;
  /** Where the region's clients go when everything is up, or null when the region is absent from that map. */
  oldDc: string | null;
  newDc: string | null;
  /** The healthy answer changes (only for regions present in both maps). */
  moved: boolean;
}

export interface ServiceDiff {
  service: string;
  change: Change;
  fields: FieldDiff[];
  /** Regions whose list for this service differs (order-only changes included: see `moved`). */
  regions: ServiceRegionDiff[];
}

export interface MapDiff {
  /** True when anything below differs. */
  changed: boolean;
  datacenters: { added: string[]; removed: string[] };
  /** Every region of either map, in NEW's order then the removed ones. */
  regions: RegionDiff[];
  rules: RuleDiff[];
  /** Every service of either map, in NEW's order then the removed ones. */
  services: ServiceDiff[];
  /** geoip.database of each map ('default' or an absolute path). */
  geoip: { old: string; new: string; same: boolean };
}

/** Datacenter index a region's clients get for a service when everything is healthy. */
export function healthyChoice(svc: ServiceConfig, region: number): number {
  return svc.policy === 'primary' ? svc.primary : svc.preference[region][0];
}

/** The list a region's clients walk for a service (datacenter indexes). */
function regionList(svc: ServiceConfig, region: number): number[] {
  return svc.policy === 'primary' ? [svc.primary, ...svc.standbys] : svc.preference[region];
}

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  return a !== null && b !== null && a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Names of both maps: NEW's order first, then those only in OLD. */
function union(oldNames: string[], newNames: string[]): string[] {
  const seen = new Set(newNames);
  return [...newNames, ...oldNames.filter((n) => !seen.has(n))];
}

/** Every rule of a map as 'kind KEY' -> region name. */
export function ruleOwners(rules: RegionRules): Map<string, string> {
  const out = new Map<string, string>();
  const name = (i: number): string => rules.regions[i];
  for (const c of rules.cidrs) out.set(`cidr ${formatCidr(c.cidr.bytes, c.cidr.prefix)}`, name(c.region));
  for (const [k, v] of rules.subdivisions) out.set(`subdivision ${k}`, name(v));
  for (const [k, v] of rules.countries) out.set(`country ${k}`, name(v));
  for (const [k, v] of rules.continents) out.set(`continent ${k}`, name(v));
  if (rules.asn) for (const [k, v] of rules.asn.regions) out.set(`asn ${k}`, name(v));
  if (rules.defaultRegion >= 0) out.set('default', name(rules.defaultRegion));
  return out;
}

export function formatCidr(bytes: Uint8Array, prefix: number): string {
  if (bytes.length === 4) return `${[...bytes].join('.')}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${groups.join(':')}/${prefix}`;
}

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

function describeCheck(svc: ServiceConfig): string {
  return svc.check ? JSON.stringify(svc.check) : 'none';
}

function addressText(svc: ServiceConfig, dc: number): string {
  const a = svc.addresses[dc];
  if (!a) return 'none';
  // Weights are shown only where they are not 1, so a map without weights reads as before.
  const w = (fam: 'a' | 'aaaa'): string[] => a[fam].map((x, i) => (a.weight[fam][i] === 1 ? x : `${x}=${a.weight[fam][i]}`));
  return [...w('a'), ...w('aaaa')].join(' ');
}

/** The service's settings that changed (not its per-region lists). */
function serviceFields(oldMap: MapConfig, o: ServiceConfig, newMap: MapConfig, n: ServiceConfig): FieldDiff[] {
  const out: FieldDiff[] = [];
  const put = (field: string, a: string, b: string): void => {
    if (a !== b) out.push({ field, old: a, new: b });
  };
  const dcName = (map: MapConfig, i: number): string => (i >= 0 ? map.datacenters[i].name : 'none');
  const dcsOf = (map: MapConfig, s: ServiceConfig): string[] => s.addresses.flatMap((a, i) => (a ? [map.datacenters[i].name] : []));
  put('policy', o.policy, n.policy);
  put('ttl', `${o.ttl}s`, `${n.ttl}s`);
  put('failover_ttl', `${o.failoverTtl}s`, `${n.failoverTtl}s`);
  put('fallback', o.fallback, n.fallback);
  put('aaaa_fallback', o.aaaaFallback, n.aaaaFallback);
  put('answers', o.answers === 0 ? 'all' : `weighted ${o.answers}`, n.answers === 0 ? 'all' : `weighted ${n.answers}`);
  if (o.policy === 'primary' || n.policy === 'primary') {
    put('primary', o.policy === 'primary' ? dcName(oldMap, o.primary) : 'none', n.policy === 'primary' ? dcName(newMap, n.primary) : 'none');
    put('standbys', o.standbys.map((i) => dcName(oldMap, i)).join(' > ') || 'none', n.standbys.map((i) => dcName(newMap, i)).join(' > ') || 'none');
    put('hold_down', seconds(o.holdDownMs), seconds(n.holdDownMs));
  }
  const od = dcsOf(oldMap, o);
  const nd = dcsOf(newMap, n);
  put('datacenters', od.join(' '), nd.join(' '));
  for (const name of nd.filter((d) => od.includes(d))) {
    put(`addresses ${name}`, addressText(o, oldMap.datacenters.findIndex((d) => d.name === name)), addressText(n, newMap.datacenters.findIndex((d) => d.name === name)));
  }
  put('check', describeCheck(o), describeCheck(n));
  return out;
}

/** What changes from `oldMap` to `newMap`: datacenters, region lists, rules, services (settings and where each region goes). */
export function diffMaps(oldMap: MapConfig, newMap: MapConfig): MapDiff {
  const oldDcs = oldMap.datacenters.map((d) => d.name);
  const newDcs = newMap.datacenters.map((d) => d.name);
  const datacenters = { added: newDcs.filter((d) => !oldDcs.includes(d)), removed: oldDcs.filter((d) => !newDcs.includes(d)) };

  const oldRegion = new Map(oldMap.regions.map((r, i) => [r.name, i]));
  const newRegion = new Map(newMap.regions.map((r, i) => [r.name, i]));
  const regionNames = union(oldMap.regions.map((r) => r.name), newMap.regions.map((r) => r.name));
  const regions: RegionDiff[] = regionNames.map((region) => {
    const oi = oldRegion.get(region);
    const ni = newRegion.get(region);
    const old = oi === undefined ? null : oldMap.regions[oi].datacenters.map((d) => oldMap.datacenters[d].name);
    const neu = ni === undefined ? null : newMap.regions[ni].datacenters.map((d) => newMap.datacenters[d].name);
    const change: Change = old === null ? 'added' : neu === null ? 'removed' : sameList(old, neu) ? 'same' : 'changed';
    return { region, change, old, new: neu };
  });

  const oldRules = ruleOwners(oldMap.rules);
  const newRules = ruleOwners(newMap.rules);
  const rules: RuleDiff[] = [];
  for (const rule of union([...oldRules.keys()], [...newRules.keys()])) {
    const o = oldRules.get(rule) ?? null;
    const n = newRules.get(rule) ?? null;
    if (o !== n) rules.push({ rule, old: o, new: n });
  }

  const oldSvc = new Map(oldMap.services.map((s) => [s.name, s]));
  const newSvc = new Map(newMap.services.map((s) => [s.name, s]));
  const services: ServiceDiff[] = union(oldMap.services.map((s) => s.name), newMap.services.map((s) => s.name)).map((service) => {
    const o = oldSvc.get(service);
    const n = newSvc.get(service);
    if (!o || !n) return { service, change: o ? 'removed' : 'added', fields: [], regions: [] };
    const fields = serviceFields(oldMap, o, newMap, n);
    const regs: ServiceRegionDiff[] = [];
    for (const region of regionNames) {
      const oi = oldRegion.get(region);
      const ni = newRegion.get(region);
      const old = oi === undefined ? null : regionList(o, oi).map((d) => oldMap.datacenters[d].name);
      const neu = ni === undefined ? null : regionList(n, ni).map((d) => newMap.datacenters[d].name);
      if (sameList(old, neu)) continue;
      const oldDc = oi === undefined ? null : oldMap.datacenters[healthyChoice(o, oi)].name;
      const newDc = ni === undefined ? null : newMap.datacenters[healthyChoice(n, ni)].name;
      regs.push({ region, old, new: neu, oldDc, newDc, moved: oldDc !== null && newDc !== null && oldDc !== newDc });
    }
    const change: Change = fields.length || regs.length ? 'changed' : 'same';
    return { service, change, fields, regions: regs };
  });

  const geoip = { old: oldMap.geoDatabase, new: newMap.geoDatabase, same: oldMap.geoDatabase === newMap.geoDatabase && oldMap.geoDatabaseIpv6 === newMap.geoDatabaseIpv6 };
  const changed =
    datacenters.added.length > 0 ||
    datacenters.removed.length > 0 ||
    regions.some((r) => r.change !== 'same') ||
    rules.length > 0 ||
    services.some((s) => s.change !== 'same') ||
    !geoip.same;
  return { changed, datacenters, regions, rules, services, geoip };
}

/** What countMovingSlash24 needs of a classifier: GeoClassifier.locate (region * 256 + scope). */
export interface Locator {
  locate(addr: Uint8Array): number;
}

export interface MovePair {
  from: string;
  to: string;
  /** Number of /24s (fractional when a /24 is split between answers). */
  slash24: number;
}

export interface ServiceMoves {
  service: string;
  slash24: number;
  /** slash24 / 2^24. */
  fraction: number;
  /** From -> to datacenter, largest first (all of them; print the top few). */
  pairs: MovePair[];
}

export interface MovingSlash24 {
  /** 2^24. */
  totalSlash24: number;
  /** /24s whose region (by name) changes, with from -> to region pairs, largest first. */
  regionSlash24: number;
  regionPairs: MovePair[];
  /** Services present in both maps. */
  services: ServiceMoves[];
  /** Services only in one map: nothing to compare. */
  notCompared: string[];
  /** Address blocks visited (each uniform in both maps). */
  blocks: number;
}

const IPV4_SPACE = 2 ** 32;

/**
 * How much of the IPv4 space changes datacenter (healthy case) for each service between two maps, each
 * located with its own classifier (its own rules and GeoIP database), in /24s.
 *
 * Exact, not sampled: the walk goes through the IPv4 space block by block. At address `a` both tries answer
 * region + scope; every address of a/scope has that region (that is what the scope means), so the next
 * address whose answer may differ is the nearer of the two blocks' ends. Blocks are visited once each (about
 * 10^5 for GeoLite2-City, versus 2^24 /24 samples), and a /24 split by a CIDR override or a GeoIP network
 * smaller than /24 counts for the fraction of its addresses that move (so counts can be fractional).
 */
export function countMovingSlash24(oldMap: MapConfig, oldClassifier: Locator, newMap: MapConfig, newClassifier: Locator): MovingSlash24 {
  const no = oldMap.regions.length;
  const nn = newMap.regions.length;
  // Addresses per (old region, new region).
  const counts = new Float64Array(no * nn);
  const buf = new Uint8Array(4);
  let blocks = 0;
  let a = 0;
  while (a < IPV4_SPACE) {
    buf[0] = a >>> 24;
    buf[1] = (a >>> 16) & 255;
    buf[2] = (a >>> 8) & 255;
    buf[3] = a & 255;
    const po = oldClassifier.locate(buf);
    const pn = newClassifier.locate(buf);
    const so = 2 ** (32 - (po & 255));
    const sn = 2 ** (32 - (pn & 255));
    const end = Math.min(a - (a % so) + so, a - (a % sn) + sn);
    counts[Math.floor(po / 256) * nn + Math.floor(pn / 256)] += end - a;
    a = end;
    blocks++;
  }

  const byPair = (acc: Map<string, MovePair>, from: string, to: string, addrs: number): void => {
    const k = `${from}\n${to}`;
    const p = acc.get(k);
    if (p) p.slash24 += addrs / 256;
    else acc.set(k, { from, to, slash24: addrs / 256 });
  };
  const sorted = (acc: Map<string, MovePair>): MovePair[] =>
    [...acc.values()].sort((x, y) => y.slash24 - x.slash24 || x.from.localeCompare(y.from) || x.to.localeCompare(y.to));

  const regionAcc = new Map<string, MovePair>();
  for (let ro = 0; ro < no; ro++) {
    for (let rn = 0; rn < nn; rn++) {
      const c = counts[ro * nn + rn];
      const from = oldMap.regions[ro].name;
      const to = newMap.regions[rn].name;
      if (c > 0 && from !== to) byPair(regionAcc, from, to, c);
    }
  }
  const regionPairs = sorted(regionAcc);

  const services: ServiceMoves[] = [];
  const notCompared: string[] = [];
  const oldSvc = new Map(oldMap.services.map((s) => [s.name, s]));
  const newNames = new Set(newMap.services.map((s) => s.name));
  for (const n of newMap.services) {
    const o = oldSvc.get(n.name);
    if (!o) {
      notCompared.push(n.name);
      continue;
    }
    const acc = new Map<string, MovePair>();
    for (let ro = 0; ro < no; ro++) {
      const from = oldMap.datacenters[healthyChoice(o, ro)].name;
      for (let rn = 0; rn < nn; rn++) {
        const c = counts[ro * nn + rn];
        const to = newMap.datacenters[healthyChoice(n, rn)].name;
        if (c > 0 && from !== to) byPair(acc, from, to, c);
      }
    }
    const pairs = sorted(acc);
    const slash24 = pairs.reduce((s, p) => s + p.slash24, 0);
    services.push({ service: n.name, slash24, fraction: slash24 / 2 ** 24, pairs });
  }
  for (const o of oldMap.services) if (!newNames.has(o.name)) notCompared.push(o.name);

  return {
    totalSlash24: 2 ** 24,
    regionSlash24: regionPairs.reduce((s, p) => s + p.slash24, 0),
    regionPairs,
    services,
    notCompared,
    blocks,
  };
}

/** Same region names in the same order and the same rules: one region trie serves both maps. */
export function sameRegionRules(a: MapConfig, b: MapConfig): boolean {
  const ra = ruleOwners(a.rules);
  const rb = ruleOwners(b.rules);
  return (
    a.rules.regions.length === b.rules.regions.length &&
    a.rules.regions.every((r, i) => r === b.rules.regions[i]) &&
    ra.size === rb.size &&
    [...ra].every(([k, v]) => rb.get(k) === v) &&
    // The same AS numbers can cover other blocks after the ASN database changed.
    a.rules.asn?.digest === b.rules.asn?.digest
  );
}
