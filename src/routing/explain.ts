import { formatIp, maskIp, unmapIpv4 } from '../common/ip';
import type { MapConfig } from '../config';
import type { Classification, GeoMatch } from '../geo';
import type { HealthView } from '../health';
import type { RoutingTables } from './tables';

/**
 * What an explanation reads from the router: the map, its tables and the
 * same classification the query path uses. Router implements it; explain
 * and the debug answers take this, so routing's imports point one way
 * (router -> debug-answers -> explain, never back).
 */
export interface Decider {
  readonly map: MapConfig;
  readonly tables: RoutingTables;
  explainAddress(address: Uint8Array): Classification;
  locateAddress(address: Uint8Array): number;
}

/** Why a client gets the answer it gets: everything an operator asks when a user lands in the wrong place. */
export interface Explanation {
  name: string;
  /** Address the decision used (the ECS subnet's address, or the resolver's). */
  address: string;
  source: 'ecs' | 'resolver';
  /** The client subnet as sent, e.g. '183.6.0.0/24', or null. */
  subnet: string | null;
  geo: GeoMatch;
  region: string;
  /** Rule that chose the region: 'cidr 10.0.0.0/8', 'subdivision CN-GD', 'country CN', 'continent AS', 'default'. */
  rule: string;
  /** The service the name leads to (itself or through CNAMEs), or null for a static name. */
  service: string | null;
  policy: 'geo' | 'primary' | null;
  datacenters: Array<{ name: string; up: boolean; drained: boolean; chosen: boolean }>;
  /** Datacenter answered ('all' when the all-down fallback answers every one), or null. */
  chosen: string | null;
  fallback: boolean;
  /** ECS scope the reply carries (0 when the answer is the same for everyone). */
  scope: number;
  ttl: number | null;
  serverId: string;
}

/** Optional detail a health view may offer (the mirror does): verdict and drain apart. */
interface HealthDetail {
  verdictUp(service: string, dc: string): boolean;
  isDrained(service: string, dc: string): boolean;
}

function hasDetail(h: HealthView): h is HealthView & HealthDetail {
  return typeof (h as Partial<HealthDetail>).verdictUp === 'function' && typeof (h as Partial<HealthDetail>).isDrained === 'function';
}

/** The service a name leads to: itself, or the end of its CNAME chain inside our zones. */
export function serviceFor(router: Decider, name: string): number {
  const map = router.map;
  let cur = name.toLowerCase().replace(/\.$/, '');
  for (let hop = 0; hop <= 8; hop++) {
    const svc = map.services.findIndex((s) => s.name === cur);
    if (svc >= 0) return svc;
    let next: string | null = null;
    for (const z of map.zones) {
      const rec = z.records.find((r) => r.name === cur && r.rdata.type === 'CNAME');
      if (rec && rec.rdata.type === 'CNAME') next = rec.rdata.target;
    }
    if (!next) return -1;
    cur = next;
  }
  return -1;
}

/**
 * Explains the decision for `name` as asked by `addr` (the ECS address when
 * `prefix` is given, else the resolver). Off the query path: it runs the full
 * MMDB lookup to name the rule and the GeoIP match.
 */
export function explain(router: Decider, health: HealthView, name: string, addr: Uint8Array, prefix: number | null): Explanation {
  const map = router.map;
  const v4 = unmapIpv4(addr);
  const bare = v4 ?? addr;
  const masked = prefix === null ? bare : maskIp(bare, v4 ? Math.max(0, prefix - 96) : prefix);
  const c = router.explainAddress(masked);
  const located = router.locateAddress(masked);
  const svcIndex = serviceFor(router, name);
  const base: Explanation = {
    name: name.toLowerCase().replace(/\.$/, ''),
    address: formatIp(masked),
    source: prefix === null ? 'resolver' : 'ecs',
    subnet: prefix === null ? null : `${formatIp(v4 ? maskIp(addr, prefix) : masked)}/${prefix}`,
    geo: c.match,
    region: map.regions[c.region].name,
    rule: c.rule,
    service: null,
    policy: null,
    datacenters: [],
    chosen: null,
    fallback: false,
    scope: 0,
    ttl: null,
    serverId: map.serverId,
  };
  if (svcIndex < 0) return base;
  const svc = map.services[svcIndex];
  const rt = router.tables.services[svcIndex];
  const region = located >> 8;
  const moved = rt.ndc + 1;
  const choice = rt.choice[region];
  const dc = choice % moved;
  const scope = rt.independent ? 0 : (located & 0xff) + (v4 && prefix !== null ? 96 : 0);
  const list = svc.policy === 'primary' ? [svc.primary, ...svc.standbys] : svc.preference[region];
  const detail = hasDetail(health) ? health : null;
  return {
    ...base,
    service: svc.name,
    policy: svc.policy,
    datacenters: list.map((i) => {
      const dcName = map.datacenters[i].name;
      return {
        name: dcName,
        up: detail ? detail.verdictUp(svc.name, dcName) : health.isUp(svc.name, dcName),
        drained: detail ? detail.isDrained(svc.name, dcName) : false,
        chosen: i === dc,
      };
    }),
    chosen: dc === rt.ndc ? 'all' : map.datacenters[dc].name,
    fallback: rt.fallback[region] === 1,
    scope: prefix === null ? 0 : scope,
    ttl: choice >= moved ? svc.failoverTtl : svc.ttl,
  };
}

/** The explanation as short lines (each well under 255 bytes, one TXT string each). */
export function explanationLines(e: Explanation): string[] {
  const geo = [e.geo.country ?? '-', e.geo.subdivision ?? '-', e.geo.continent ?? '-'].join('/');
  const lines = [
    `name ${e.name}`,
    `client ${e.address} (${e.source === 'ecs' ? `ECS ${e.subnet}` : 'resolver address'})`,
    `geoip ${geo} network ${e.geo.network || '(not in database)'}`,
    `region ${e.region} by ${e.rule}`,
  ];
  if (e.service === null) {
    lines.push('static answer: same for every client (scope 0)');
  } else {
    lines.push(`service ${e.service} policy ${e.policy}`);
    lines.push(
      `datacenters ${e.datacenters.map((d) => `${d.name}=${d.drained ? 'drained' : d.up ? 'up' : 'down'}${d.chosen ? '*' : ''}`).join(' ')}`,
    );
    lines.push(`chosen ${e.chosen}${e.fallback ? ' (all down: fallback)' : ''}`);
    lines.push(`scope /${e.scope} ttl ${e.ttl}`);
  }
  lines.push(`server ${e.serverId}`);
  return lines;
}
