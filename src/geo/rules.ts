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
}

export interface OverrideTries {
  v4: OverrideNode;
  v6: OverrideNode;
}

export function newOverrideNode(): OverrideNode {
  return { zero: null, one: null, region: -1, rule: '' };
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
}

/**
 * The override tries of `rules`. Overrides written as ::ffff:a.b.c.d/n (n >= 96) count as IPv4, since mapped
 * clients are classified as IPv4. Duplicates: the first one listed wins (the config part rejects them anyway).
 */
export function buildOverrideTries(rules: RegionRules): OverrideTries {
  const tries: OverrideTries = { v4: newOverrideNode(), v6: newOverrideNode() };
  for (const { cidr, region } of rules.cidrs) {
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
    if (node.region < 0) {
      node.region = region;
      node.rule = `cidr ${formatIp(bytes)}/${prefix}`;
    }
  }
  return tries;
}

/** The GeoIP part of the precedence: subdivision > country > continent > default. */
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
