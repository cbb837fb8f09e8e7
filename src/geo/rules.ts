import { formatIp, type Cidr, type IpBytes } from '../common/ip';
import type { GeoMatch } from './database';

/** Region rules from the map file (built by the config part). Region ids are indexes into `regions`. */
export interface RegionRules {
  regions: string[];
  defaultRegion: number;
  /** ISO 3166-1 alpha-2, upper case: 'CN' -> region. */
  countries: Map<string, number>;
  /** ISO 3166-2: 'CN-GD' -> region (country + '-' + MaxMind subdivisions[0].iso_code). */
  subdivisions: Map<string, number>;
  /** MaxMind continent codes 'AS', 'EU', 'NA', 'SA', 'AF', 'OC', 'AN'. */
  continents: Map<string, number>;
  /** Overrides; longest prefix wins; both families. */
  cidrs: { cidr: Cidr; region: number }[];
  /** Carrier rules (`asns:`), below the overrides and above the subdivisions. Absent: none. */
  asn?: AsnRules;
}

/** The `asns:` rules of a map with the blocks of their AS numbers, as read from the ASN database. */
export interface AsnRules {
  /** AS number -> region. */
  regions: Map<number, number>;
  /** AS number -> the rule text explanations show: 'asn 4134 (Chinanet) group telecom'. */
  labels: Map<number, string>;
  /** The blocks of those AS numbers (IPv4 as 4 bytes); disjoint, as an ASN database's networks are. */
  blocks: { cidr: Cidr; asn: number }[];
  /** Hash of `blocks`: two rule sets with equal regions and digests build the same trie. */
  digest: string;
}

/**
 * Binary trie node of the CIDR overrides of one family. A node exists only if some override lies at or below it.
 * Shared by the classifier (direct lookups) and the region trie (build), so both apply the same overrides.
 */
export interface OverrideNode {
  zero: OverrideNode | null;
  one: OverrideNode | null;
  /** Region of the override ending exactly here, or -1. */
  region: number;
  rule: string;
  /** Region of the ASN block ending exactly here, or -1 (a CIDR override containing it wins). */
  asnRegion: number;
  /** AS number of that block, or -1. */
  asn: number;
  asnRule: string;
}

export interface OverrideTries {
  v4: OverrideNode;
  v6: OverrideNode;
}

export function newOverrideNode(): OverrideNode {
  return { zero: null, one: null, region: -1, rule: '', asnRegion: -1, asn: -1, asnRule: '' };
}

export function isMappedV4(a: IpBytes): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** Throws RangeError if a region id of `rules` is not an index into `rules.regions`. */
export function checkRules(rules: RegionRules): void {
  const n = rules.regions.length;
  const check = (id: number, what: string): void => {
    if (!Number.isInteger(id) || id < 0 || id >= n) throw new RangeError(`${what}: region id ${id} is not an index into regions (${n})`);
  };
  check(rules.defaultRegion, 'defaultRegion');
  for (const [k, v] of rules.countries) check(v, `country ${k}`);
  for (const [k, v] of rules.subdivisions) check(v, `subdivision ${k}`);
  for (const [k, v] of rules.continents) check(v, `continent ${k}`);
  for (const { cidr, region } of rules.cidrs) check(region, `cidr ${formatIp(cidr.bytes)}/${cidr.prefix}`);
  if (rules.asn) for (const [k, v] of rules.asn.regions) check(v, `asn ${k}`);
}

/**
 * The override tries of `rules`. Overrides written as ::ffff:a.b.c.d/n (n >= 96) count as IPv4, since mapped
 * clients are classified as IPv4. Duplicates: the first one listed wins (the config part rejects them anyway).
 */
export function buildOverrideTries(rules: RegionRules): OverrideTries {
  const tries: OverrideTries = { v4: newOverrideNode(), v6: newOverrideNode() };
  const nodeAt = (cidr: Cidr): { node: OverrideNode; bytes: Uint8Array; prefix: number } => {
    let bytes = cidr.bytes;
    let prefix = cidr.prefix;
    if (bytes.length === 16 && prefix >= 96 && isMappedV4(bytes)) {
      bytes = bytes.subarray(12);
      prefix -= 96;
    }
    let node = bytes.length === 4 ? tries.v4 : tries.v6;
    for (let d = 0; d < prefix; d++) {
      if ((bytes[d >> 3] >> (7 - (d & 7))) & 1) node = node.one ??= newOverrideNode();
      else node = node.zero ??= newOverrideNode();
    }
    return { node, bytes, prefix };
  };
  for (const { cidr, region } of rules.cidrs) {
    const { node, bytes, prefix } = nodeAt(cidr);
    if (node.region < 0) {
      node.region = region;
      node.rule = `cidr ${formatIp(bytes)}/${prefix}`;
    }
  }
  // ASN blocks live in the same trie, in their own fields: one walk finds both, and the precedence
  // (any containing CIDR override first, then the ASN block) is applied where the two meet.
  const asn = rules.asn;
  if (asn) {
    for (const b of asn.blocks) {
      const region = asn.regions.get(b.asn);
      if (region === undefined) continue;
      const { node } = nodeAt(b.cidr);
      if (node.asnRegion < 0) {
        node.asnRegion = region;
        node.asn = b.asn;
        node.asnRule = asn.labels.get(b.asn) ?? `asn ${b.asn}`;
      }
    }
  }
  return tries;
}

/** The GeoIP part of the precedence (below CIDR overrides and ASN rules): subdivision > country > continent > default. */
export function decide(rules: RegionRules, m: GeoMatch): { region: number; rule: string } {
  let id: number | undefined;
  if (m.subdivision !== null && (id = rules.subdivisions.get(m.subdivision)) !== undefined) {
    return { region: id, rule: `subdivision ${m.subdivision}` };
  }
  if (m.country !== null && (id = rules.countries.get(m.country)) !== undefined) {
    return { region: id, rule: `country ${m.country}` };
  }
  if (m.continent !== null && (id = rules.continents.get(m.continent)) !== undefined) {
    return { region: id, rule: `continent ${m.continent}` };
  }
  return { region: rules.defaultRegion, rule: 'default' };
}
