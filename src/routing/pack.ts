import type { PreparedAnswer } from '../dns';
import { SharedAnswer, type Sections, type WireRR } from './encode';
import { A_FIELDS, hashName, type PackedTables } from './pack-writer';
import { buildPacked, buildServices, type DynamicEntry, type Entry, type NodeEntry, type NodeLookup, type RoutingTables, type ServiceRuntime, type StaticEntry } from './tables';
import type { Signers } from './sign-answers';
import type { ZoneTransfer } from './transfer';
import type { MapConfig } from '../config';

export { transferList, type PackedTables } from './pack-writer';

/**
 * Routing tables as a few typed arrays, so a worker thread can build them and
 * hand them to the answering thread by transfer (no copy, no structured clone
 * of millions of objects), and the answering thread can swap them in at once.
 *
 * Names are an open-addressing hash table over their UTF-16 code units;
 * answers are one byte array with (offset, length, header counts) per answer
 * (pack-writer.ts writes them as buildPacked builds each name).
 * The answering thread makes a PreparedAnswer (a Buffer view, no copy) and a
 * NodeEntry the first time a name is asked and keeps them, so the hot names
 * cost what a Map lookup costs, and a name never asked costs 20 bytes or so
 * instead of a few hundred. Service entries (a few per service) stay objects:
 * their answers follow the live health state of ServiceRuntime objects that
 * only the answering thread has.
 */

/** A reference to an entry: >= 0 an answer index (a static entry), < 0 -1-i into `dynamic`. */
type EntryRef = number;

/** The names of packed tables can be listed (tests, tools); the query path only uses `get`. */
export interface PackedLookup extends NodeLookup {
  keys(): IterableIterator<string>;
}

/**
 * Tables built and unpacked in this thread (a Router made without prebuilt
 * tables, tests): the same packed form a build worker hands over.
 */
export function buildTables(map: MapConfig, services: ServiceRuntime[] = buildServices(map), signers: Signers = new Map()): RoutingTables & { nodes: PackedLookup } {
  const { tables } = unpackTables(buildPacked(map, services, signers, new Map()), services);
  return tables as RoutingTables & { nodes: PackedLookup };
}

const PAGE_BITS = 10;

/**
 * An array of objects made on first use, in pages of 1024 made on first use: one `new Array(n)` per table
 * for a million-name zone is tens of MB of slots, allocated (and then traced by every major GC) on the
 * answering thread at each swap, where a zone's asked names touch a few pages.
 */
class Paged<T> {
  private readonly pages: Array<Array<T | undefined> | undefined>;

  constructor(size: number) {
    this.pages = new Array<Array<T | undefined> | undefined>((size >>> PAGE_BITS) + 1);
  }

  get(i: number): T | undefined {
    return this.pages[i >>> PAGE_BITS]?.[i & ((1 << PAGE_BITS) - 1)];
  }

  set(i: number, v: T): T {
    const page = (this.pages[i >>> PAGE_BITS] ??= new Array<T | undefined>(1 << PAGE_BITS));
    page[i & ((1 << PAGE_BITS) - 1)] = v;
    return v;
  }
}

const RECENT_NAMES = 4096;

/** Name lookup over packed tables, made in the answering thread. */
class PackedNodes implements PackedLookup {
  private readonly cache: Paged<NodeEntry>;
  private readonly answerCache: Paged<PreparedAnswer>;
  private readonly staticCache: Paged<StaticEntry>;
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
    this.cache = new Paged(this.size);
    const count = p.answers.length / A_FIELDS;
    this.answerCache = new Paged(count);
    this.staticCache = new Paged(count);
    this.bodyBuffer = Buffer.from(p.body.buffer, p.body.byteOffset, p.body.byteLength);
  }

  *keys(): IterableIterator<string> {
    const { names, nameEnd } = this.p;
    for (let i = 0; i < nameEnd.length; i++) yield String.fromCharCode(...names.subarray(i === 0 ? 0 : nameEnd[i - 1], nameEnd[i]));
  }

  get(name: string): NodeEntry | undefined {
    const hit = this.recent.get(name);
    if (hit !== undefined) return hit ?? undefined;
    const i = this.find(name);
    const node = i < 0 ? null : (this.cache.get(i) ?? this.cache.set(i, this.node(i)));
    if (this.recent.size >= RECENT_NAMES) this.recent.clear();
    this.recent.set(name, node);
    return node ?? undefined;
  }

  /** The answer with index k, as a PreparedAnswer over the packed bytes. */
  answer(k: number): PreparedAnswer {
    const hit = this.answerCache.get(k);
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
    return this.answerCache.set(k, made);
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
    return this.staticCache.get(ref) ?? this.staticCache.set(ref, { dynamic: false, answer: this.answer(ref) });
  }

  private node(i: number): NodeEntry {
    const { typeEnd, typeCodes, typeRefs } = this.p;
    const types = new Map<number, Entry>();
    for (let t = i === 0 ? 0 : typeEnd[i - 1]; t < typeEnd[i]; t++) types.set(typeCodes[t], this.entry(typeRefs[t]));
    return { types, other: this.entry(this.p.other[i]), any: this.entry(this.p.any[i]) };
  }
}

/**
 * A structured clone turns the Buffers in rdata (TXT strings, DNSSEC records) into plain Uint8Arrays; the encoder
 * wants Buffers. (The IPC's advanced serialization keeps them Buffers: those are left as they are.)
 */
function reviveSections<S extends Sections<WireRR>>(s: S): S {
  const revive = (v: unknown): unknown => {
    if (v instanceof Uint8Array) return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
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
