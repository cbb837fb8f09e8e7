import type { PreparedAnswer } from '../dns';
import { SharedAnswer, type Sections, type WireRR } from './encode';
import type { DynamicEntry, Entry, NodeEntry, NodeLookup, RoutingTables, ServiceRuntime, StaticEntry } from './tables';
import type { ZoneTransfer } from './transfer';

/**
 * Routing tables as a few typed arrays, so a worker thread can build them and
 * hand them to the answering thread by transfer (no copy, no structured clone
 * of millions of objects), and the answering thread can swap them in at once.
 *
 * Names are an open-addressing hash table over their UTF-16 code units;
 * answers are one byte array with (offset, length, header counts) per answer.
 * The answering thread makes a PreparedAnswer (a Buffer view, no copy) and a
 * NodeEntry the first time a name is asked and keeps them, so the hot names
 * cost what a Map lookup costs, and a name never asked costs 20 bytes or so
 * instead of a few hundred. Service entries (a few per service) stay objects:
 * their answers follow the live health state of ServiceRuntime objects that
 * only the answering thread has.
 */

/** Int32 fields per answer in `answers`. */
const A_FIELDS = 8;
/** A reference to an entry: >= 0 an answer index (a static entry), < 0 -1-i into `dynamic`. */
type EntryRef = number;

interface PackedDynamic {
  service: number;
  route: 'a' | 'aaaa';
  answers: number[];
  /** Which of the service's weight plans the entry follows (its family), or null. */
  weights: 'a' | 'aaaa' | null;
}

interface PackedTransfer {
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
function hashName(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Packs tables built by buildTables (and the map's zone transfers) in the building thread. */
export function packTables(tables: RoutingTables & { nodes: Map<string, NodeEntry> }, transfers: ReadonlyMap<string, ZoneTransfer>): PackedTables {
  const nodes = tables.nodes;
  const n = nodes.size;
  // Answers, deduplicated by identity (buildTables shares one answer among a name's equal plans).
  const answerIds = new Map<PreparedAnswer, number>();
  const answerList: PreparedAnswer[] = [];
  const answerRef = (a: PreparedAnswer): number => {
    let id = answerIds.get(a);
    if (id === undefined) {
      answerIds.set(a, (id = answerList.length));
      answerList.push(a);
      if (a.minimal) answerRef(a.minimal);
      if (a.signed) answerRef(a.signed);
    }
    return id;
  };
  const dynamicIds = new Map<DynamicEntry, number>();
  const dynamic: PackedDynamic[] = [];
  const entryRef = (e: Entry): EntryRef => {
    if (!e.dynamic) return answerRef(e.answer);
    let id = dynamicIds.get(e);
    if (id === undefined) {
      dynamicIds.set(e, (id = dynamic.length));
      const weights = e.weights === null ? null : e.weights === e.service.weights.a ? 'a' : 'aaaa';
      dynamic.push({ service: e.service.index, route: e.route === e.service.a ? 'a' : 'aaaa', answers: e.answers.map(answerRef), weights });
    }
    return -1 - id;
  };

  let chars = 0;
  let pairs = 0;
  for (const [name, node] of nodes) {
    chars += name.length;
    pairs += node.types.size;
  }
  const names = new Uint16Array(chars);
  const nameEnd = new Uint32Array(n);
  let cap = 16;
  while (cap < n * 2) cap *= 2;
  const slots = new Int32Array(cap);
  const typeEnd = new Uint32Array(n);
  const typeCodes = new Uint16Array(pairs);
  const typeRefs = new Int32Array(pairs);
  const other = new Int32Array(n);
  const any = new Int32Array(n);
  let i = 0;
  let c = 0;
  let t = 0;
  for (const [name, node] of nodes) {
    for (let k = 0; k < name.length; k++) names[c++] = name.charCodeAt(k);
    nameEnd[i] = c;
    let s = hashName(name) & (cap - 1);
    while (slots[s] !== 0) s = (s + 1) & (cap - 1);
    slots[s] = i + 1;
    for (const [code, e] of node.types) {
      typeCodes[t] = code;
      typeRefs[t++] = entryRef(e);
    }
    typeEnd[i] = t;
    other[i] = entryRef(node.other);
    any[i] = entryRef(node.any);
    i++;
  }
  for (const tr of transfers.values()) for (const m of tr.messages) answerRef(m);

  let bytes = 0;
  for (const a of answerList) bytes += a.body.length;
  const body = new Uint8Array(bytes);
  const answers = new Int32Array(answerList.length * A_FIELDS);
  let off = 0;
  answerList.forEach((a, k) => {
    body.set(a.body, off);
    const f = k * A_FIELDS;
    answers[f] = off;
    answers[f + 1] = a.body.length;
    answers[f + 2] = a.rcode | (a.aa ? 256 : 0);
    answers[f + 3] = a.an;
    answers[f + 4] = a.ns;
    answers[f + 5] = a.ar;
    answers[f + 6] = a.minimal ? (answerIds.get(a.minimal) as number) : -1;
    answers[f + 7] = a.signed ? (answerIds.get(a.signed) as number) : -1;
    off += a.body.length;
  });
  const shared = (m: Map<string, SharedAnswer>): Array<[string, Sections, Sections<WireRR> | null]> => [...m].map(([k, v]) => [k, v.sections, v.signed]);
  return {
    names,
    nameEnd,
    slots,
    typeEnd,
    typeCodes,
    typeRefs,
    other,
    any,
    body,
    answers,
    dynamic,
    nxdomain: shared(tables.nxdomain),
    referrals: shared(tables.referrals),
    transfers: [...transfers.values()].map((tr) => ({ zone: tr.zone, acl: tr.acl, messages: tr.messages.map((m) => answerIds.get(m) as number) })),
  };
}

const RECENT_NAMES = 4096;

/** Name lookup over packed tables, made in the answering thread. */
class PackedNodes implements NodeLookup {
  private readonly cache: Array<NodeEntry | undefined>;
  private readonly answerCache: Array<PreparedAnswer | undefined>;
  private readonly staticCache: Array<StaticEntry | undefined>;
  private readonly bodyBuffer: Buffer;
  // Names asked recently -> their node (null: not a name of ours). A Map lookup reuses the hash the
  // question-name string keeps (dns/wire.ts caches those strings), where find() hashes and compares
  // the characters every time: 880 -> 540 ns per query in bench/handle.bench. Cleared when full, so
  // a flood of random names costs a clear now and then, and the memory stays bounded.
  private readonly recent = new Map<string, NodeEntry | null>();
  readonly size: number;

  constructor(
    private readonly p: PackedTables,
    private readonly dynamic: DynamicEntry[],
  ) {
    this.size = p.nameEnd.length;
    this.cache = new Array<NodeEntry | undefined>(this.size);
    const count = p.answers.length / A_FIELDS;
    this.answerCache = new Array<PreparedAnswer | undefined>(count);
    this.staticCache = new Array<StaticEntry | undefined>(count);
    this.bodyBuffer = Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength);
  }

  get(name: string): NodeEntry | undefined {
    const hit = this.recent.get(name);
    if (hit !== undefined) return hit ?? undefined;
    const i = this.find(name);
    const node = i < 0 ? null : (this.cache[i] ?? (this.cache[i] = this.node(i)));
    if (this.recent.size >= RECENT_NAMES) this.recent.clear();
    this.recent.set(name, node);
    return node ?? undefined;
  }

  /** The answer with index k, as a PreparedAnswer over the packed bytes. */
  answer(k: number): PreparedAnswer {
    const hit = this.answerCache[k];
    if (hit) return hit;
    const a = this.p.answers;
    const f = k * A_FIELDS;
    const min = a[f + 6];
    const sig = a[f + 7];
    const made: PreparedAnswer = {
      rcode: a[f + 2] & 0xff,
      aa: (a[f + 2] & 256) !== 0,
      an: a[f + 3],
      ns: a[f + 4],
      ar: a[f + 5],
      body: this.bodyBuffer.subarray(a[f], a[f] + a[f + 1]),
      minimal: min >= 0 ? this.answer(min) : null,
      signed: sig >= 0 ? this.answer(sig) : null,
    };
    this.answerCache[k] = made;
    return made;
  }

  private find(name: string): number {
    const { slots, nameEnd, names } = this.p;
    const mask = slots.length - 1;
    for (let s = hashName(name) & mask; ; s = (s + 1) & mask) {
      const v = slots[s];
      if (v === 0) return -1;
      const i = v - 1;
      const start = i === 0 ? 0 : nameEnd[i - 1];
      if (nameEnd[i] - start !== name.length) continue;
      let k = 0;
      while (k < name.length && names[start + k] === name.charCodeAt(k)) k++;
      if (k === name.length) return i;
    }
  }

  private entry(ref: EntryRef): Entry {
    if (ref < 0) return this.dynamic[-1 - ref];
    return this.staticCache[ref] ?? (this.staticCache[ref] = { dynamic: false, answer: this.answer(ref) });
  }

  private node(i: number): NodeEntry {
    const { typeEnd, typeCodes, typeRefs } = this.p;
    const types = new Map<number, Entry>();
    for (let t = i === 0 ? 0 : typeEnd[i - 1]; t < typeEnd[i]; t++) types.set(typeCodes[t], this.entry(typeRefs[t]));
    return { types, other: this.entry(this.p.other[i]), any: this.entry(this.p.any[i]) };
  }
}

/** A structured clone turns the Buffers in rdata (TXT strings) into plain Uint8Arrays; the encoder wants Buffers. */
function reviveSections<S extends Sections<WireRR>>(s: S): S {
  const revive = (v: unknown): unknown => {
    if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (Array.isArray(v)) return v.map(revive);
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revive(x)]));
    return v;
  };
  return revive(s) as S;
}

/** Tables and transfers over packed data, wired to this thread's ServiceRuntime objects. */
export function unpackTables(p: PackedTables, services: ServiceRuntime[]): { tables: RoutingTables; transfers: Map<string, ZoneTransfer> } {
  const dynamic: DynamicEntry[] = [];
  const nodes = new PackedNodes(p, dynamic);
  for (const d of p.dynamic) {
    const service = services[d.service];
    const weights = d.weights === null ? null : service.weights[d.weights];
    dynamic.push({ dynamic: true, service, route: d.route === 'a' ? service.a : service.aaaa, answers: d.answers.map((k) => nodes.answer(k)), weights });
  }
  const shared = (list: Array<[string, Sections, Sections<WireRR> | null]>): Map<string, SharedAnswer> =>
    new Map(list.map(([k, s, signed]) => [k, new SharedAnswer(reviveSections(s), signed && reviveSections(signed))]));
  const transfers = new Map<string, ZoneTransfer>(p.transfers.map((t) => [t.zone, { zone: t.zone, acl: t.acl, messages: t.messages.map((k) => nodes.answer(k)) }]));
  return { tables: { nodes, nxdomain: shared(p.nxdomain), referrals: shared(p.referrals), services }, transfers };
}
