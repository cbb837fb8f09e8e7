import { join } from 'node:path';
import { GeoDbError } from '../common/errors';
import { runWorker } from '../common/worker';
import { buildMatch, type GeoDatabase, type MmdbTree } from './database';
import { FieldDecoder, ipv4Start, recordReader, type RecordReader } from './mmdb-raw';
import { buildOverrideTries, checkRules, decide, type OverrideNode, type RegionRules } from './rules';

/**
 * Region trie: the MMDB search tree with every network replaced by its region (rules and CIDR overrides
 * applied), and every subtree whose addresses all get one region collapsed into a single leaf. The depth of
 * the leaf an address reaches is the widest prefix around it with that region: the ECS scope.
 *
 * Layout: one Int32Array `kids`, two entries per internal node (bit 0, bit 1). A value >= 0 is an internal
 * node index; a value < 0 is a leaf holding region ~value. There are two roots, one per family: `root4` is
 * walked with the 32 bits of an IPv4 (or IPv4-mapped) address and carries the IPv4 overrides, `root6` with
 * 128 bits and the IPv6 overrides, as the classifier does. In an IPv6 MMDB the IPv4 subtree also sits at
 * ::/96, ::ffff:0:0/96, 2002::/16 and Teredo; those share nodes with root4 (the tree is a DAG), so it is
 * stored once. A root can itself be a leaf (one region for the whole family).
 *
 * The first 16 bits of each family go through a direct-index table (`jump4`, `jump6`, 65536 entries each,
 * computed from the trie): an entry < 0 is a finished answer ~(region * 256 + scope) for a prefix that is one
 * region at /16 or wider, an entry >= 0 the node to continue from at depth 16. Most IPv4 lookups are then one
 * load instead of a chain of ~10 dependent loads.
 */

/** Packed result of locate(): region * 256 + scope. */
export function packedRegion(packed: number): number {
  return Math.floor(packed / 256);
}

export function packedScope(packed: number): number {
  return packed & 255;
}

/** What a RegionTrie is made of; transferable between threads (kids.buffer). */
export interface RegionTrieParts {
  kids: Int32Array;
  nodeCount: number;
  root4: number;
  root6: number;
  buildMs: number;
  recordCount: number;
  regionCount: number;
}

const UNSET = -0x80000000;
const JUMP_BITS = 16;
/** Regions must fit in the packed result (region * 256 + scope) as an int32. */
const MAX_REGIONS = 1 << 22;

/** The direct-index table for the first JUMP_BITS bits below `root` (see the layout comment above). */
function jumpTable(kids: Int32Array, root: number): Int32Array {
  const t = new Int32Array(1 << JUMP_BITS);
  const fill = (v: number, depth: number, prefix: number): void => {
    if (v < 0) {
      const span = 1 << (JUMP_BITS - depth);
      t.fill(~(~v * 256 + depth), prefix * span, (prefix + 1) * span);
    } else if (depth === JUMP_BITS) {
      t[prefix] = v;
    } else {
      fill(kids[v * 2], depth + 1, prefix * 2);
      fill(kids[v * 2 + 1], depth + 1, prefix * 2 + 1);
    }
  };
  fill(root, 0, 0);
  return t;
}

/**
 * Region of each distinct data record, keyed by its search-tree record value (> 0): an open-addressing hash
 * table in typed arrays, since a Map of ~540k entries looked up 3.7 million times dominated the build.
 */
class RecordRegions {
  private keys: Int32Array;
  private vals: Int32Array;
  size = 0;

  /** `expected`: about how many records there will be (GeoLite2-City: one per 7 tree nodes). */
  constructor(expected: number) {
    let cap = 1 << 10;
    while (cap < expected * 2) cap *= 2;
    this.keys = new Int32Array(cap).fill(-1);
    this.vals = new Int32Array(cap);
  }

  private slot(k: number): number {
    const mask = this.keys.length - 1;
    let i = Math.imul(k, 0x9e3779b1) >>> 0 & mask;
    while (this.keys[i] !== -1 && this.keys[i] !== k) i = (i + 1) & mask;
    return i;
  }

  /** The region, or -1. */
  get(k: number): number {
    const i = this.slot(k);
    return this.keys[i] === k ? this.vals[i] : -1;
  }

  set(k: number, v: number): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const i = this.slot(k);
    if (this.keys[i] !== k) this.size++;
    this.keys[i] = k;
    this.vals[i] = v;
  }

  private grow(): void {
    const oldK = this.keys;
    const oldV = this.vals;
    this.keys = new Int32Array(oldK.length * 2).fill(-1);
    this.vals = new Int32Array(oldK.length * 2);
    for (let i = 0; i < oldK.length; i++) {
      if (oldK[i] !== -1) {
        const j = this.slot(oldK[i]);
        this.keys[j] = oldK[i];
        this.vals[j] = oldV[i];
      }
    }
  }
}

/** Internal nodes of the merged trie, grown by doubling. */
class NodePool {
  kids: Int32Array;
  n = 0;
  constructor(capacity: number) {
    this.kids = new Int32Array(Math.max(64, capacity) * 2);
  }

  /** The node with children l, r; or the leaf itself when both are the same leaf (the merge). */
  join(l: number, r: number): number {
    if (l === r && l < 0) return l;
    let k = this.kids;
    const i = this.n;
    if (i * 2 + 2 > k.length) {
      const bigger = new Int32Array(k.length * 2);
      bigger.set(k);
      this.kids = k = bigger;
    }
    k[i * 2] = l;
    k[i * 2 + 1] = r;
    this.n = i + 1;
    return i;
  }
}

class TrieBuilder {
  readonly pool: NodePool;
  private readonly nodeCount: number;
  private readonly read: RecordReader;
  private readonly decoder: FieldDecoder;
  private readonly tree: MmdbTree;
  private readonly rules: RegionRules;
  private readonly defaultLeaf: number;
  /** Region by search-tree record value (data pointer): each distinct record is decoded once. */
  private readonly regionOf: RecordRegions;
  /** Merged subtree of each MMDB node, for nodes reached without an override inside (the common case). */
  private readonly memo: Int32Array;
  /** Subtrees that hit the family's bit limit (malformed trees only) depend on depth: keyed by node * 129 + depth. */
  private readonly memoAtDepth = new Map<number, number>();
  private cut = false;

  constructor(tree: MmdbTree, rules: RegionRules, pool?: NodePool) {
    this.tree = tree;
    this.rules = rules;
    this.nodeCount = tree.nodeCount;
    this.read = recordReader(tree);
    this.decoder = new FieldDecoder(tree);
    this.defaultLeaf = ~rules.defaultRegion;
    this.memo = new Int32Array(tree.nodeCount).fill(UNSET);
    this.regionOf = new RecordRegions(tree.nodeCount >> 2);
    // The merged trie is a small fraction of the MMDB tree (GeoLite2-City: 48k nodes for 3.7M); it grows if needed.
    this.pool = pool ?? new NodePool(tree.nodeCount >> 6);
  }

  get recordCount(): number {
    return this.regionOf.size;
  }

  ipv4Start(): number {
    return ipv4Start(this.tree, this.read);
  }

  /** Leaf for a terminal record value (>= nodeCount): empty -> default region, else the record's region. */
  private leaf(v: number): number {
    if (v === this.nodeCount) return this.defaultLeaf;
    let r = this.regionOf.get(v);
    if (r < 0) {
      try {
        const rec = this.decoder.decode(this.decoder.recordOffset(this.tree, v));
        r = rec ? decide(this.rules, buildMatch(rec, '')).region : this.rules.defaultRegion;
      } catch {
        // Corrupt data: the classifier treats the address as unknown too.
        r = this.rules.defaultRegion;
      }
      this.regionOf.set(v, r);
    }
    return ~r;
  }

  /** Merged subtree below record value `v` at `depth` of a `bits`-bit family, with no override inside. */
  sub(v: number, depth: number, bits: number): number {
    if (v >= this.nodeCount) return this.leaf(v);
    if (depth >= bits) {
      // mmdb-lib stops after `bits` bits: a node there means "not found".
      this.cut = true;
      return this.defaultLeaf;
    }
    const m = this.memo[v];
    if (m !== UNSET) return m;
    let key = -1;
    if (this.memoAtDepth.size > 0) {
      key = v * 129 + depth;
      const hit = this.memoAtDepth.get(key);
      if (hit !== undefined) return hit;
    }
    const outer = this.cut;
    this.cut = false;
    const l = this.sub(this.read(v, 0), depth + 1, bits);
    const r = this.sub(this.read(v, 1), depth + 1, bits);
    const res = this.pool.join(l, r);
    if (!this.cut) this.memo[v] = res;
    else this.memoAtDepth.set(key >= 0 ? key : v * 129 + depth, res);
    this.cut ||= outer;
    return res;
  }

  /**
   * Merged subtree below `v` where overrides may lie: `ov` is the override-trie node at this prefix (null if
   * none at or below it), `active` the region of the longest CIDR override containing the whole block, or -1,
   * `asn` that of the ASN block containing it, or -1. A CIDR override beats an ASN block at any length.
   */
  withOverrides(v: number, depth: number, bits: number, ov: OverrideNode | null, active: number, asn = -1): number {
    const fixed = active >= 0 ? active : asn;
    if (ov === null) return fixed >= 0 ? ~fixed : this.sub(v, depth, bits);
    if (depth >= bits) return fixed >= 0 ? ~fixed : v > this.nodeCount ? this.leaf(v) : this.defaultLeaf;
    // A terminal above the override covers the whole block: both halves keep it.
    const v0 = v < this.nodeCount ? this.read(v, 0) : v;
    const v1 = v < this.nodeCount ? this.read(v, 1) : v;
    const o0 = ov.zero;
    const o1 = ov.one;
    const l = this.withOverrides(v0, depth + 1, bits, o0, o0 !== null && o0.region >= 0 ? o0.region : active, o0 !== null && o0.asnRegion >= 0 ? o0.asnRegion : asn);
    const r = this.withOverrides(v1, depth + 1, bits, o1, o1 !== null && o1.region >= 0 ? o1.region : active, o1 !== null && o1.asnRegion >= 0 ? o1.asnRegion : asn);
    return this.pool.join(l, r);
  }
}

export class RegionTrie {
  /** Internal nodes of the merged structure (each 8 bytes). */
  readonly nodeCount: number;
  /** Wall time of build(), ms. */
  readonly buildMs: number;
  /** Distinct MMDB data records decoded during the build. */
  readonly recordCount: number;
  /** Number of regions of the rules it was built with (a sanity check when a trie is handed over). */
  readonly regionCount: number;
  private readonly kids: Int32Array;
  private readonly root4: number;
  private readonly root6: number;
  private readonly jump4: Int32Array;
  private readonly jump6: Int32Array;

  private constructor(p: RegionTrieParts) {
    this.kids = p.kids;
    this.nodeCount = p.nodeCount;
    this.root4 = p.root4;
    this.root6 = p.root6;
    this.jump4 = jumpTable(p.kids, p.root4);
    this.jump6 = jumpTable(p.kids, p.root6);
    this.buildMs = p.buildMs;
    this.recordCount = p.recordCount;
    this.regionCount = p.regionCount;
  }

  /**
   * Walks the MMDB search tree once and builds the merged trie. Same precedence as GeoClassifier: cidr
   * override > ASN block > subdivision > country (+ registered_country) > continent > default. Throws RangeError for
   * region ids outside `rules.regions`.
   */
  static build(db: GeoDatabase, rules: RegionRules): RegionTrie {
    const t0 = performance.now();
    checkRules(rules);
    if (rules.regions.length > MAX_REGIONS) throw new RangeError(`at most ${MAX_REGIONS} regions`);
    const tree = db.tree();
    const tree4 = db.tree4();
    const ov = buildOverrideTries(rules);
    const b = new TrieBuilder(tree, rules);
    // A split database answers IPv4 from its own file: a second builder over that tree, adding to the same nodes.
    const b4 = tree4 === tree || tree4.buffer === tree.buffer ? b : new TrieBuilder(tree4, rules, b.pool);
    const root4 = b4.withOverrides(b4.ipv4Start(), 0, 32, ov.v4, ov.v4.region, ov.v4.asnRegion);
    // An IPv4-only DB knows nothing about IPv6: everything there is "not found" (as GeoDatabase.lookup says).
    const root6 = b.withOverrides(tree.ipVersion === 6 ? 0 : tree.nodeCount, 0, 128, ov.v6, ov.v6.region, ov.v6.asnRegion);
    const n = b.pool.n;
    return new RegionTrie({
      kids: b.pool.kids.slice(0, n * 2),
      nodeCount: n,
      root4,
      root6,
      buildMs: performance.now() - t0,
      recordCount: b.recordCount + (b4 === b ? 0 : b4.recordCount),
      regionCount: rules.regions.length,
    });
  }

  /** Rebuilds a trie from parts (from another thread). The parts are checked for shape, not content. */
  static fromParts(p: RegionTrieParts): RegionTrie {
    const ok = (root: number): boolean => Number.isInteger(root) && root < p.nodeCount;
    if (!(p.kids instanceof Int32Array) || p.kids.length !== p.nodeCount * 2 || !ok(p.root4) || !ok(p.root6)) {
      throw new TypeError('not the parts of a RegionTrie');
    }
    return new RegionTrie(p);
  }

  /** The parts, for transfer to another thread (transfer `kids.buffer`; this trie is unusable after that). */
  toParts(): RegionTrieParts {
    return {
      kids: this.kids,
      nodeCount: this.nodeCount,
      root4: this.root4,
      root6: this.root6,
      buildMs: this.buildMs,
      recordCount: this.recordCount,
      regionCount: this.regionCount,
    };
  }

  /** Bytes held by the structure (nodes and the two jump tables). */
  get byteLength(): number {
    return this.kids.byteLength + this.jump4.byteLength + this.jump6.byteLength;
  }

  /**
   * Region index and scope prefix of a 4- or 16-byte address, packed as region * 256 + scope (use
   * packedRegion/packedScope, or `>> 8` and `& 255` while regions < 2^23). The scope is in the family of the
   * address: IPv4 bits for 4-byte input and for IPv4-mapped IPv6 (::ffff:a.b.c.d), IPv6 bits otherwise.
   * Every address inside addr/scope gets the same region. No allocation.
   */
  locate(addr: Uint8Array): number {
    const k = this.kids;
    let v: number;
    let d = JUMP_BITS;
    const len = addr.length;
    if (
      len === 4 ||
      (len === 16 && addr[0] === 0 && addr[1] === 0 && addr[2] === 0 && addr[3] === 0 && addr[4] === 0 && addr[5] === 0 &&
        addr[6] === 0 && addr[7] === 0 && addr[8] === 0 && addr[9] === 0 && addr[10] === 0xff && addr[11] === 0xff)
    ) {
      const o = len - 4;
      const x = (addr[o] << 24) | (addr[o + 1] << 16) | (addr[o + 2] << 8) | addr[o + 3];
      v = this.jump4[x >>> 16];
      if (v < 0) return ~v;
      while (v >= 0) {
        v = k[(v << 1) | ((x >>> (31 - d)) & 1)];
        d++;
      }
    } else if (len === 16) {
      v = this.jump6[(addr[0] << 8) | addr[1]];
      if (v < 0) return ~v;
      while (v >= 0) {
        v = k[(v << 1) | ((addr[d >> 3] >> (7 - (d & 7))) & 1)];
        d++;
      }
    } else {
      throw new TypeError(`address must be 4 or 16 bytes, got ${len}`);
    }
    return ~v * 256 + d;
  }
}

/** Message from region-trie-worker.js. */
export type WorkerReply = { ok: true; parts: RegionTrieParts } | { ok: false; message: string; geoDb: boolean };

/**
 * Builds a RegionTrie in a worker thread and transfers the typed array back, so a reload does not block the
 * event loop for the build. `db` is a path (the worker reads the file) or a loaded GeoDatabase (its bytes are
 * copied to the worker, so the trie matches that exact database even if the file has been replaced since).
 * Rejects with GeoDbError if the file cannot be opened, with the worker's error otherwise.
 */
export function buildRegionTrieInWorker(db: string | GeoDatabase, rules: RegionRules): Promise<RegionTrie> {
  checkRules(rules);
  const source = typeof db === 'string' ? { paths: [db] } : { paths: db.files().map((f) => f.path), bytes: db.files().map((f) => f.buf) };
  return runWorker<WorkerReply>(join(__dirname, 'region-trie-worker.js'), { ...source, rules }).then((m) => {
    if (!m.ok) throw m.geoDb ? new GeoDbError(m.message) : new Error(m.message);
    return RegionTrie.fromParts(m.parts);
  });
}
