import { formatIp, type Cidr, type IpBytes } from '../common/ip';
import type { GeoDatabase, GeoMatch } from './database';

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

export interface Classification {
  region: number;
  /** Prefix length, in the family of the classified address, of the block around it over which this exact classification holds. */
  scope: number;
  /** Which rule decided: 'cidr 10.0.0.0/8' | 'subdivision CN-GD' | 'country CN' | 'continent AS' | 'default' */
  rule: string;
  match: GeoMatch;
}

export interface GeoClassifierOptions {
  /** Cached classifications (IPv4 + IPv6 together); the cache is cleared when full. 0 disables. Default 65536. */
  cacheSize?: number;
}

/** Binary trie node of the CIDR overrides. A node exists only if some override lies at or below it. */
interface TrieNode {
  zero: TrieNode | null;
  one: TrieNode | null;
  /** Region of the override ending exactly here, or -1. */
  region: number;
  rule: string;
}

const UNKNOWN: GeoMatch = Object.freeze({ country: null, subdivision: null, continent: null, network: '' });

function newNode(): TrieNode {
  return { zero: null, one: null, region: -1, rule: '' };
}

function isMappedV4(a: IpBytes): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/**
 * Maps client addresses to regions. Precedence: CIDR override (longest prefix) > subdivision > country >
 * continent > default. Results are cached per address and frozen; classify does no I/O.
 */
export class GeoClassifier {
  private db: GeoDatabase;
  private readonly rules: RegionRules;
  private readonly cacheSize: number;
  private readonly cache4 = new Map<number, Classification>();
  private readonly cache6 = new Map<string, Classification>();
  private readonly trie4 = newNode();
  private readonly trie6 = newNode();
  private readonly defaultResult: { region: number; rule: string };

  constructor(db: GeoDatabase, rules: RegionRules, options: GeoClassifierOptions = {}) {
    this.db = db;
    this.rules = rules;
    this.cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 65536));
    const n = rules.regions.length;
    const check = (id: number, what: string): void => {
      if (!Number.isInteger(id) || id < 0 || id >= n) throw new RangeError(`${what}: region id ${id} is not an index into regions (${n})`);
    };
    check(rules.defaultRegion, 'defaultRegion');
    for (const [k, v] of rules.countries) check(v, `country ${k}`);
    for (const [k, v] of rules.subdivisions) check(v, `subdivision ${k}`);
    for (const [k, v] of rules.continents) check(v, `continent ${k}`);
    for (const { cidr, region } of rules.cidrs) {
      check(region, `cidr ${formatIp(cidr.bytes)}/${cidr.prefix}`);
      this.insert(cidr, region);
    }
    this.defaultResult = { region: rules.defaultRegion, rule: 'default' };
  }

  get database(): GeoDatabase {
    return this.db;
  }

  /** Swaps the database (after a reload); cached results came from the old one, so they go. */
  setDatabase(db: GeoDatabase): void {
    this.db = db;
    this.cache4.clear();
    this.cache6.clear();
  }

  /** Classifies a 4- or 16-byte address; IPv4-mapped IPv6 is treated as IPv4 (scope in IPv4 bits). */
  classify(addr: IpBytes): Classification {
    // Hit path: a number key for IPv4 (no allocation), a short string for IPv6.
    let off: number;
    if (addr.length === 4) off = 0;
    else if (addr.length === 16) off = isMappedV4(addr) ? 12 : -1;
    else throw new TypeError(`address must be 4 or 16 bytes, got ${addr.length}`);
    if (off >= 0) {
      const key = (addr[off] << 24) | (addr[off + 1] << 16) | (addr[off + 2] << 8) | addr[off + 3];
      const hit = this.cache4.get(key);
      if (hit !== undefined) return hit;
      const res = this.compute(off === 0 ? addr : addr.subarray(12), this.trie4);
      if (this.cacheSize > 0) {
        this.makeRoom();
        this.cache4.set(key, res);
      }
      return res;
    }
    const key = String.fromCharCode(
      (addr[0] << 8) | addr[1], (addr[2] << 8) | addr[3], (addr[4] << 8) | addr[5], (addr[6] << 8) | addr[7],
      (addr[8] << 8) | addr[9], (addr[10] << 8) | addr[11], (addr[12] << 8) | addr[13], (addr[14] << 8) | addr[15],
    );
    const hit = this.cache6.get(key);
    if (hit !== undefined) return hit;
    const res = this.compute(addr, this.trie6);
    if (this.cacheSize > 0) {
      this.makeRoom();
      this.cache6.set(key, res);
    }
    return res;
  }

  private makeRoom(): void {
    if (this.cache4.size + this.cache6.size >= this.cacheSize) {
      this.cache4.clear();
      this.cache6.clear();
    }
  }

  private insert(cidr: Cidr, region: number): void {
    let bytes = cidr.bytes;
    let prefix = cidr.prefix;
    // Overrides written as ::ffff:a.b.c.d/n (n >= 96) mean IPv4, since mapped clients are classified as IPv4.
    if (bytes.length === 16 && prefix >= 96 && isMappedV4(bytes)) {
      bytes = bytes.subarray(12);
      prefix -= 96;
    }
    let node = bytes.length === 4 ? this.trie4 : this.trie6;
    for (let d = 0; d < prefix; d++) {
      if ((bytes[d >> 3] >> (7 - (d & 7))) & 1) node = node.one ??= newNode();
      else node = node.zero ??= newNode();
    }
    // Duplicates: the first one listed wins (the config part should reject them anyway).
    if (node.region < 0) {
      node.region = region;
      node.rule = `cidr ${formatIp(bytes)}/${prefix}`;
    }
  }

  /** Miss path. `addr` is 4 bytes (IPv4) or a non-mapped 16-byte IPv6 address. */
  private compute(addr: IpBytes, root: TrieNode): Classification {
    const bits = addr.length * 8;
    // Walk the override trie along addr: the deepest override on the path decides; the deepest branch
    // leaving the path marks the last bit that still separates addr from an override that does not contain it.
    let winner: TrieNode | null = root.region >= 0 ? root : null;
    let winnerLen = 0;
    let lastFork = -1;
    let node: TrieNode | null = root;
    for (let d = 0; d < bits && node; d++) {
      const bit = (addr[d >> 3] >> (7 - (d & 7))) & 1;
      if ((bit ? node.zero : node.one) !== null) lastFork = d;
      node = bit ? node.one : node.zero;
      if (node && node.region >= 0) {
        winner = node;
        winnerLen = d + 1;
      }
    }

    let geo: { match: GeoMatch; prefix: number };
    try {
      geo = this.db.lookup(addr);
    } catch {
      // Corrupt data section: classify as unknown, with a host-sized scope so nothing wider is cached by resolvers.
      geo = { match: UNKNOWN, prefix: bits };
    }

    let region: number;
    let rule: string;
    let base: number;
    if (winner) {
      region = winner.region;
      rule = winner.rule;
      base = winnerLen;
    } else {
      const d = this.decide(geo.match);
      region = d.region;
      rule = d.rule;
      base = geo.prefix;
    }
    // Overrides in addr/base that do not contain addr answer differently: shrink the scope until it excludes them.
    // (A fork at depth < base lies outside addr/base and changes nothing.)
    const scope = Math.min(bits, Math.max(base, lastFork + 1));
    return Object.freeze({ region, scope, rule, match: geo.match });
  }

  private decide(m: GeoMatch): { region: number; rule: string } {
    const r = this.rules;
    let id: number | undefined;
    if (m.subdivision !== null && (id = r.subdivisions.get(m.subdivision)) !== undefined) {
      return { region: id, rule: `subdivision ${m.subdivision}` };
    }
    if (m.country !== null && (id = r.countries.get(m.country)) !== undefined) {
      return { region: id, rule: `country ${m.country}` };
    }
    if (m.continent !== null && (id = r.continents.get(m.continent)) !== undefined) {
      return { region: id, rule: `continent ${m.continent}` };
    }
    return this.defaultResult;
  }
}
