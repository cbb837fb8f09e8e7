import type { IpBytes } from '../common/ip';
import type { GeoDatabase, GeoMatch } from './database';
import { RegionTrie } from './region-trie';
import { buildOverrideTries, checkRules, decide, isMappedV4, type OverrideNode, type RegionRules } from './rules';

export type { RegionRules } from './rules';

export interface Classification {
  region: number;
  /** Prefix length, in the family of the classified address, of the block around it over which this exact classification holds. */
  scope: number;
  /** Which rule decided: 'cidr 10.0.0.0/8' | 'asn 4134 (Chinanet) group telecom' | 'subdivision CN-GD' | 'country CN' | 'continent AS' | 'default' */
  rule: string;
  match: GeoMatch;
  /** AS number of the map's ASN block holding the address (only the AS numbers the map names are known), or null. */
  asn: number | null;
}

export interface GeoClassifierOptions {
  /** Cached classifications (IPv4 + IPv6 together); the cache is cleared when full. 0 disables. Default 65536. */
  cacheSize?: number;
  /**
   * A region trie already built for this database and these rules (e.g. by buildRegionTrieInWorker), or
   * 'lazy' to build it on the first locate() (for tools that only classify). By default the constructor and
   * setDatabase build it (about 0.6 s for GeoLite2-City).
   */
  trie?: RegionTrie | 'lazy';
}

const UNKNOWN: GeoMatch = Object.freeze({ country: null, subdivision: null, continent: null, network: '' });

type TrieNode = OverrideNode;

/**
 * Maps client addresses to regions. Precedence: CIDR override (longest prefix) > ASN block > subdivision > country >
 * continent > default. Two ways in: `locate` (the hot path: region + merged scope from the region trie, no
 * allocation, no MMDB decode) and `classify` (direct MMDB lookup with the deciding rule and match, for
 * explaining decisions; results cached per address and frozen). Neither does I/O.
 */
export class GeoClassifier {
  private db: GeoDatabase;
  private readonly rules: RegionRules;
  private readonly cacheSize: number;
  private readonly cache4 = new Map<number, Classification>();
  private readonly cache6 = new Map<string, Classification>();
  private readonly trie4: TrieNode;
  private readonly trie6: TrieNode;
  /** null only when lazy and not needed yet. */
  private trie: RegionTrie | null;
  private readonly lazy: boolean;

  constructor(db: GeoDatabase, rules: RegionRules, options: GeoClassifierOptions = {}) {
    this.db = db;
    this.rules = rules;
    this.cacheSize = Math.max(0, Math.floor(options.cacheSize ?? 65536));
    checkRules(rules);
    const tries = buildOverrideTries(rules);
    this.trie4 = tries.v4;
    this.trie6 = tries.v6;
    this.lazy = options.trie === 'lazy';
    this.trie = options.trie === 'lazy' ? null : (this.checkTrie(options.trie) ?? RegionTrie.build(db, rules));
  }

  get database(): GeoDatabase {
    return this.db;
  }

  /** The region trie behind locate() (for metrics: nodeCount, buildMs); built now if lazy. */
  get regionTrie(): RegionTrie {
    return (this.trie ??= RegionTrie.build(this.db, this.rules));
  }

  /**
   * Swaps the database (after a reload); cached results came from the old one, so they go. The region trie
   * is rebuilt synchronously (about 0.6 s for GeoLite2-City; on the next locate() if lazy) unless `trie`,
   * built for `db` and the same rules (buildRegionTrieInWorker), is given.
   */
  setDatabase(db: GeoDatabase, trie?: RegionTrie): void {
    const next = this.checkTrie(trie) ?? (this.lazy ? null : RegionTrie.build(db, this.rules));
    this.db = db;
    this.trie = next;
    this.cache4.clear();
    this.cache6.clear();
  }

  /**
   * The hot path: region and ECS scope of a 4- or 16-byte address, packed as region * 256 + scope (scope in
   * IPv4 bits for IPv4 and IPv4-mapped input). The scope is the widest prefix around the address in which
   * every address gets the same region (so usually wider than classify().scope). No allocation.
   */
  locate(addr: IpBytes): number {
    return (this.trie ?? this.regionTrie).locate(addr);
  }

  private checkTrie(trie: RegionTrie | undefined): RegionTrie | undefined {
    if (trie !== undefined && trie.regionCount !== this.rules.regions.length) {
      throw new RangeError(`region trie was built for ${trie.regionCount} regions, the rules have ${this.rules.regions.length}`);
    }
    return trie;
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

  /** Miss path. `addr` is 4 bytes (IPv4) or a non-mapped 16-byte IPv6 address. */
  private compute(addr: IpBytes, root: TrieNode): Classification {
    const bits = addr.length * 8;
    // Walk the override trie along addr: the deepest override on the path decides; the deepest branch
    // leaving the path marks the last bit that still separates addr from an override that does not contain it.
    // ASN blocks share the trie (their own fields): the deepest on the path is the address's block.
    let winner: TrieNode | null = root.region >= 0 ? root : null;
    let winnerLen = 0;
    let asnNode: TrieNode | null = root.asnRegion >= 0 ? root : null;
    let asnLen = 0;
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
      if (node && node.asnRegion >= 0) {
        asnNode = node;
        asnLen = d + 1;
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
    } else if (asnNode) {
      region = asnNode.asnRegion;
      rule = asnNode.asnRule;
      base = asnLen;
    } else {
      const d = decide(this.rules, geo.match);
      region = d.region;
      rule = d.rule;
      base = geo.prefix;
    }
    // Overrides in addr/base that do not contain addr answer differently: shrink the scope until it excludes them.
    // (A fork at depth < base lies outside addr/base and changes nothing.)
    const scope = Math.min(bits, Math.max(base, lastFork + 1));
    return Object.freeze({ region, scope, rule, match: geo.match, asn: asnNode ? asnNode.asn : null });
  }
}
