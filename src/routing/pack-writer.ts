import type { PreparedAnswer } from '../dns';
import type { BodyBytes, Sections, WireRR } from './encode';
import type { ZoneTransfer } from './transfer';

/**
 * The packed tables' layout (pack.ts reads it) and the writer the table
 * builder appends to, name by name: each answer's bytes go straight into one
 * growing byte array and each name's entries into growing typed arrays, so
 * nothing per record or per answer is left on the heap for the GC to trace
 * while the rest of a big zone is built.
 */

/** Int32 fields per answer in `answers`. */
export const A_FIELDS = 8;

export interface PackedDynamic {
  service: number;
  route: 'a' | 'aaaa';
  answers: number[];
  /** Which of the service's weight plans the entry follows (its family), or null. */
  weights: 'a' | 'aaaa' | null;
}

export interface PackedTransfer {
  zone: string;
  acl: ZoneTransfer['acl'];
  messages: number[];
}

/** What a worker posts: plain data and typed arrays only (see `transferList`). */
export interface PackedTables {
  /** Every name's code units, one after the other; name i is [nameEnd[i-1], nameEnd[i]). */
  names: Uint16Array;
  nameEnd: Uint32Array;
  /** Hash slots (a power of two, at most half full): node index + 1, 0 = empty. */
  slots: Int32Array;
  /** Node i's (qtype, entry) pairs are [typeEnd[i-1], typeEnd[i]) of typeCodes/typeRefs. */
  typeEnd: Uint32Array;
  typeCodes: Uint16Array;
  /** An entry: >= 0 an answer index (a static entry), < 0 -1-i into `dynamic`. */
  typeRefs: Int32Array;
  other: Int32Array;
  any: Int32Array;
  /** Every answer's bytes. */
  body: Uint8Array;
  /** Per answer: offset, length, rcode | aa << 8, an, ns, ar, minimal and signed (answer index or -1). */
  answers: Int32Array;
  dynamic: PackedDynamic[];
  nxdomain: Array<[string, Sections, Sections<WireRR> | null]>;
  referrals: Array<[string, Sections, Sections<WireRR> | null]>;
  transfers: PackedTransfer[];
}

/** The ArrayBuffers of a PackedTables, for postMessage's transfer list. */
export function transferList(p: PackedTables): ArrayBuffer[] {
  const views = [p.names, p.nameEnd, p.slots, p.typeEnd, p.typeCodes, p.typeRefs, p.other, p.any, p.body, p.answers];
  return [...new Set(views.map((v) => v.buffer as ArrayBuffer))];
}

/** FNV-1a over a string's code units: the same on both threads, and cheap per query. */
export function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** hashName over code units [start, end) of `units`. */
function hashUnits(units: Uint16Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ units[i], 0x01000193);
  return h >>> 0;
}

type Typed = Uint8Array | Uint16Array | Uint32Array | Int32Array;

/** `a` with room for `need` elements (doubling), contents kept. */
function grow<T extends Typed>(a: T, used: number, need: number): T {
  if (need <= a.length) return a;
  let size = a.length * 2;
  while (size < need) size *= 2;
  const next = new (a.constructor as new (n: number) => T)(size);
  next.set(a.subarray(0, used));
  return next;
}

/**
 * The used part: a view while at least 3/4 of the array is used (the pack file and the reader take views at
 * their offsets, and a copy of a 100 MB array is more external memory, which makes V8 mark the whole heap
 * again), else a copy, so a bad size hint leaves no large slack behind.
 */
function trim<T extends Typed>(a: T, used: number): T {
  return (used * 4 >= a.length * 3 ? a.subarray(0, used) : a.slice(0, used)) as T;
}

/** What the builder expects to write, so the arrays start near their final size: hints, the arrays still grow. */
export interface PackSizes {
  nodes: number;
  /** Code units of all names together. */
  chars: number;
  /** (qtype, entry) pairs. */
  pairs: number;
  answers: number;
  bodyBytes: number;
}

export class PackWriter {
  private body: Uint8Array;
  private bodyLen = 0;
  private answers: Int32Array;
  private count = 0;
  private names: Uint16Array;
  private chars = 0;
  private nameEnd: Uint32Array;
  private typeEnd: Uint32Array;
  private other: Int32Array;
  private any: Int32Array;
  private nodes = 0;
  private typeCodes: Uint16Array;
  private typeRefs: Int32Array;
  private pairs = 0;
  private readonly dynamic: PackedDynamic[] = [];

  /**
   * `sizes`: what the builder expects. Arrays that double their way up to 100 MB allocate twice that, and
   * every 64 MB or so of new ArrayBuffer memory V8 marks the whole heap (a 1M-record build: 11 full
   * collections of a 600 MB heap, 3 of them from here).
   */
  constructor(sizes: PackSizes = { nodes: 1024, chars: 1 << 14, pairs: 4096, answers: 1024, bodyBytes: 1 << 16 }) {
    const at = (n: number, min: number): number => Math.max(min, Math.ceil(n));
    this.body = new Uint8Array(at(sizes.bodyBytes, 1024));
    this.answers = new Int32Array(at(sizes.answers, 16) * A_FIELDS);
    this.names = new Uint16Array(at(sizes.chars, 256));
    const nodes = at(sizes.nodes, 16);
    this.nameEnd = new Uint32Array(nodes);
    this.typeEnd = new Uint32Array(nodes);
    this.other = new Int32Array(nodes);
    this.any = new Int32Array(nodes);
    this.typeCodes = new Uint16Array(at(sizes.pairs, 64));
    this.typeRefs = new Int32Array(at(sizes.pairs, 64));
  }

  /** Appends an answer (its body is copied); returns its index. Its minimal and signed forms: setMinimal, setSigned. */
  answer(bytes: BodyBytes, rcode: number, aa: boolean, an: number, ns: number, ar: number): number {
    const { buf, start, end } = bytes;
    const length = end - start;
    this.body = grow(this.body, this.bodyLen, this.bodyLen + length);
    const out = this.body;
    // Most bodies are a few dozen bytes: a loop, where set() would need a view of the source made per answer.
    if (length > 256) out.set(buf.subarray(start, end), this.bodyLen);
    else for (let i = start, o = this.bodyLen; i < end; i++, o++) out[o] = buf[i];
    const k = this.count++;
    this.answers = grow(this.answers, k * A_FIELDS, this.count * A_FIELDS);
    const a = this.answers;
    const f = k * A_FIELDS;
    a[f] = this.bodyLen;
    a[f + 1] = length;
    a[f + 2] = rcode | (aa ? 256 : 0);
    a[f + 3] = an;
    a[f + 4] = ns;
    a[f + 5] = ar;
    a[f + 6] = -1;
    a[f + 7] = -1;
    this.bodyLen += length;
    return k;
  }

  /** Answer k's minimal form (the same without its additional section) is answer m. */
  setMinimal(k: number, m: number): void {
    this.answers[k * A_FIELDS + 6] = m;
  }

  /** Answer k's signed counterpart (for DO=1 queries) is answer s. */
  setSigned(k: number, s: number): void {
    this.answers[k * A_FIELDS + 7] = s;
  }

  /** Appends an answer already encoded (zone transfers, DNSKEY sets), its minimal and signed forms too. */
  prepared(a: PreparedAnswer): number {
    const k = this.answer({ buf: a.body, start: 0, end: a.body.length }, a.rcode, a.aa, a.an, a.ns, a.ar);
    if (a.minimal) this.setMinimal(k, this.prepared(a.minimal));
    if (a.signed) this.setSigned(k, this.prepared(a.signed));
    return k;
  }

  /** Adds a service entry; returns its reference (< 0). */
  dynamicEntry(d: PackedDynamic): number {
    this.dynamic.push(d);
    return -this.dynamic.length;
  }

  /** Adds one (qtype, entry) pair to the name that the next `node` call closes. */
  type(code: number, ref: number): void {
    this.typeCodes = grow(this.typeCodes, this.pairs, this.pairs + 1);
    this.typeRefs = grow(this.typeRefs, this.pairs, this.pairs + 1);
    this.typeCodes[this.pairs] = code;
    this.typeRefs[this.pairs++] = ref;
  }

  /** Closes a name: the pairs added since the last call, and its entries for other types and for ANY. */
  node(name: string, other: number, any: number): void {
    this.names = grow(this.names, this.chars, this.chars + name.length);
    for (let k = 0; k < name.length; k++) this.names[this.chars++] = name.charCodeAt(k);
    const i = this.nodes++;
    this.nameEnd = grow(this.nameEnd, i, this.nodes);
    this.typeEnd = grow(this.typeEnd, i, this.nodes);
    this.other = grow(this.other, i, this.nodes);
    this.any = grow(this.any, i, this.nodes);
    this.nameEnd[i] = this.chars;
    this.typeEnd[i] = this.pairs;
    this.other[i] = other;
    this.any[i] = any;
  }

  /** The packed tables: names hashed, every array cut to its size. The writer is spent after. */
  finish(shared: Pick<PackedTables, 'nxdomain' | 'referrals' | 'transfers'>): PackedTables {
    const n = this.nodes;
    const names = trim(this.names, this.chars);
    const nameEnd = trim(this.nameEnd, n);
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    const slots = new Int32Array(cap);
    for (let i = 0; i < n; i++) {
      let s = hashUnits(names, i === 0 ? 0 : nameEnd[i - 1], nameEnd[i]) & (cap - 1);
      while (slots[s] !== 0) s = (s + 1) & (cap - 1);
      slots[s] = i + 1;
    }
    return {
      names,
      nameEnd,
      slots,
      typeEnd: trim(this.typeEnd, n),
      typeCodes: trim(this.typeCodes, this.pairs),
      typeRefs: trim(this.typeRefs, this.pairs),
      other: trim(this.other, n),
      any: trim(this.any, n),
      body: trim(this.body, this.bodyLen),
      answers: trim(this.answers, this.count * A_FIELDS),
      dynamic: this.dynamic,
      ...shared,
    };
  }
}
