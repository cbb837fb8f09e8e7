import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, isScalar, type Node } from 'yaml';
import { ConfigError } from '../common/errors';
import { formatIp, parseCidr, unmapIpv4, type Cidr } from '../common/ip';
import { isIPv4, isIPv6 } from 'node:net';
import type { RegionRules } from '../geo';
import { parseDuration, parseDurationMs } from './duration';
import type { OwnedRecords, ZoneGrouping, ZoneRecord } from './records';
import { mapFileLimit, readTextFile, type TextFileError } from './text-file';
import { DEFAULT_LIMITS_CONFIG, parseLimitsBlock, type LimitsConfig } from './limits-config';
import { parseYaml } from './yaml-parse';
import { join, YamlReader } from './yaml-reader';
import { parseZoneText } from './zone-file';
import { checkZone } from './zone-check';
import { KeyError, keyState, loadZoneKeys, publicKeyFingerprint } from '../dnssec';
import type { CheckConfig } from './check-config';
import { DEFAULT_HEALTH_CONFIG, parseCheck, parseHealthBlock, type CheckTarget, type HealthConfig } from './health-config';
import { DEFAULT_RRL_CONFIG, parseRrlBlock } from './rrl-config';
import type { RrlConfig } from '../dns';
import { DEFAULT_ALERTS_CONFIG, parseAlertsBlock, type AlertsConfig } from './alerts-config';
import { AsnRuleBuilder, parseAsnGroups, type AsnSummary } from './asn-config';

/** The validated map: what every other part of geosteer is built from. Indexes are stable within one load. */
/** Age past which the GeoIP database in use is reported as stale (`geoip.max_age`). */
export const DEFAULT_GEOIP_MAX_AGE_MS = 90 * 86_400_000;

export interface MapConfig {
  file: string;
  /** Short hash of the map file and the zone files it names, to tell versions apart in logs and metrics. */
  version: string;
  /** Same as `server.id`; kept for existing users. */
  serverId: string;
  /** The `server:` block: identity and who may ask the debugging names. */
  server: ServerConfig;
  /** Absolute MMDB path, or 'default' for the bundled GeoLite2-City. */
  geoDatabase: string;
  /** `geoip.database_ipv6`: the IPv6 file of a database split per family (absolute), or null. */
  geoDatabaseIpv6: string | null;
  /** `geoip.max_age`: a database built longer ago than this is logged and counted as stale at load. Default 90 days. */
  geoMaxAgeMs: number;
  /** The `asns:` rules and where their blocks came from; null when no region has `asns:`. */
  asn: AsnSummary | null;
  datacenters: DatacenterConfig[];
  regions: RegionConfig[];
  rules: RegionRules;
  zones: ZoneConfig[];
  services: ServiceConfig[];
  health: HealthConfig;
  /** The `alerts:` block (webhook for state changes). */
  alerts: AlertsConfig;
  /** The `limits:` block: how much a load may read. */
  limits: LimitsConfig;
}

export interface ServerConfig {
  /** This server's identity: `CH TXT id.server`/`hostname.bind`, NSID, explanations. */
  id: string;
  /** Answer to `CH TXT version.bind`/`version.server`; null when `version: hidden` (REFUSED). */
  version: string | null;
  /** Source addresses (the resolver's, not the ECS subnet) that may ask `_explain.NAME TXT`. */
  explainAcl: Cidr[];
  /** Source addresses that may ask the CHAOS names; null = everyone (as BIND answers id.server). */
  chaosAcl: Cidr[] | null;
  /** Response rate limiting of UDP answers; null = `rrl: off`. */
  rrl: RrlConfig | null;
}

/** Who may ask `_explain.` by default: loopback and the private ranges. */
export const DEFAULT_EXPLAIN_ACL = ['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'] as const;

export interface DatacenterConfig {
  name: string;
  description: string;
}

export interface RegionConfig {
  name: string;
  /** Datacenter indexes in order of preference. */
  datacenters: number[];
  /** `share:` the region's expected part of the traffic (same unit as services' `capacity:`); null when not given. */
  share: number | null;
}

export interface SoaConfig {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
  ttl: number;
}

export interface ZoneConfig {
  name: string;
  soa: SoaConfig;
  ns: string[];
  /** Every static record, the apex SOA and NS included. */
  records: ZoneRecord[];
  /** Absolute path of the zone file it names (`file:`), watched for changes with the map. */
  file: string | null;
  /** Sources that may AXFR/IXFR the zone (over TCP); empty = nobody, the default. */
  transfer: Cidr[];
  /** DNSSEC signing (`dnssec: { keys: DIR }`), or null: unsigned, the default. */
  dnssec: DnssecConfig | null;
  /**
   * Internal, not a map key: `records` by owner name as the zone check grouped them, for the table builder
   * (routing/tables.ts). Not enumerable, so a copy of the zone (`{ ...zone }`) or a message carrying it
   * leaves it behind; absent on zones made any other way.
   */
  readonly grouped?: ZoneGrouping;
}

export interface DnssecConfig {
  /** Absolute path of the key directory (BIND key files K<zone>.+AAA+TTTTT.key/.private). */
  keys: string;
}

export type Fallback = 'first' | 'all';

export interface ServiceAddresses {
  a: string[];
  aaaa: string[];
  /** Per family, each address's weight (1 unless the map gives `{ addr, weight }`); read by `answers: weighted N`. */
  weight: { a: number[]; aaaa: number[] };
  /** `capacity:` what this datacenter can carry for the service (the regions' `share:` unit); null when not given. */
  capacity: number | null;
}

export interface ServiceConfig {
  name: string;
  zone: number;
  ttl: number;
  fallback: Fallback;
  /**
   * AAAA in a region whose chosen datacenter has no IPv6 addresses: 'next' answers with the next
   * datacenter of the region's list that has them (health applied as for A), 'nodata' answers NODATA.
   */
  aaaaFallback: 'next' | 'nodata';
  /** Per datacenter index: its addresses, or null when the service is not in that datacenter. */
  addresses: (ServiceAddresses | null)[];
  /** Per region index: the region's preference list restricted to this service's datacenters. */
  preference: number[][];
  /** 'geo': each region's first healthy datacenter. 'primary': every region gets the current primary. */
  policy: 'geo' | 'primary';
  /** policy primary: the configured primary (datacenter index), used until the shared pointer says otherwise. */
  primary: number;
  /** policy primary: promotion order. */
  standbys: number[];
  holdDownMs: number;
  /** TTL of answers that moved off the region's first choice (or off the configured primary). */
  failoverTtl: number;
  check: CheckConfig | null;
  /**
   * `answers: all` (0): every address of the chosen datacenter. `answers: weighted N`: N of them, drawn by
   * weight per client block (routing/weights.ts).
   */
  answers: number;
  /** Per datacenter index: what the probers check (null when the service is not there). */
  checkTargets: (CheckTarget[] | null)[];
}

const TOP_KEYS = ['server', 'geoip', 'asn_groups', 'health', 'datacenters', 'regions', 'zones', 'services', 'alerts', 'limits'] as const;
const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const CONTINENTS = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'];
const DEFAULT_SERVICE_TTL = 60;
const DEFAULT_ZONE_TTL = 3600;
const MAX_TTL = 2147483647;
/** `answers: weighted N`: at most this many addresses per answer (a UDP answer of 16 A records is ~300 bytes). */
const MAX_WEIGHTED_ANSWERS = 16;
/** Address sets a per-address weighted service may prebuild per family (routing/weights.ts MAX_SUBSETS). */
const MAX_ANSWER_SETS = 4096;
/** Largest weight of one address. */
const MAX_WEIGHT = 1000;

/** Reads and validates a map file. Throws ConfigError listing every problem found. */
export function loadMapFile(path: string): MapConfig {
  return parseMapText(readMapText(path), path);
}

/** A map file's text, or ConfigError pointing at it (at the bad byte when it is not UTF-8; a FIFO, device or oversized file is refused unread). */
export function readMapText(path: string): string {
  try {
    return readTextFile(path, mapFileLimit());
  } catch (err) {
    const e = err as TextFileError;
    throw new ConfigError([{ file: path, line: e.line, col: e.col, path: '', message: e.line ? e.message : `cannot read: ${e.message}` }]);
  }
}

/** Normalises a domain name: lower case, no trailing dot. Returns null if it is not a valid host-style name. */
export function normalizeName(text: string): string | null {
  const t = text.trim().toLowerCase().replace(/\.$/, '');
  if (t.length === 0 || t.length > 253) return null;
  for (const label of t.split('.')) {
    if (!/^[a-z0-9_*]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(label) && !/^[a-z0-9_]$/.test(label)) return null;
  }
  return t;
}

/** True when `name` equals `zone` or lies below it. */
export function inZone(name: string, zone: string): boolean {
  return zone === '' || name === zone || name.endsWith('.' + zone);
}

export interface MapTextOptions {
  /**
   * Reads a file the map names (a zone's `file:`), by absolute path; throws TextFileError.
   * A published map is loaded from its stored copies instead of this host's disk.
   * `maxBytes` is the map's `limits.zone_file_bytes`. @default readTextFile
   */
  readFile?: (path: string, maxBytes: number) => string;
}

export function parseMapText(text: string, file: string, options: MapTextOptions = {}): MapConfig {
  const { doc, lines, issues } = parseYaml(text, file);
  if (issues.length || !doc) throw new ConfigError(issues);
  const r = new YamlReader(file, lines);
  const root = doc.contents as Node | null;
  if (!isMap(root)) {
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: 'the map file must be a YAML mapping' }]);
  }
  const top = new Map<string, Node | null>();
  for (const [k, v] of r.map(root, '', TOP_KEYS)) top.set(k, v);

  const hash = createHash('sha256').update(text);
  const baseDir = dirname(resolve(file));

  const server = parseServerBlock(r, top.get('server') ?? null);

  // geoip
  let geoDatabase = 'default';
  let geoDatabaseIpv6: string | null = null;
  let ipv6Node: Node | null = null;
  let geoMaxAgeMs = DEFAULT_GEOIP_MAX_AGE_MS;
  let asnDatabase = 'default';
  let asnDbNode: Node | null = null;
  for (const [k, v] of r.map(top.get('geoip'), 'geoip', ['database', 'database_ipv6', 'asn_database', 'max_age'])) {
    if (k === 'database') {
      const s = r.str(v, 'geoip.database');
      if (s) geoDatabase = s === 'default' ? 'default' : isAbsolute(s) ? s : resolve(baseDir, s);
    } else if (k === 'database_ipv6') {
      // Databases split per family (the ip-location-db MMDBs): geoip.database is then the IPv4 file.
      const s = r.str(v, 'geoip.database_ipv6');
      ipv6Node = v;
      if (s) geoDatabaseIpv6 = isAbsolute(s) ? s : resolve(baseDir, s);
    } else if (k === 'max_age') {
      const d = r.str(v, 'geoip.max_age');
      if (d !== null) {
        const sec = parseDuration(d);
        if (sec === null || sec <= 0) r.error(v, 'geoip.max_age', `expected a duration such as 90d or 12w, got ${JSON.stringify(d)}`);
        else geoMaxAgeMs = sec * 1000;
      }
    } else if (k === 'asn_database') {
      const s = r.str(v, 'geoip.asn_database');
      asnDbNode = v;
      if (s) asnDatabase = s === 'default' ? 'default' : isAbsolute(s) ? s : resolve(baseDir, s);
    }
  }
  if (geoDatabaseIpv6 !== null && geoDatabase === 'default') {
    r.error(ipv6Node, 'geoip.database_ipv6', 'needs geoip.database set to the IPv4 file of the same database (the default database is already split)');
  }
  const asnGroups = parseAsnGroups(r, top.get('asn_groups'));

  const health = top.has('health') ? parseHealthBlock(r, top.get('health') ?? null) : { ...DEFAULT_HEALTH_CONFIG };
  const alerts = top.has('alerts') ? parseAlertsBlock(r, top.get('alerts') ?? null) : { ...DEFAULT_ALERTS_CONFIG };
  // Before the zones: their files are read with these limits.
  const limits = top.has('limits') ? parseLimitsBlock(r, top.get('limits') ?? null) : { ...DEFAULT_LIMITS_CONFIG };

  // datacenters
  const datacenters: DatacenterConfig[] = [];
  const dcIndex = new Map<string, number>();
  const dcNode = top.get('datacenters');
  if (!dcNode) r.error(root, 'datacenters', 'missing: declare at least one datacenter');
  for (const [name, v, pair] of r.map(dcNode, 'datacenters')) {
    const path = join('datacenters', name);
    if (!NAME_RE.test(name)) {
      r.error(pair.key as Node, path, `datacenter name "${name}" must be lower-case letters, digits, "-" or "_"`);
      continue;
    }
    let description = '';
    for (const [k, dv] of r.map(v, path, ['description'])) {
      if (k === 'description') description = r.str(dv, join(path, k)) ?? '';
    }
    dcIndex.set(name, datacenters.length);
    datacenters.push({ name, description });
  }

  // regions
  const regions: RegionConfig[] = [];
  const rules: RegionRules = {
    regions: [],
    defaultRegion: -1,
    countries: new Map(),
    subdivisions: new Map(),
    continents: new Map(),
    cidrs: [],
  };
  const ruleOwner = new Map<string, string>();
  const claim = (key: string, region: string, node: Node, path: string): boolean => {
    const prev = ruleOwner.get(key);
    if (prev !== undefined) {
      r.error(node, path, `${key} is already mapped to region "${prev}"`);
      return false;
    }
    ruleOwner.set(key, region);
    return true;
  };
  const asnRules = new AsnRuleBuilder(r, asnGroups, claim);
  const regNode = top.get('regions');
  // A `default:` that is not true/false is already reported; "no default region" would only repeat it.
  let defaultReported = false;
  if (!regNode) r.error(root, 'regions', 'missing: declare at least one region');
  for (const [name, v, pair] of r.map(regNode, 'regions')) {
    const path = join('regions', name);
    if (!NAME_RE.test(name)) {
      r.error(pair.key as Node, path, `region name "${name}" must be lower-case letters, digits, "-" or "_"`);
      continue;
    }
    const idx = regions.length;
    const region: RegionConfig = { name, datacenters: [], share: null };
    regions.push(region);
    rules.regions.push(name);
    let sawList = false;
    for (const [k, rv] of r.map(v, path, ['default', 'countries', 'subdivisions', 'continents', 'cidrs', 'asns', 'datacenters', 'share'])) {
      const kp = join(path, k);
      if (k === 'share') {
        region.share = readAmount(r, rv, kp);
        continue;
      }
      const items = k === 'default' ? [] : r.seq(rv, kp);
      items.forEach((item, i) => {
        const ip = join(kp, i);
        if (k === 'asns') return asnRules.item(item, ip, name, idx);
        const s = r.str(item, ip);
        if (s === null) return;
        if (k === 'countries') {
          const cc = s.toUpperCase();
          if (!/^[A-Z]{2}$/.test(cc)) r.error(item, ip, `"${s}" is not an ISO 3166-1 alpha-2 country code (e.g. CN)`);
          else if (claim(`country ${cc}`, name, item, ip)) rules.countries.set(cc, idx);
        } else if (k === 'subdivisions') {
          const sd = s.toUpperCase();
          if (!/^[A-Z]{2}-[A-Z0-9]{1,3}$/.test(sd)) r.error(item, ip, `"${s}" is not an ISO 3166-2 code (e.g. CN-GD)`);
          else if (claim(`subdivision ${sd}`, name, item, ip)) rules.subdivisions.set(sd, idx);
        } else if (k === 'continents') {
          const c = s.toUpperCase();
          if (!CONTINENTS.includes(c)) r.error(item, ip, `"${s}" is not a continent code (${CONTINENTS.join(', ')})`);
          else if (claim(`continent ${c}`, name, item, ip)) rules.continents.set(c, idx);
        } else if (k === 'cidrs') {
          const c = parseCidr(s);
          if (typeof c === 'string') r.error(item, ip, `bad CIDR "${s}": ${c}`);
          // Claim the canonical form so 2001:DB8::/32 and 2001:db8::/32 count as the same network.
          else if (claim(`cidr ${formatIp(c.bytes)}/${c.prefix}`, name, item, ip)) rules.cidrs.push({ cidr: c, region: idx });
        } else if (k === 'datacenters') {
          const dc = dcIndex.get(s);
          if (dc === undefined) r.error(item, ip, `unknown datacenter "${s}" (known: ${[...dcIndex.keys()].join(', ')})`);
          else if (region.datacenters.includes(dc)) r.error(item, ip, `datacenter "${s}" is listed twice`);
          else region.datacenters.push(dc);
        }
      });
      if (k === 'datacenters') sawList = true;
      const isDefault = k === 'default' ? r.bool(rv, kp) : false;
      if (isDefault === null) defaultReported = true;
      if (isDefault) {
        if (rules.defaultRegion >= 0) r.error(rv, kp, `only one region can be the default; "${regions[rules.defaultRegion].name}" already is`);
        else rules.defaultRegion = idx;
      }
    }
    if (!sawList || region.datacenters.length === 0) r.error(pair.key as Node, join(path, 'datacenters'), 'missing: list at least one datacenter');
  }
  if (regNode && regions.length > 0 && rules.defaultRegion < 0 && !defaultReported) {
    r.error(regNode, 'regions', 'no default region: mark the one for unmatched clients with "default: true"');
  }
  const asn = asnRules.finish(rules, asnDatabase, asnDbNode);

  // zones
  const zones: ZoneConfig[] = [];
  /** Zones whose own errors are already reported: their services get no extra "not inside any zone". */
  const failedZones: string[] = [];
  const zoneNode = top.get('zones');
  if (!zoneNode) r.error(root, 'zones', 'missing: declare at least one zone');
  for (const [rawName, v, pair] of r.map(zoneNode, 'zones')) {
    const path = join('zones', rawName);
    const name = normalizeName(rawName);
    if (name === null) {
      r.error(pair.key as Node, path, `"${rawName}" is not a valid zone name`);
      continue;
    }
    if (zones.some((z) => z.name === name)) {
      r.error(pair.key as Node, path, `zone "${name}" is declared twice`);
      continue;
    }
    const zone = parseZone(r, text, name, path, v, pair.key as Node, baseDir, hash, options.readFile ?? readTextFile, limits);
    if (zone) zones.push(zone);
    else failedZones.push(name);
  }

  // services
  const services: ServiceConfig[] = [];
  for (const [rawName, v, pair] of r.map(top.get('services'), 'services')) {
    const path = join('services', rawName);
    const keyNode = pair.key as Node;
    const name = normalizeName(rawName);
    if (name === null) {
      r.error(keyNode, path, `"${rawName}" is not a valid domain name`);
      continue;
    }
    if (services.some((s) => s.name === name)) {
      r.error(keyNode, path, `service "${name}" is declared twice`);
      continue;
    }
    let zone = -1;
    zones.forEach((z, i) => {
      if (inZone(name, z.name) && (zone < 0 || z.name.length > zones[zone].name.length)) zone = i;
    });
    if (zone < 0) {
      if (!failedZones.some((z) => inZone(name, z))) {
        r.error(keyNode, path, `"${name}" is not inside any zone (zones: ${zones.map((z) => z.name).join(', ')})`);
      }
      continue;
    }
    const clash = zones[zone].records.find((rec) => rec.name === name && ['A', 'AAAA', 'CNAME'].includes(rec.rdata.type));
    if (clash) {
      r.error(keyNode, path, `"${name}" also has a static ${clash.rdata.type} record (${clash.file}:${clash.line}); a service owns its A/AAAA`);
      continue;
    }
    const svc: ServiceConfig = {
      name,
      zone,
      ttl: DEFAULT_SERVICE_TTL,
      fallback: 'first',
      aaaaFallback: 'next',
      addresses: datacenters.map(() => null),
      preference: [],
      policy: 'geo',
      primary: -1,
      standbys: [],
      holdDownMs: health.holdDownMs,
      failoverTtl: health.failoverTtl,
      check: null,
      answers: 0,
      checkTargets: [],
    };
    let sawDcs = false;
    const fields = r.map(v, path, ['ttl', 'datacenters', 'fallback', 'aaaa_fallback', 'check', 'policy', 'primary', 'standbys', 'hold_down', 'failover_ttl', 'answers']);
    let weightNode: Node | null = null;
    let capacityNode: Node | null = null;
    const dcNameNode = (k: string): Node | null => fields.find(([fk]) => fk === k)?.[1] ?? null;
    let targets = new Map<number, CheckTarget>();
    for (const [k, sv] of fields) {
      const kp = join(path, k);
      if (k === 'ttl') svc.ttl = readTtl(r, sv, kp) ?? svc.ttl;
      else if (k === 'failover_ttl') svc.failoverTtl = readTtl(r, sv, kp) ?? svc.failoverTtl;
      else if (k === 'hold_down') {
        const raw = r.scalar(sv);
        const ms = typeof raw === 'string' || typeof raw === 'number' ? parseDurationMs(raw) : null;
        if (ms === null) r.error(sv, kp, 'expected a duration such as 30s');
        else svc.holdDownMs = ms;
      } else if (k === 'policy') {
        const p = r.str(sv, kp);
        if (p === 'geo' || p === 'primary') svc.policy = p;
        else if (p !== null) r.error(sv, kp, `policy must be "geo" or "primary", not "${p}"`);
      } else if (k === 'check') {
        const c = parseCheck(r, sv, kp, name, dcIndex);
        if (c) {
          svc.check = c.check;
          targets = c.targets;
        }
      } else if (k === 'primary' || k === 'standbys') {
        // resolved below, once the datacenters are known
      }
      else if (k === 'answers') {
        const raw = r.str(sv, kp);
        const m = raw === null ? null : /^weighted\s+(\d+)$/.exec(raw.trim());
        if (raw === 'all') svc.answers = 0;
        else if (m && Number(m[1]) >= 1 && Number(m[1]) <= MAX_WEIGHTED_ANSWERS) svc.answers = Number(m[1]);
        else if (raw !== null) r.error(sv, kp, `answers must be "all" or "weighted N" (N = 1..${MAX_WEIGHTED_ANSWERS} addresses per answer), not "${raw}"`);
      } else if (k === 'aaaa_fallback') {
        const f = r.str(sv, kp);
        if (f === 'next' || f === 'nodata') svc.aaaaFallback = f;
        else if (f !== null) r.error(sv, kp, `aaaa_fallback must be "next" or "nodata", not "${f}"`);
      } else if (k === 'fallback') {
        const f = r.str(sv, kp);
        if (f === 'first' || f === 'all') svc.fallback = f;
        else if (f !== null) r.error(sv, kp, `fallback must be "first" or "all", not "${f}"`);
      } else if (k === 'datacenters') {
        sawDcs = true;
        for (const [dcName, dv, dpair] of r.map(sv, kp)) {
          const dp = join(kp, dcName);
          const dc = dcIndex.get(dcName);
          if (dc === undefined) {
            r.error(dpair.key as Node, dp, `unknown datacenter "${dcName}" (known: ${[...dcIndex.keys()].join(', ')})`);
            continue;
          }
          const addrs: ServiceAddresses = { a: [], aaaa: [], weight: { a: [], aaaa: [] }, capacity: null };
          for (const [fam, av] of r.map(dv, dp, ['a', 'aaaa', 'capacity'])) {
            const ap = join(dp, fam);
            if (fam === 'capacity') {
              addrs.capacity = readAmount(r, av, ap);
              capacityNode ??= av;
              continue;
            }
            r.seq(av, ap).forEach((item, i) => {
              const entry = readAddressEntry(r, item, join(ap, i));
              if (entry === null) return;
              const { address: s, weight, weighted } = entry;
              if (weighted) weightNode ??= item;
              const ok = fam === 'a' ? isIPv4(s) : isIPv6(s) && !s.includes('%');
              if (!ok) r.error(item, join(ap, i), `"${s}" is not an ${fam === 'a' ? 'IPv4' : 'IPv6'} address`);
              else if (addrs[fam].includes(s)) r.error(item, join(ap, i), `address ${s} is listed twice`);
              else {
                addrs[fam].push(s);
                addrs.weight[fam].push(weight);
              }
            });
          }
          if (addrs.a.length + addrs.aaaa.length === 0) r.error(dpair.key as Node, dp, 'no addresses: give a: [...] and/or aaaa: [...]');
          else svc.addresses[dc] = addrs;
        }
      }
    }
    if (!sawDcs || svc.addresses.every((a) => a === null)) {
      r.error(keyNode, join(path, 'datacenters'), 'missing: list the datacenters that serve it, with their addresses');
      continue;
    }
    const serviceDc = (node: Node | null, p: string): number => {
      const t = r.str(node, p);
      if (t === null) return -1;
      const dc = dcIndex.get(t);
      if (dc === undefined || svc.addresses[dc] === null) {
        r.error(node, p, `"${t}" is not one of this service's datacenters (${svc.addresses.map((a, i) => (a ? datacenters[i].name : '')).filter(Boolean).join(', ')})`);
        return -1;
      }
      return dc;
    };
    if (dcNameNode('primary')) svc.primary = serviceDc(dcNameNode('primary'), join(path, 'primary'));
    r.seq(dcNameNode('standbys'), join(path, 'standbys')).forEach((item, i) => {
      const dc = serviceDc(item, join(join(path, 'standbys'), i));
      if (dc >= 0 && (dc === svc.primary || svc.standbys.includes(dc))) r.error(item, join(join(path, 'standbys'), i), 'listed twice (or is the primary)');
      else if (dc >= 0) svc.standbys.push(dc);
    });
    if (svc.policy === 'primary') {
      if (!dcNameNode('primary')) r.error(keyNode, join(path, 'primary'), 'missing: policy primary needs "primary: DC"');
      else if (svc.primary >= 0 && svc.standbys.length === 0) {
        // Default standbys: the service's other datacenters, in map order.
        svc.standbys = svc.addresses.map((a, i) => (a && i !== svc.primary ? i : -1)).filter((i) => i >= 0);
      }
    } else if (dcNameNode('primary') || dcNameNode('standbys')) {
      r.error(dcNameNode('primary') ?? dcNameNode('standbys'), join(path, 'policy'), 'primary/standbys need "policy: primary"');
    }
    if (weightNode && svc.answers === 0) {
      r.error(weightNode, join(path, 'answers'), 'weights are only read by "answers: weighted N": add it, or drop the weights');
    }
    if (svc.check?.perAddress && svc.answers === 0) {
      r.error(dcNameNode('check'), join(path, 'check.per_address'), 'per-address health needs "answers: weighted N" (with "all" every address is answered anyway)');
    }
    if (svc.check?.perAddress && svc.answers > 0) {
      for (const fam of ['a', 'aaaa'] as const) {
        const sets = svc.addresses.reduce((n, a) => n + (a && a[fam].length > svc.answers ? combinations(a[fam].length, svc.answers) : 0), 0);
        if (sets > MAX_ANSWER_SETS) {
          r.error(dcNameNode('answers'), join(path, 'answers'), `per-address health prebuilds every set of up to ${svc.answers} ${fam === 'a' ? 'IPv4' : 'IPv6'} addresses a draw can reach: ${sets} here, at most ${MAX_ANSWER_SETS}; answer fewer addresses or split the datacenter`);
        }
      }
    }
    if (capacityNode) {
      // Spill needs every datacenter's capacity and every region's share: a missing one would be a guess.
      const missing = svc.addresses.flatMap((a, i) => (a && a.capacity === null ? [datacenters[i].name] : []));
      if (missing.length) r.error(capacityNode, join(path, 'datacenters'), `capacity is given for some datacenters but not ${missing.join(', ')}: give every one (or none)`);
      const noShare = regions.filter((g) => g.share === null).map((g) => g.name);
      if (noShare.length) r.error(capacityNode, join(path, 'datacenters'), `capacity needs every region's expected share: regions.${noShare.join(', regions.')} have no "share:"`);
      if (svc.policy === 'primary') r.error(capacityNode, join(path, 'policy'), 'capacity spill applies to policy geo (a primary takes all the traffic)');
    }
    for (const dc of targets.keys()) {
      if (svc.addresses[dc] === null) r.error(dcNameNode('check'), join(path, 'check.targets'), `datacenter "${datacenters[dc].name}" has no addresses for this service`);
    }
    const check = svc.check;
    svc.checkTargets = svc.addresses.map((a, dc) => {
      if (!a || !check) return null;
      const t = targets.get(dc);
      return t ? [t] : [...a.a, ...a.aaaa].map((address) => ({ address, port: check.port }));
    });
    // A region's list restricted to the datacenters this service runs in; if none
    // of them do, every datacenter of the service in map order (never an empty list).
    const own = svc.addresses.map((a, i) => (a ? i : -1)).filter((i) => i >= 0);
    svc.preference = regions.map((reg) => {
      const list = reg.datacenters.filter((dc) => svc.addresses[dc] !== null);
      return list.length ? list : own;
    });
    services.push(svc);
  }

  if (r.issues.length) throw new ConfigError(r.issues);
  return {
    file,
    version: hash.digest('hex').slice(0, 12),
    serverId: server.id,
    server,
    geoDatabase,
    geoDatabaseIpv6,
    geoMaxAgeMs,
    asn,
    datacenters,
    regions,
    rules,
    zones,
    services,
    health,
    alerts,
    limits,
  };
}

let packageVersion: string | null = null;

/** "geosteer 0.1.0" from package.json (read once; the repository root is three levels above dist/src/config). */
export function defaultServerVersion(): string {
  if (packageVersion === null) {
    try {
      const pkg = JSON.parse(readFileSync(resolve(__dirname, '../../../package.json'), 'utf8')) as { version?: unknown };
      packageVersion = typeof pkg.version === 'string' ? pkg.version : '';
    } catch {
      packageVersion = '';
    }
  }
  return packageVersion ? `geosteer ${packageVersion}` : 'geosteer';
}

/** A TXT string / NSID payload: 1..255 printable ASCII characters. */
function debugText(r: YamlReader, node: Node | null, path: string): string | null {
  const s = r.str(node, path);
  if (s === null) return null;
  if (s.length === 0 || s.length > 255 || !/^[\x20-\x7e]+$/.test(s)) {
    r.error(node, path, `"${s}" must be 1-255 printable ASCII characters (it is sent as a TXT string and in NSID)`);
    return null;
  }
  return s;
}

/** A list of CIDRs (a bare address is a host route); IPv4-mapped IPv6 networks are stored as IPv4. */
function readAcl(r: YamlReader, node: Node | null, path: string): Cidr[] {
  const out: Cidr[] = [];
  r.seq(node, path).forEach((item, i) => {
    const ip = join(path, i);
    const s = r.str(item, ip);
    if (s === null) return;
    const c = parseCidr(s);
    if (typeof c === 'string') {
      r.error(item, ip, `bad CIDR "${s}": ${c}`);
      return;
    }
    const v4 = unmapIpv4(c.bytes);
    out.push(v4 && c.prefix >= 96 ? { bytes: v4, prefix: c.prefix - 96 } : c);
  });
  return out;
}

function parseServerBlock(r: YamlReader, node: Node | null): ServerConfig {
  const server: ServerConfig = {
    id: 'geosteer',
    version: defaultServerVersion(),
    explainAcl: DEFAULT_EXPLAIN_ACL.map((t) => parseCidr(t) as Cidr),
    chaosAcl: null,
    rrl: DEFAULT_RRL_CONFIG,
  };
  for (const [k, v] of r.map(node, 'server', ['id', 'version', 'explain_acl', 'chaos_acl', 'rrl'])) {
    const kp = join('server', k);
    if (k === 'id') server.id = debugText(r, v, kp) ?? server.id;
    else if (k === 'version') {
      const t = debugText(r, v, kp);
      if (t !== null) server.version = t === 'hidden' ? null : t;
    } else if (k === 'explain_acl') server.explainAcl = readAcl(r, v, kp);
    else if (k === 'chaos_acl') server.chaosAcl = readAcl(r, v, kp);
    else if (k === 'rrl') server.rrl = parseRrlBlock(r, v, kp, (n, p) => readAcl(r, n, p));
  }
  return server;
}

/** A share or capacity: a number >= 0 (any unit, the same for every region and datacenter: percent, QPS). */
function readAmount(r: YamlReader, node: Node | null, path: string): number | null {
  const v = r.scalar(node);
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  r.error(node, path, 'expected a number >= 0 (a share of the traffic or a QPS figure, the same unit everywhere)');
  return null;
}

/** Sets of 1..n of k addresses: sum of C(k, i). */
function combinations(k: number, n: number): number {
  let total = 0;
  let c = 1;
  for (let i = 1; i <= Math.min(n, k); i++) {
    c = (c * (k - i + 1)) / i;
    total += c;
  }
  return Math.round(total);
}

/** One entry of a datacenter's `a:`/`aaaa:` list: an address, or `{ addr: ADDRESS, weight: W }`. */
function readAddressEntry(r: YamlReader, item: Node, path: string): { address: string; weight: number; weighted: boolean } | null {
  if (!isMap(item)) {
    const s = r.str(item, path);
    return s === null ? null : { address: s, weight: 1, weighted: false };
  }
  let address: string | null = null;
  let weight = 1;
  let sawAddr = false;
  for (const [k, v] of r.map(item, path, ['addr', 'weight'])) {
    if (k === 'addr') {
      sawAddr = true;
      address = r.str(v, join(path, k));
    } else weight = r.int(v, join(path, k), 1, MAX_WEIGHT) ?? weight;
  }
  if (!sawAddr) r.error(item, join(path, 'addr'), 'missing: { addr: ADDRESS, weight: N }');
  return address === null ? null : { address, weight, weighted: true };
}

function readTtl(r: YamlReader, node: Node | null, path: string): number | null {
  const raw = r.scalar(node);
  const d = typeof raw === 'string' || typeof raw === 'number' ? parseDuration(raw) : null;
  if (d === null || d > MAX_TTL) {
    r.error(node, path, `expected a duration such as 300, 60s, 5m, 1h, 1d (0..${MAX_TTL} s)`);
    return null;
  }
  return d;
}

function parseZone(
  r: YamlReader,
  source: string,
  name: string,
  path: string,
  node: Node | null,
  keyNode: Node,
  baseDir: string,
  hash: ReturnType<typeof createHash>,
  readFile: (path: string, maxBytes: number) => string,
  limits: LimitsConfig,
): ZoneConfig | null {
  let soa: SoaConfig | null = null;
  const ns: string[] = [];
  let ttl = DEFAULT_ZONE_TTL;
  let recordsNode: Node | null = null;
  let fileNode: Node | null = null;
  let zoneFile: string | null = null;
  let transfer: Cidr[] = [];
  let dnssec: DnssecConfig | null = null;
  const fields = r.map(node, path, ['soa', 'ns', 'ttl', 'records', 'file', 'transfer', 'dnssec']);
  for (const [k, v] of fields) if (k === 'ttl') ttl = readTtl(r, v, join(path, k)) ?? ttl;
  // Set when the key is there but its errors were already reported, so "missing" would be wrong.
  let soaReported = false;
  let nsReported = false;
  let nsNode: Node | null = null;
  for (const [k, v] of fields) {
    const kp = join(path, k);
    const before = r.issues.length;
    if (k === 'soa') {
      soa = parseSoa(r, v, kp);
      soaReported = r.issues.length > before;
    } else if (k === 'ns') {
      nsNode = v;
      r.seq(v, kp).forEach((item, i) => {
        const s = r.str(item, join(kp, i));
        const n = s === null ? null : normalizeName(s);
        if (s !== null && n === null) r.error(item, join(kp, i), `"${s}" is not a valid host name`);
        else if (n !== null && ns.includes(n)) r.error(item, join(kp, i), `name server ${n} is listed twice`);
        else if (n !== null) ns.push(n);
      });
      nsReported = r.issues.length > before;
    } else if (k === 'records') recordsNode = v;
    else if (k === 'file') fileNode = v;
    else if (k === 'transfer') transfer = readAcl(r, v, kp);
    else if (k === 'dnssec') dnssec = parseDnssec(r, v, kp, name, baseDir, hash);
  }
  if (!soa && !soaReported) r.error(keyNode, join(path, 'soa'), 'missing: every zone needs an SOA (mname, rname, serial, refresh, retry, expire, minimum)');
  if (ns.length === 0 && !nsReported) r.error(nsNode ?? keyNode, join(path, 'ns'), 'missing: list the zone\'s name servers');

  const records: ZoneRecord[] = [];
  // A `file:` may name the wrong file by mistake: its errors give line and reason, never its text.
  const addText = (text: string, file: string, lineOffset: number, colOffset: number, quoteContent: boolean): void => {
    const res = parseZoneText(text, { file, origin: name, defaultTtl: ttl, lineOffset, maxRecords: limits.zoneRecords - records.length, zoneRecordLimit: limits.zoneRecords, quoteContent });
    for (const i of res.issues) r.issues.push({ ...i, col: i.col + colOffset, path: i.path || path });
    // One by one: spreading 100k+ records as arguments overflows the stack.
    for (const rec of res.records) records.push(rec);
  };
  if (recordsNode) {
    if (isScalar(recordsNode) && typeof recordsNode.value === 'string') {
      // A block scalar's content starts on the line after its `|` indicator.
      const { line } = r.pos(recordsNode);
      const block = (recordsNode as { type?: string }).type?.startsWith('BLOCK') ?? false;
      // Zone-file columns count from the block's content: add its indentation so COL points into the map file.
      let indent = 0;
      if (block) {
        const content = recordsNode.value.split('\n');
        const k = content.findIndex((l) => l.trim() !== '');
        const src = k < 0 ? undefined : source.split('\n')[line + k]?.replace(/\r$/, '');
        if (src !== undefined) indent = Math.max(0, src.length - content[k].length);
      }
      addText(recordsNode.value, r.file, block ? line : line - 1, indent, true);
    } else r.error(recordsNode, join(path, 'records'), 'expected zone-file text (use "records: |" and one record per line)');
  }
  if (fileNode) {
    const f = r.str(fileNode, join(path, 'file'));
    if (f !== null) {
      const full = isAbsolute(f) ? f : resolve(baseDir, f);
      zoneFile = full;
      let text: string | null = null;
      try {
        text = readFile(full, limits.zoneFileBytes);
      } catch (err) {
        const e = err as TextFileError;
        // Not UTF-8: the place is in the zone file itself; anything else is about the `file:` key.
        if (e.line) r.issues.push({ file: full, line: e.line, col: e.col, path: join(path, 'file'), message: e.message });
        else r.error(fileNode, join(path, 'file'), `cannot read zone file ${full}: ${e.message}`);
      }
      if (text !== null) {
        hash.update(text);
        addText(text, full, 0, 0, false);
      }
    }
  }
  if (!soa || ns.length === 0) return null;
  const { line } = r.pos(keyNode);
  const s: SoaConfig = soa;
  records.unshift(
    {
      name,
      ttl: s.ttl,
      rdata: { type: 'SOA', mname: s.mname, rname: s.rname, serial: s.serial, refresh: s.refresh, retry: s.retry, expire: s.expire, minimum: s.minimum },
      file: r.file,
      line,
    },
    ...ns.map((target) => ({ name, ttl, rdata: { type: 'NS' as const, target }, file: r.file, line })),
  );
  const byName = new Map<string, OwnedRecords>();
  for (const issue of checkZone(name, records, ns.length, path, byName)) r.issues.push(issue);
  const zone: ZoneConfig = { name, soa: s, ns, records, file: zoneFile, transfer, dnssec };
  const grouped: ZoneGrouping = { records, length: records.length, byName };
  Object.defineProperty(zone, 'grouped', { value: grouped, enumerable: false });
  return zone;
}

/**
 * `dnssec: { keys: DIR }`: the keys are loaded here to check them (file:line for a bad key
 * directory; the good map keeps serving) and their public parts go into the version hash, so a
 * new key is a new map version. Only the directory is kept: the build worker loads the keys again.
 */
function parseDnssec(r: YamlReader, node: Node | null, path: string, zone: string, baseDir: string, hash: ReturnType<typeof createHash>): DnssecConfig | null {
  let dir: string | null = null;
  for (const [k, v] of r.map(node, path, ['keys'])) {
    const raw = r.str(v, join(path, k));
    if (raw !== null) dir = isAbsolute(raw) ? raw : resolve(baseDir, raw);
  }
  if (dir === null) {
    if (!r.issues.some((i) => i.path.startsWith(path))) r.error(node, join(path, 'keys'), 'missing: name the key directory (geosteer keygen ZONE --dir DIR makes one)');
    return null;
  }
  try {
    const keys = loadZoneKeys(dir, zone);
    const now = Date.now();
    for (const key of keys) hash.update(publicKeyFingerprint(key, now));
    if (!keys.some((k) => keyState(k.timing, Math.floor(now / 1000)) === 'active')) {
      throw new KeyError(`no active key for ${zone} in ${dir}: each is not yet active, inactive or deleted (its Activate/Inactive/Delete times)`);
    }
  } catch (err) {
    if (!(err instanceof KeyError)) throw err;
    r.error(node, join(path, 'keys'), err.message);
    return null;
  }
  return { keys: dir };
}

function parseSoa(r: YamlReader, node: Node | null, path: string): SoaConfig | null {
  const got: Partial<SoaConfig> = {};
  const seen = new Set<string>();
  const keys = ['mname', 'rname', 'serial', 'refresh', 'retry', 'expire', 'minimum', 'ttl'] as const;
  for (const [k, v] of r.map(node, path, keys)) {
    seen.add(k);
    const kp = join(path, k);
    if (k === 'mname' || k === 'rname') {
      const s = r.str(v, kp);
      // rname is a mailbox written as a name; accept "hostmaster@example.com" too.
      const n = s === null ? null : normalizeName(k === 'rname' ? s.replace('@', '.') : s);
      if (s !== null && n === null) r.error(v, kp, `"${s}" is not a valid name`);
      if (n !== null) got[k] = n;
    } else if (k === 'serial') {
      const n = r.int(v, kp, 0, 4294967295);
      if (n !== null) got.serial = n;
    } else {
      const d = readTtl(r, v, kp);
      if (d !== null) got[k] = d;
    }
  }
  // Fields given but invalid were reported above; only name the ones that are absent.
  const missing = keys.filter((k) => k !== 'ttl' && !seen.has(k));
  if (isMap(node) && missing.length) r.error(node, path, `missing SOA field(s): ${missing.join(', ')}`);
  if (!node || keys.some((k) => k !== 'ttl' && got[k] === undefined)) return null;
  return { ttl: DEFAULT_ZONE_TTL, ...got } as SoaConfig;
}
