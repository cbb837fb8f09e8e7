import type { Node } from 'yaml';
import { GeosteerError } from '../common/errors';
import { loadAsnData, type AsnInfo, type RegionRules } from '../geo';
import { join, type YamlReader } from './yaml-reader';

/**
 * The map's carrier rules: `asn_groups:` (named lists of AS numbers), `regions.R.asns:` (AS numbers or
 * group names) and `geoip.asn_database:` (where their blocks come from). The blocks are read here, at load,
 * so a missing or broken ASN database is a map error like any other and a running server keeps its map.
 */

/** What `check` and logs show about the ASN rules of a map. */
export interface AsnSummary {
  /** 'default' (the @ip-location-db/asn CSVs) or an absolute path. */
  database: string;
  description: string;
  /** Per AS number named by a region, in map order. */
  rules: (AsnInfo & { region: string; group: string | null })[];
  digest: string;
}

const NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const MAX_ASN = 4294967295;

/** An AS number written as 4134 or "AS4134"; null if the item is neither. */
function asNumber(r: YamlReader, node: Node | null): number | null {
  const v = r.scalar(node);
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^AS\d+$/i.test(v)) return Number(v.slice(2));
  return null;
}

function checkAsn(r: YamlReader, node: Node | null, path: string, n: number): boolean {
  if (!Number.isInteger(n) || n < 1 || n > MAX_ASN) {
    r.error(node, path, `${String(r.scalar(node))} is not an AS number (an integer 1-${MAX_ASN}, or "AS4134")`);
    return false;
  }
  return true;
}

/** `asn_groups: { NAME: [ASN...] }`. */
export function parseAsnGroups(r: YamlReader, node: Node | null | undefined): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  for (const [name, v, pair] of r.map(node, 'asn_groups')) {
    const path = join('asn_groups', name);
    if (!NAME_RE.test(name)) {
      r.error(pair.key as Node, path, `group name "${name}" must be lower-case letters, digits, "-" or "_"`);
      continue;
    }
    const list: number[] = [];
    const before = r.issues.length;
    r.seq(v, path).forEach((item, i) => {
      const ip = join(path, i);
      const n = asNumber(r, item);
      if (n === null) r.error(item, ip, `${String(r.scalar(item))} is not an AS number (an integer, or "AS4134"; groups do not nest)`);
      else if (checkAsn(r, item, ip, n)) {
        if (list.includes(n)) r.error(item, ip, `AS${n} is listed twice`);
        else list.push(n);
      }
    });
    if (list.length === 0 && r.issues.length === before) r.error(pair.key as Node, path, 'list at least one AS number');
    groups.set(name, list);
  }
  return groups;
}

/** Collects `regions.R.asns` while the regions are read; `finish` then loads the blocks. */
export class AsnRuleBuilder {
  private readonly regionOf = new Map<number, number>();
  private readonly groupOf = new Map<number, string | null>();
  private readonly order: number[] = [];
  private firstNode: Node | null = null;

  constructor(
    private readonly r: YamlReader,
    private readonly groups: Map<string, number[]>,
    private readonly claim: (key: string, region: string, node: Node, path: string) => boolean,
  ) {}

  /** One item of `regions.NAME.asns`: an AS number or a group name. */
  item(item: Node, path: string, region: string, idx: number): void {
    const r = this.r;
    this.firstNode ??= item;
    const n = asNumber(r, item);
    if (n !== null) {
      if (checkAsn(r, item, path, n)) this.add(n, null, item, path, region, idx);
      return;
    }
    const s = r.str(item, path);
    if (s === null) return;
    const list = this.groups.get(s);
    if (!list) {
      const known = [...this.groups.keys()];
      r.error(item, path, `"${s}" is neither an AS number nor a group of asn_groups (${known.length ? `known: ${known.join(', ')}` : 'none declared'})`);
      return;
    }
    for (const asn of list) this.add(asn, s, item, path, region, idx);
  }

  private add(asn: number, group: string | null, node: Node, path: string, region: string, idx: number): void {
    if (!this.claim(`asn ${asn}`, region, node, group ? `${path} (group ${group})` : path)) return;
    this.regionOf.set(asn, idx);
    this.groupOf.set(asn, group);
    this.order.push(asn);
  }

  /**
   * Reads the blocks of the named AS numbers from `database` and puts the rules into `rules.asn`.
   * `dbNode` is the `geoip.asn_database` value, where a database error is reported (else at the first `asns` item).
   */
  finish(rules: RegionRules, database: string, dbNode: Node | null): AsnSummary | null {
    if (this.order.length === 0) return null;
    let data;
    try {
      data = loadAsnData(database, this.order);
    } catch (err) {
      const msg = err instanceof GeosteerError ? err.message : `ASN database ${database}: ${(err as Error).message}`;
      this.r.error(dbNode ?? this.firstNode, dbNode ? 'geoip.asn_database' : 'regions', msg);
      return null;
    }
    const labels = new Map<number, string>();
    const summary: AsnSummary = { database, description: data.description, rules: [], digest: data.digest };
    for (const asn of this.order) {
      const info = data.info.get(asn) ?? { asn, org: '', v4Blocks: 0, v6Blocks: 0 };
      const group = this.groupOf.get(asn) ?? null;
      labels.set(asn, `asn ${asn}${info.org ? ` (${info.org})` : ''}${group ? ` group ${group}` : ''}`);
      summary.rules.push({ ...info, region: rules.regions[this.regionOf.get(asn) ?? 0], group });
    }
    rules.asn = { regions: this.regionOf, labels, blocks: data.blocks, digest: data.digest };
    return summary;
  }
}
