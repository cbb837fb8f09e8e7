import { createHash, type Hash } from 'node:crypto';
import { parseQuery, ParseResult, Query } from '../../src/dns/wire';

/*
 * Packet generation for the fuzzing campaign (test/fuzz/fuzz.ts): a seeded
 * PRNG, a small DNS message model that mutations edit structurally before it
 * is encoded, byte-level mutations on the encoded bytes, random datagrams, TCP
 * byte streams (framed, pipelined, split, lying prefixes, partial frames) and
 * slow-loris trickles, plus the reply checker. Nothing here touches the
 * network: the same seed always gives the same action sequence (see
 * `Generator.digest`).
 */

// ---------------------------------------------------------------------------
// PRNG

export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  u32(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** Uniform integer in [lo, hi]. */
  range(lo: number, hi: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  bytes(n: number): Buffer;
}

/** mulberry32: tiny, fast, seeded; good enough to pick mutations. */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  const u32 = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number): number => Math.floor((u32() / 0x1_0000_0000) * n);
  return {
    u32,
    int,
    range: (lo, hi) => lo + int(hi - lo + 1),
    chance: (p) => u32() / 0x1_0000_0000 < p,
    pick: (items) => items[int(items.length)],
    bytes(n: number): Buffer {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = u32() & 0xff;
      return b;
    },
  };
}

// ---------------------------------------------------------------------------
// Message model

/** A question; `name` is raw wire bytes, so it may be anything. */
export interface Question {
  name: Buffer;
  type: number;
  klass: number;
}

/** A resource record; `name` is raw wire bytes (labels, pointers, junk). */
export interface RR {
  name: Buffer;
  type: number;
  klass: number;
  ttl: number;
  rdata: Buffer;
  /** RDLENGTH to write instead of rdata.length (a lie). */
  rdlen?: number;
}

export interface EdnsOption {
  code: number;
  data: Buffer;
  /** OPTION-LENGTH to write instead of data.length (a lie). */
  len?: number;
}

export interface Opt {
  udpSize: number;
  extRcode: number;
  version: number;
  /** DO bit and Z: the low 16 bits of the OPT TTL. */
  flags: number;
  options: EdnsOption[];
  /** Owner name bytes (the root, [0], unless mutated). */
  owner: Buffer;
  /** OPT-level RDLENGTH lie. */
  rdlen?: number;
}

export interface Msg {
  id: number;
  /** Header bytes 2 and 3 (QR, opcode, AA, TC, RD / RA, Z, AD, CD, rcode). */
  b2: number;
  b3: number;
  qd: Question[];
  an: RR[];
  ns: RR[];
  ar: RR[];
  opt: Opt | null;
  /** Where the OPT goes among the additional records (default: last). */
  optAt?: number;
  /** QD/AN/NS/AR counts to write instead of the real ones. */
  counts?: Array<number | undefined>;
}

/** Offsets inside an encoded message that byte-level mutations aim at. */
export interface Marks {
  questionEnd: number;
  /** Offset of each record's RDLENGTH field (OPT included). */
  rdlen: number[];
  /** Offset of the OPT's RDLENGTH, or -1. */
  optRdlen: number;
  /** Offsets of each EDNS option's OPTION-LENGTH. */
  optionLen: number[];
  /** Start of each record. */
  records: number[];
}

export function nameWire(text: string): Buffer {
  const t = text.replace(/\.$/, '');
  if (t === '') return Buffer.from([0]);
  const parts = t.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  return Buffer.concat([...parts, Buffer.from([0])]);
}

/** A 2-byte compression pointer. */
export function pointer(target: number): Buffer {
  return Buffer.from([0xc0 | ((target >> 8) & 0x3f), target & 0xff]);
}

export function ecsData(family: number, source: number, scope: number, addr: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16BE(family & 0xffff, 0);
  head[2] = source & 0xff;
  head[3] = scope & 0xff;
  return Buffer.concat([head, addr]);
}

/** A valid ECS option for an address text (IPv4 dotted or IPv6 with `::`). */
export function ecsFor(address: string, source: number): EdnsOption {
  const v6 = address.includes(':');
  let bytes: Buffer;
  if (v6) {
    const [h, t] = address.split('::');
    const hp = h ? h.split(':') : [];
    const tp = t !== undefined && t !== '' ? t.split(':') : [];
    const groups = [...hp, ...new Array<string>(8 - hp.length - tp.length).fill('0'), ...tp];
    bytes = Buffer.alloc(16);
    groups.forEach((g, i) => bytes.writeUInt16BE(parseInt(g, 16), i * 2));
  } else {
    bytes = Buffer.from(address.split('.').map(Number));
  }
  const n = (source + 7) >> 3;
  const addr = Buffer.from(bytes.subarray(0, n));
  if (n > 0 && source & 7) addr[n - 1] &= 0xff << (8 - (source & 7));
  return { code: 8, data: ecsData(v6 ? 2 : 1, source, 0, addr) };
}

function writeRR(parts: Buffer[], rr: RR): { rdlenAt: number; size: number } {
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(rr.type & 0xffff, 0);
  fixed.writeUInt16BE(rr.klass & 0xffff, 2);
  fixed.writeUInt32BE(rr.ttl >>> 0, 4);
  fixed.writeUInt16BE((rr.rdlen ?? rr.rdata.length) & 0xffff, 8);
  parts.push(rr.name, fixed, rr.rdata);
  return { rdlenAt: rr.name.length + 8, size: rr.name.length + 10 + rr.rdata.length };
}

function optRecord(o: Opt, optionLen: number[], base: number): RR {
  const parts: Buffer[] = [];
  let off = 0;
  for (const opt of o.options) {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(opt.code & 0xffff, 0);
    h.writeUInt16BE((opt.len ?? opt.data.length) & 0xffff, 2);
    optionLen.push(base + off + 2);
    parts.push(h, opt.data);
    off += 4 + opt.data.length;
  }
  const ttl = (((o.extRcode & 0xff) << 24) | ((o.version & 0xff) << 16) | (o.flags & 0xffff)) >>> 0;
  return { name: o.owner, type: 41, klass: o.udpSize & 0xffff, ttl, rdata: Buffer.concat(parts), rdlen: o.rdlen };
}

export function encode(m: Msg): { buf: Buffer; marks: Marks } {
  const marks: Marks = { questionEnd: 12, rdlen: [], optRdlen: -1, optionLen: [], records: [] };
  const ar = [...m.ar];
  const optIndex = m.opt ? Math.min(m.optAt ?? ar.length, ar.length) : -1;
  const parts: Buffer[] = [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(m.id & 0xffff, 0);
  header[2] = m.b2 & 0xff;
  header[3] = m.b3 & 0xff;
  const real = [m.qd.length, m.an.length, m.ns.length, ar.length + (m.opt ? 1 : 0)];
  real.forEach((n, i) => header.writeUInt16BE((m.counts?.[i] ?? n) & 0xffff, 4 + 2 * i));
  parts.push(header);
  let off = 12;
  for (const q of m.qd) {
    const t = Buffer.alloc(4);
    t.writeUInt16BE(q.type & 0xffff, 0);
    t.writeUInt16BE(q.klass & 0xffff, 2);
    parts.push(q.name, t);
    off += q.name.length + 4;
  }
  marks.questionEnd = off;
  const add = (rr: RR, isOpt: boolean): void => {
    marks.records.push(off);
    const { rdlenAt, size } = writeRR(parts, rr);
    marks.rdlen.push(off + rdlenAt);
    if (isOpt) marks.optRdlen = off + rdlenAt;
    off += size;
  };
  for (const rr of [...m.an, ...m.ns]) add(rr, false);
  for (let i = 0; i <= ar.length; i++) {
    if (i === optIndex && m.opt) add(optRecord(m.opt, marks.optionLen, off + m.opt.owner.length + 10), true);
    if (i < ar.length) add(ar[i], false);
  }
  return { buf: Buffer.concat(parts), marks };
}

// ---------------------------------------------------------------------------
// Real queries to start from

function opt(options: EdnsOption[] = [], extra: Partial<Opt> = {}): Opt {
  return { udpSize: 1232, extRcode: 0, version: 0, flags: 0, options, owner: Buffer.from([0]), ...extra };
}

function query(name: string, type = 1, o: Opt | null = null, klass = 1, rd = true): Msg {
  return { id: 0, b2: rd ? 0x01 : 0, b3: 0, qd: [{ name: nameWire(name), type, klass }], an: [], ns: [], ar: [], opt: o };
}

/** Queries a real resolver could send us, covering every answer path of the sample map. */
export const BASES: ReadonlyArray<() => Msg> = [
  () => query('www.example.com', 1, opt([ecsFor('183.6.0.0', 24)])),
  () => query('www.example.com', 28),
  () => query('www.example.com', 1, opt([ecsFor('2001:db8:ab00::', 40), { code: 3, data: Buffer.alloc(0) }, { code: 10, data: Buffer.alloc(8, 9) }])),
  () => query('WwW.ExAmPlE.CoM', 28, opt([ecsFor('1.2.3.0', 24)], { flags: 0x8000 })),
  () => query('www.example.com', 1, opt([ecsFor('0.0.0.0', 0)])),
  () => query('www.example.com', 1, opt([ecsFor('223.5.5.5', 32)])),
  () => query('www.example.com', 1, opt([ecsFor('2400:3200::', 56)])),
  () => query('mail.example.com', 1, opt([], { flags: 0x8000 })),
  () => query('Mail.Example.com', 15),
  () => query('example.com', 15, opt([], { udpSize: 512 })),
  () => query('_sip._udp.example.com', 33, opt([], { udpSize: 512 })),
  () => query('api.example.com', 1),
  () => query('api.example.com', 5, opt()),
  () => query('example.com', 6),
  () => query('example.com', 2, opt([{ code: 3, data: Buffer.alloc(0) }])),
  () => query('example.com', 16),
  () => query('example.com', 257),
  () => query('example.com', 255, opt()),
  () => query('nothere.example.com', 1, opt([ecsFor('8.8.8.0', 24)])),
  () => query('a.b.c.deep.example.com', 28),
  () => query('www.example.org', 1),
  () => query('', 2),
  () => query('version.bind', 16, null, 3),
  () => query('id.server', 16, opt([{ code: 3, data: Buffer.alloc(0) }]), 3),
  () => query('hostname.bind', 1, null, 3),
  () => query('_explain.www.example.com', 16, opt([ecsFor('183.6.0.0', 24)])),
  () => query('example.com', 252),
  () => {
    // IXFR carries the client's SOA in the authority section: exercises AN/NS skipping.
    const m = query('example.com', 251);
    m.ns.push({ name: pointer(12), type: 6, klass: 1, ttl: 3600, rdata: Buffer.concat([pointer(12), pointer(12), Buffer.alloc(20, 1)]) });
    return m;
  },
];

// ---------------------------------------------------------------------------
// Structure-aware mutations of the model

const INTERESTING16 = [0, 1, 2, 3, 11, 12, 41, 127, 128, 255, 256, 511, 512, 513, 1232, 1233, 4096, 0x7fff, 0x8000, 0xfffe, 0xffff];
const QTYPES = [0, 1, 2, 5, 6, 12, 15, 16, 28, 33, 41, 43, 46, 48, 64, 65, 99, 251, 252, 253, 254, 255, 256, 257, 0xff00, 0xffff];
const QCLASSES = [0, 1, 2, 3, 4, 254, 255, 0xffff];
const ECS_SOURCES = [0, 1, 7, 8, 9, 15, 16, 23, 24, 25, 31, 32, 33, 40, 48, 56, 57, 63, 64, 96, 120, 127, 128, 129, 200, 255];

type MsgMutator = (m: Msg, r: Rng) => void;

function randomLabel(r: Rng, len: number): Buffer {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_';
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = r.chance(0.9) ? alphabet.charCodeAt(r.int(alphabet.length)) : r.int(256);
  return b;
}

function labelsWire(labels: Buffer[], terminate = true): Buffer {
  return Buffer.concat([...labels.flatMap((l) => [Buffer.from([l.length & 0xff]), l]), terminate ? Buffer.from([0]) : Buffer.alloc(0)]);
}

/** Label lengths, label types, long names, odd bytes in the question name. */
const mutateQname: MsgMutator = (m, r) => {
  const q = m.qd[0];
  if (!q) return;
  switch (r.int(10)) {
    case 0: {
      // Many labels of random lengths (empty ones included: an early terminator).
      const n = r.range(1, 130);
      q.name = labelsWire(Array.from({ length: n }, () => randomLabel(r, r.chance(0.05) ? 0 : r.range(1, r.chance(0.2) ? 63 : 8))));
      break;
    }
    case 1: {
      // A name of exactly 255 wire bytes (legal), 256 or 257 (too long), under the zone.
      const target = r.pick([253, 254, 255, 256, 257]);
      const suffix = nameWire('example.com');
      const labels: Buffer[] = [];
      let size = suffix.length;
      while (size < target) {
        const len = Math.min(63, target - size - 1);
        if (len < 1) break;
        labels.push(randomLabel(r, len));
        size += len + 1;
      }
      q.name = Buffer.concat([labelsWire(labels, false), suffix]);
      break;
    }
    case 2: {
      // A label length byte that lies (longer or shorter than the bytes behind it).
      const name = Buffer.from(q.name);
      if (name.length > 1) name[0] = r.pick([name[0] + 1, name[0] - 1, name.length, name.length + 5, 63, 64, 127, 191, 255]) & 0xff;
      q.name = name;
      break;
    }
    case 3: {
      // Reserved (0x40, 0x80) and pointer (0xc0) label types in the question.
      const kind = r.pick([0x40, 0x80, 0xc0]);
      const at = r.int(q.name.length);
      const name = Buffer.from(q.name);
      name[at] = kind | r.int(64);
      q.name = r.chance(0.5) ? name : Buffer.concat([pointer(r.pick([0, 12, 13, r.int(0x4000)])), q.name]);
      break;
    }
    case 4:
      // The _explain prefix on any name.
      q.name = Buffer.concat([nameWire('_explain').subarray(0, 9), q.name]);
      break;
    case 5: {
      // Label content with dots, NULs, 0xff, upper case.
      const special = [0x2e, 0x00, 0xff, 0x20, 0x5c, 0x41, 0x80];
      const name = Buffer.from(q.name);
      for (let k = r.range(1, 3); k > 0 && name.length > 2; k--) {
        const at = 1 + r.int(name.length - 2);
        if (name[at] !== 0 && name[at] < 64 && r.chance(0.5)) continue; // keep length bytes mostly intact
        name[at] = r.pick(special);
      }
      q.name = name;
      break;
    }
    case 6:
      // The root, or no terminator at all.
      q.name = r.chance(0.5) ? Buffer.from([0]) : q.name.subarray(0, Math.max(0, q.name.length - 1));
      break;
    case 7:
      // Deep names under the zone (wildcard-free NXDOMAIN / empty non-terminals).
      q.name = Buffer.concat([labelsWire(Array.from({ length: r.range(1, 20) }, () => randomLabel(r, r.range(1, 10))), false), nameWire(r.pick(['example.com', 'www.example.com', 'example.org', 'com']))]);
      break;
    case 8: {
      // Random case (0x20 randomisation): must be echoed byte for byte.
      const name = Buffer.from(q.name);
      for (let i = 0; i < name.length; i++) if (((name[i] | 0x20) >= 0x61 && (name[i] | 0x20) <= 0x7a) && r.chance(0.5)) name[i] ^= 0x20;
      q.name = name;
      break;
    }
    default:
      // One long label: 63 (legal), 64 (reserved type), up to 255 bytes of content behind it.
      q.name = Buffer.concat([Buffer.from([r.pick([63, 64, 65, 100, 255])]), Buffer.alloc(r.pick([63, 64, 255]), 0x61), q.name]);
  }
};

const mutateQtype: MsgMutator = (m, r) => {
  const q = m.qd[0];
  if (!q) return;
  if (r.chance(0.6)) q.type = r.chance(0.8) ? r.pick(QTYPES) : r.int(0x10000);
  else q.klass = r.chance(0.8) ? r.pick(QCLASSES) : r.int(0x10000);
};

/** Opcode, QR, flags and the rcode nibble. */
const mutateHeader: MsgMutator = (m, r) => {
  switch (r.int(5)) {
    case 0:
      m.b2 = (m.b2 & 0x87) | (r.pick([1, 2, 3, 4, 5, 6, 15]) << 3); // opcode other than QUERY (NOTIFY = 4, UPDATE = 5)
      break;
    case 1:
      m.b2 |= 0x80; // a response: must be dropped
      break;
    case 2:
      m.b2 ^= r.pick([0x04, 0x02, 0x01]); // AA, TC, RD
      break;
    case 3:
      m.b3 = r.int(256); // RA, Z, AD, CD, rcode
      break;
    default:
      m.b2 = r.int(256) & (r.chance(0.7) ? 0x7f : 0xff);
  }
};

/** Counts that lie: more or fewer records than present. */
const mutateCounts: MsgMutator = (m, r) => {
  const i = r.int(4);
  const real = [m.qd.length, m.an.length, m.ns.length, m.ar.length + (m.opt ? 1 : 0)][i];
  m.counts = m.counts ?? [];
  m.counts[i] = r.pick([0, 1, 2, real + 1, real - 1, real + 2, 0xffff, 0x8000, r.int(0x10000)]) & 0xffff;
};

/** No question, two questions, or a copy of it. */
const mutateQuestions: MsgMutator = (m, r) => {
  if (r.chance(0.3)) m.qd = [];
  else if (m.qd[0]) m.qd.push({ ...m.qd[0], name: r.chance(0.5) ? pointer(12) : nameWire('mail.example.com') });
};

/** Compression pointers in record owner names (the parser follows those). */
const mutateCompression: MsgMutator = (m, r) => {
  const qEnd = 12 + m.qd.reduce((s, q) => s + q.name.length + 4, 0);
  const section = r.pick([m.an, m.ns, m.ar]);
  const variant = r.int(9);
  if (variant === 0) {
    // A chain of pointers, each to the previous record's name: 63..66 jumps (the parser allows 64).
    const len = r.pick([10, 63, 64, 65, 66]);
    m.an = [];
    m.ns = [];
    m.ar = [];
    let prev = 12;
    for (let i = 0; i < len; i++) {
      const at = qEnd + i * 12;
      m.an.push({ name: pointer(prev), type: 1, klass: 1, ttl: 0, rdata: Buffer.alloc(0) });
      prev = at;
    }
    return;
  }
  // Where the new record will start (the OPT is assumed last, as it is unless moved).
  const size = (rrs: RR[]): number => rrs.reduce((s, rr) => s + rr.name.length + 10 + rr.rdata.length, 0);
  const at = qEnd + size(m.an) + (section === m.an ? 0 : size(m.ns)) + (section === m.ar ? size(m.ar) : 0);
  let name: Buffer;
  switch (variant) {
    case 1:
      name = pointer(at); // to itself
      break;
    case 2:
      name = pointer(at + 2 + r.int(40)); // forward
      break;
    case 3:
      name = Buffer.concat([Buffer.from([1, 0x61]), pointer(at)]); // label, then back to it: a loop
      break;
    case 4:
      name = Buffer.concat([pointer(at + 2), pointer(at)]); // two pointers at each other
      break;
    case 5:
      name = pointer(r.int(12)); // into the header
      break;
    case 6:
      name = pointer(13 + r.int(Math.max(1, qEnd - 13))); // into the middle of the question
      break;
    case 7:
      // Labels adding up past 255 bytes before a pointer to the question name.
      name = Buffer.concat([labelsWire([Buffer.alloc(63, 0x62), Buffer.alloc(63, 0x63), Buffer.alloc(63, 0x64), Buffer.alloc(r.pick([40, 63]), 0x65)], false), pointer(12)]);
      break;
    default:
      name = Buffer.from([r.pick([0x40, 0x80, 0xc0 | 0x3f]), r.int(256), 0]); // reserved types, or a pointer far past the end
  }
  section.push({ name, type: r.pick([1, 28, 41, 6, 0xffff]), klass: 1, ttl: r.u32(), rdata: r.bytes(r.int(16)) });
};

/** Records in the answer/authority/additional sections, with lying RDLENGTHs and many tiny ones. */
const mutateRecords: MsgMutator = (m, r) => {
  const section = r.pick([m.an, m.ns, m.ar]);
  if (r.chance(0.2)) {
    // Hundreds of small records: parsing stays linear.
    const n = r.range(50, 300);
    for (let i = 0; i < n; i++) section.push({ name: pointer(12), type: 1, klass: 1, ttl: 0, rdata: Buffer.alloc(r.chance(0.9) ? 0 : 4) });
    return;
  }
  const n = r.range(1, 4);
  for (let i = 0; i < n; i++) {
    const rr: RR = {
      name: r.pick([Buffer.from([0]), pointer(12), nameWire('x.example.com'), labelsWire([randomLabel(r, r.range(1, 20))])]),
      type: r.chance(0.7) ? r.pick(QTYPES) : r.int(0x10000),
      klass: r.pick(QCLASSES),
      ttl: r.u32(),
      rdata: r.bytes(r.chance(0.1) ? r.range(200, 600) : r.int(40)),
    };
    if (r.chance(0.3)) rr.rdlen = r.pick([0, rr.rdata.length + 1, rr.rdata.length - 1, 0xffff, r.int(0x10000)]) & 0xffff;
    section.push(rr);
  }
};

/** The OPT record's own fields: size, version, extended rcode, flags, owner, position, a second OPT. */
const mutateOpt: MsgMutator = (m, r) => {
  if (!m.opt) {
    m.opt = opt();
    if (r.chance(0.5)) return;
  }
  const o = m.opt;
  switch (r.int(9)) {
    case 0:
      o.udpSize = r.pick(INTERESTING16);
      break;
    case 1:
      o.version = r.pick([1, 2, 255]); // BADVERS
      break;
    case 2:
      o.extRcode = r.pick([1, 15, 255]);
      break;
    case 3:
      o.flags = r.chance(0.5) ? 0x8000 : r.int(0x10000);
      break;
    case 4:
      // Not the root: a pointer to the root byte ending the question name, a real name, a bad label type.
      o.owner = r.pick([pointer(12 + (m.qd[0]?.name.length ?? 1) - 1), nameWire('example.com'), pointer(12), Buffer.from([0x40, 0])]);
      break;
    case 5:
      m.optAt = 0;
      m.ar.push({ name: pointer(12), type: 1, klass: 1, ttl: 60, rdata: Buffer.from([192, 0, 2, 1]) });
      break;
    case 6: {
      // A second OPT, in the additional section or (ignored) in the answer section.
      const second: RR = { name: Buffer.from([0]), type: 41, klass: 1232, ttl: 0, rdata: Buffer.alloc(0) };
      (r.chance(0.7) ? m.ar : m.an).push(second);
      break;
    }
    case 7:
      o.rdlen = r.pick([0, 1, 3, 4, 0xffff, r.int(0x10000)]);
      break;
    default:
      m.opt = null;
      m.counts = [undefined, undefined, undefined, 1];
  }
};

/** EDNS options: NSID, cookies, padding, unknown codes, lengths that lie, hundreds of options. */
const mutateOptions: MsgMutator = (m, r) => {
  m.opt = m.opt ?? opt();
  const opts = m.opt.options;
  switch (r.int(8)) {
    case 0:
      opts.push({ code: 3, data: r.chance(0.7) ? Buffer.alloc(0) : r.bytes(r.range(1, 40)) }); // NSID
      break;
    case 1:
      opts.push({ code: 10, data: r.bytes(r.pick([0, 7, 8, 16, 24, 40, 41])) }); // COOKIE, odd sizes included
      break;
    case 2:
      opts.push({ code: 12, data: Buffer.alloc(r.range(0, 468)) }); // PADDING
      break;
    case 3:
      opts.push({ code: r.pick([0, 1, 4, 5, 9, 11, 13, 14, 15, 65001, 0xffff, r.int(0x10000)]), data: r.bytes(r.int(30)) });
      break;
    case 4: {
      // Hundreds of empty options.
      const n = r.range(50, 400);
      for (let i = 0; i < n; i++) opts.push({ code: r.pick([3, 9, 12, 65001]), data: Buffer.alloc(0) });
      break;
    }
    case 5:
      if (opts.length) {
        const o = opts[r.int(opts.length)];
        o.len = r.pick([0, 1, 3, o.data.length + 1, o.data.length - 1, 0xffff, r.int(0x10000)]) & 0xffff;
      } else opts.push({ code: 8, data: Buffer.alloc(0), len: r.range(1, 20) });
      break;
    case 6:
      // A truncated option header at the end of the OPT data.
      opts.push({ code: 3, data: Buffer.alloc(0), len: 0 });
      m.opt.rdlen = opts.reduce((s, o) => s + 4 + o.data.length, 0) - r.range(1, 3);
      break;
    default:
      if (opts.length > 1) opts.reverse();
      else opts.push({ code: 3, data: Buffer.alloc(0) });
  }
};

/** ECS: family, source and scope prefixes, address lengths, stray bits, two ECS options. */
const mutateEcs: MsgMutator = (m, r) => {
  m.opt = m.opt ?? opt();
  const opts = m.opt.options.filter((o) => o.code !== 8);
  const family = r.chance(0.85) ? r.pick([1, 2]) : r.pick([0, 3, 0xffff, r.int(0x10000)]);
  const bits = family === 1 ? 32 : 128;
  let source = r.chance(0.7) ? r.range(0, bits) : r.pick(ECS_SOURCES);
  let scope = 0;
  let addrLen = (source + 7) >> 3;
  let strayBits = false;
  switch (r.int(7)) {
    case 0:
      scope = r.range(1, 255); // scope must be 0 in a query
      break;
    case 1:
      addrLen = r.pick([0, addrLen + 1, Math.max(0, addrLen - 1), 16, 17, r.int(40)]); // wrong address length
      break;
    case 2:
      strayBits = true; // bits set past the source prefix
      break;
    case 3:
      source = r.range(bits + 1, 255); // prefix too long for the family
      addrLen = Math.min(32, (source + 7) >> 3);
      break;
    default:
    // a valid option: a random subnet routed through GeoIP
  }
  const addr = r.bytes(addrLen);
  if (!strayBits && addrLen > 0 && addrLen === (source + 7) >> 3 && source & 7) addr[addrLen - 1] &= 0xff << (8 - (source & 7));
  if (strayBits && addrLen > 0) addr[addrLen - 1] |= 1;
  const ecs: EdnsOption = { code: 8, data: ecsData(family, source, scope, addr) };
  if (r.chance(0.08)) ecs.data = ecs.data.subarray(0, r.int(4)); // shorter than the fixed part
  opts.splice(r.int(opts.length + 1), 0, ecs);
  if (r.chance(0.08)) opts.push({ code: 8, data: Buffer.from(ecs.data) }); // two ECS options
  m.opt.options = opts;
};

/** Weighted: ECS, names and OPT are where the interesting parsing is. */
const MSG_MUTATORS: ReadonlyArray<readonly [MsgMutator, number]> = [
  [mutateEcs, 18],
  [mutateQname, 16],
  [mutateOptions, 12],
  [mutateOpt, 10],
  [mutateCompression, 10],
  [mutateRecords, 8],
  [mutateCounts, 8],
  [mutateQtype, 8],
  [mutateHeader, 6],
  [mutateQuestions, 4],
];
const MSG_WEIGHT = MSG_MUTATORS.reduce((s, [, w]) => s + w, 0);

function pickMsgMutator(r: Rng): MsgMutator {
  let x = r.int(MSG_WEIGHT);
  for (const [f, w] of MSG_MUTATORS) {
    if (x < w) return f;
    x -= w;
  }
  return MSG_MUTATORS[0][0];
}

// ---------------------------------------------------------------------------
// Byte-level mutations of the encoded message

type ByteMutator = (b: Buffer, marks: Marks, r: Rng) => Buffer;

const BYTE_MUTATORS: readonly ByteMutator[] = [
  // Flip 1..4 bytes anywhere.
  (b, _m, r) => {
    const p = Buffer.from(b);
    for (let k = r.range(1, 4); k > 0 && p.length; k--) p[r.int(p.length)] ^= r.range(1, 255);
    return p;
  },
  // Flip one bit.
  (b, _m, r) => {
    const p = Buffer.from(b);
    if (p.length) p[r.int(p.length)] ^= 1 << r.int(8);
    return p;
  },
  // Truncate at a random offset or at a structural boundary +-1.
  (b, m, r) => {
    const cuts = [12, m.questionEnd, ...m.records, ...m.rdlen, ...m.optionLen].filter((x) => x <= b.length);
    const at = r.chance(0.5) && cuts.length ? r.pick(cuts) + r.range(-1, 2) : r.int(b.length + 1);
    return b.subarray(0, Math.max(0, Math.min(b.length, at)));
  },
  // Trailing garbage (or one trailing zero byte).
  (b, _m, r) => Buffer.concat([b, r.chance(0.3) ? Buffer.from([0]) : r.bytes(r.range(1, 64))]),
  // Cut and append garbage.
  (b, _m, r) => Buffer.concat([b.subarray(0, r.int(b.length + 1)), r.bytes(r.int(40))]),
  // Insert random bytes.
  (b, _m, r) => {
    const at = r.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), r.bytes(r.range(1, 8)), b.subarray(at)]);
  },
  // Delete a range.
  (b, _m, r) => {
    const at = r.int(b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + r.range(1, 8)))]);
  },
  // Duplicate a range (repeated records / labels).
  (b, _m, r) => {
    const at = r.int(b.length + 1);
    const len = r.range(1, 32);
    return Buffer.concat([b.subarray(0, at + len), b.subarray(at, at + len), b.subarray(Math.min(b.length, at + len))]);
  },
  // A record's RDLENGTH or an option's length lies.
  (b, m, r) => {
    const at = [...m.rdlen, ...m.optionLen].filter((x) => x + 2 <= b.length);
    if (!at.length) return b;
    const p = Buffer.from(b);
    const off = r.pick(at);
    const real = p.readUInt16BE(off);
    p.writeUInt16BE(r.pick([0, 1, 3, real - 1, real + 1, real + 4, 0xffff, r.int(0x10000)]) & 0xffff, off);
    return p;
  },
  // A count field claims a lot of records.
  (b, _m, r) => {
    const p = Buffer.from(b);
    if (p.length >= 12) p.writeUInt16BE(r.pick([0xffff, r.int(0x10000), 0, 2]), 4 + 2 * r.int(4));
    return p;
  },
];

/** One structure-aware mutation of a real query (sometimes none, so the answer path is hammered too). */
export function structuredPacket(r: Rng): Buffer {
  const m = BASES[r.int(BASES.length)]();
  const rounds = r.chance(0.1) ? 0 : r.chance(0.6) ? 1 : r.range(2, 4);
  for (let i = 0; i < rounds; i++) pickMsgMutator(r)(m, r);
  const { buf, marks } = encode(m);
  let out = buf;
  if (r.chance(0.3)) {
    for (let k = r.chance(0.8) ? 1 : 2; k > 0; k--) out = BYTE_MUTATORS[r.int(BYTE_MUTATORS.length)](out, marks, r);
  }
  return out;
}

/** Random bytes: pure noise, noise behind a plausible header, or behind a real question. */
export function randomPacket(r: Rng): Buffer {
  const x = r.int(100);
  const len = x < 8 ? r.int(12) : x < 90 ? r.range(12, 600) : x < 98 ? r.range(600, 1500) : r.range(1500, 4096);
  const p = r.bytes(len);
  const variant = r.int(10);
  if (variant < 3 && p.length >= 12) {
    p[2] &= r.chance(0.8) ? 0x01 : 0x7f; // QR=0 (and mostly opcode QUERY)
    p.writeUInt16BE(1, 4);
    if (r.chance(0.7)) p.writeUInt32BE(0, 6);
    if (r.chance(0.5)) p.writeUInt16BE(r.int(2), 10);
  } else if (variant < 5) {
    const { buf, marks } = encode(BASES[r.int(BASES.length)]());
    const keep = r.chance(0.5) ? marks.questionEnd : r.range(12, buf.length);
    return Buffer.concat([buf.subarray(0, keep), p.subarray(0, Math.max(0, Math.min(p.length, 600 - keep)))]);
  }
  return p;
}

/** Either kind, for TCP frames. */
export function anyPacket(r: Rng): Buffer {
  return r.chance(0.75) ? structuredPacket(r) : randomPacket(r);
}

export function setId(pkt: Buffer, id: number): Buffer {
  if (pkt.length >= 2) pkt.writeUInt16BE(id & 0xffff, 0);
  return pkt;
}

export function frame(msg: Buffer): Buffer {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(msg.length & 0xffff, 0);
  return Buffer.concat([h, msg]);
}

// ---------------------------------------------------------------------------
// What the server will see on a TCP stream

/** Queries per TCP connection before the server closes it (src/dns/options.ts). */
export const SERVER_TCP_QUERY_CAP = 10_000;

/**
 * Mirrors the server's framing (src/dns/server.ts onConnection): 2-byte length,
 * frames shorter than a header end the connection, the server closes after
 * SERVER_TCP_QUERY_CAP frames. Feeding it the exact bytes written gives the
 * frames the server will answer, however the bytes are split across writes.
 */
export class StreamModel {
  private buf = Buffer.alloc(0);
  served = 0;
  closed = false;

  feed(bytes: Buffer): Buffer[] {
    const frames: Buffer[] = [];
    if (this.closed) return frames;
    let buf = this.buf.length ? Buffer.concat([this.buf, bytes]) : bytes;
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (len < 12) {
        this.closed = true;
        buf = Buffer.alloc(0);
        break;
      }
      if (buf.length < 2 + len) break;
      frames.push(Buffer.from(buf.subarray(2, 2 + len)));
      buf = buf.subarray(2 + len);
      if (++this.served >= SERVER_TCP_QUERY_CAP) {
        this.closed = true;
        buf = Buffer.alloc(0);
        break;
      }
    }
    this.buf = Buffer.from(buf);
    return frames;
  }

  /** Bytes of an incomplete frame held by the server. */
  get pending(): number {
    return this.buf.length;
  }
}

// ---------------------------------------------------------------------------
// The action sequence

export type Action =
  | { kind: 'udp'; cls: 'struct' | 'random'; pkt: Buffer }
  /** Writes on one of the long-lived connections (reopened first when `reconnect`). */
  | { kind: 'tcp'; conn: number; reconnect: boolean; pieces: Buffer[]; frames: Buffer[]; closes: boolean; packets: number }
  /** A connection of its own for stream abuse; `finish` says how the client ends it. */
  | { kind: 'tcp-short'; variant: string; pieces: Buffer[]; frames: Buffer[]; closes: boolean; finish: 'end' | 'destroy'; packets: number }
  /** One trickle write on a slow-loris slot (reopened first when `reopen`). */
  | { kind: 'loris'; slot: number; reopen: boolean; bytes: Buffer; frames: Buffer[]; closes: boolean };

const KIND_TAG = { udp: 1, tcp: 2, 'tcp-short': 3, loris: 4 } as const;

export function packetsOf(a: Action): number {
  return a.kind === 'udp' || a.kind === 'loris' ? 1 : a.packets;
}

export interface GeneratorOptions {
  /** Long-lived TCP connections. */
  tcpConns: number;
  /** Slow-loris connections held at once (at most). */
  lorisSlots: number;
}

interface LorisPlan {
  bytes: Buffer;
  pos: number;
  /** Most bytes per write. */
  step: number;
  model: StreamModel;
}

/**
 * Deterministic action sequence for a seed: which packets go where and how
 * TCP bytes are cut never depends on the network, only on the PRNG.
 */
export class Generator {
  readonly r: Rng;
  private udpId = 0;
  private tcpId = 0;
  private readonly conns: Array<{ model: StreamModel; rotateAt: number } | null>;
  private readonly loris: Array<LorisPlan | null>;
  private readonly hash: Hash = createHash('sha256');

  constructor(
    seed: number,
    readonly options: GeneratorOptions = { tcpConns: 4, lorisSlots: 50 },
  ) {
    this.r = mulberry32(seed);
    this.conns = new Array(options.tcpConns).fill(null);
    this.loris = new Array(options.lorisSlots).fill(null);
  }

  /** SHA-256 over every byte of every action so far. */
  digest(): string {
    return this.hash.copy().digest('hex').slice(0, 16);
  }

  /** The next action, sending at most `budget` (>= 1) packets. */
  next(budget: number): Action {
    const r = this.r;
    const x = r.int(1000);
    let a: Action;
    // Action weights, tuned so that packets split ~60/20/15/5 (bursts carry several).
    if (x < 670) a = this.udp('struct');
    else if (x < 893) a = this.udp('random');
    else if (x < 938) a = this.tcp(budget);
    else if (x < 944) a = this.tcpShort(budget);
    else a = this.lorisWrite();
    this.hash.update(Buffer.from([KIND_TAG[a.kind]]));
    if (a.kind === 'udp') this.hash.update(a.pkt);
    else if (a.kind === 'loris') this.hash.update(Buffer.concat([Buffer.from([a.slot, a.reopen ? 1 : 0]), a.bytes]));
    else for (const p of a.pieces) this.hash.update(p);
    return a;
  }

  private udp(cls: 'struct' | 'random'): Action {
    const pkt = cls === 'struct' ? structuredPacket(this.r) : randomPacket(this.r);
    return { kind: 'udp', cls, pkt: setId(pkt, this.udpId++) };
  }

  private tcpMessage(): Buffer {
    return setId(anyPacket(this.r), this.tcpId++);
  }

  private tcp(budget: number): Action {
    const r = this.r;
    const k = r.int(this.conns.length);
    let c = this.conns[k];
    let reconnect = false;
    if (!c || c.model.closed || c.model.served >= c.rotateAt) {
      c = { model: new StreamModel(), rotateAt: r.range(200, 3000) };
      this.conns[k] = c;
      reconnect = true;
    }
    const y = r.int(10);
    const n = y < 6 ? 1 : Math.min(budget, y < 8 ? r.range(2, 16) : r.range(1, 3));
    const msgs = Array.from({ length: n }, () => frame(this.tcpMessage()));
    const stream = Buffer.concat(msgs);
    // y 6..7: pipelined burst in one write; 8..9: the frames split across 2..5 writes at random cuts.
    const pieces = y >= 8 ? splitAt(stream, r, r.range(2, 5)) : [stream];
    const frames = c.model.feed(stream);
    return { kind: 'tcp', conn: k, reconnect, pieces, frames, closes: c.model.closed, packets: n };
  }

  private tcpShort(budget: number): Action {
    const r = this.r;
    const model = new StreamModel();
    const lead = Math.min(budget - 1, r.int(4));
    const parts: Buffer[] = Array.from({ length: Math.max(0, lead) }, () => frame(this.tcpMessage()));
    let finish: 'end' | 'destroy' = 'end';
    const variants = ['short-prefix', 'partial-frame', 'prefix-lies', 'huge-prefix', 'byte-by-byte', 'burst', 'half-close'] as const;
    const variant = r.pick(variants);
    let extra = 1;
    const msg = this.tcpMessage();
    switch (variant) {
      case 'short-prefix': {
        // A length below a header (0..11): the server must close the connection.
        const len = r.int(12);
        parts.push(Buffer.concat([Buffer.from([0, len]), r.bytes(r.int(len + 4))]));
        break;
      }
      case 'partial-frame': {
        // Part of a frame (maybe only one byte of the prefix), then FIN.
        const f = frame(msg);
        parts.push(f.subarray(0, r.range(1, f.length - 1)));
        break;
      }
      case 'prefix-lies': {
        // A prefix shorter or longer than the message, then whatever follows is read as the next frame.
        const lie = Math.max(0, Math.min(0xffff, msg.length + r.pick([-1, 1, -5, 5, r.range(-30, 30)])));
        const h = Buffer.alloc(2);
        h.writeUInt16BE(lie, 0);
        parts.push(h, msg);
        if (budget - lead >= 2 && r.chance(0.5)) {
          parts.push(frame(this.tcpMessage()));
          extra = 2;
        }
        break;
      }
      case 'huge-prefix':
        // 0xffff promised, a few bytes sent, then the client gives up.
        parts.push(Buffer.from([0xff, 0xff]), r.bytes(r.int(64)));
        finish = 'destroy';
        break;
      case 'byte-by-byte':
        parts.push(frame(msg));
        break;
      case 'burst': {
        // Many pipelined frames in one write.
        const n = Math.max(1, Math.min(budget - lead - 1, r.range(10, 60)));
        parts.push(frame(msg));
        for (let i = 1; i < n; i++) parts.push(frame(this.tcpMessage()));
        extra = n;
        break;
      }
      default:
        // Frames, then FIN right away (the replies must still come).
        parts.push(frame(msg));
    }
    const stream = Buffer.concat(parts);
    const pieces = variant === 'byte-by-byte' ? splitEvery(stream, 1) : variant === 'burst' ? [stream] : splitAt(stream, r, r.range(1, 4));
    const frames = model.feed(stream);
    return { kind: 'tcp-short', variant, pieces, frames, closes: model.closed, finish, packets: Math.max(1, lead + extra) };
  }

  private lorisWrite(): Action {
    const r = this.r;
    const slot = r.int(this.loris.length);
    let plan = this.loris[slot];
    let reopen = false;
    if (!plan || plan.pos >= plan.bytes.length || plan.model.closed) {
      // A new slow client: a frame that never completes (0xffff promised) and that we give
      // up on; one so long (a byte a write) that the server's idle timeout ends it first;
      // a good query trickled; a good query then a short prefix (the server closes).
      const v = r.int(8);
      let bytes: Buffer;
      let step = 3;
      if (v < 3) bytes = Buffer.concat([Buffer.from([0xff, 0xff]), r.bytes(r.range(20, 400))]);
      else if (v === 3) {
        bytes = Buffer.concat([Buffer.from([0xff, 0xff]), r.bytes(r.range(300, 700))]);
        step = 1;
      } else if (v < 6) bytes = frame(setId(encode(BASES[r.int(BASES.length)]()).buf, this.tcpId++));
      else bytes = Buffer.concat([frame(setId(encode(BASES[0]()).buf, this.tcpId++)), Buffer.from([0, r.int(12)])]);
      plan = { bytes, pos: 0, step, model: new StreamModel() };
      this.loris[slot] = plan;
      reopen = true;
    }
    const n = Math.min(r.range(1, plan.step), plan.bytes.length - plan.pos);
    const bytes = plan.bytes.subarray(plan.pos, plan.pos + n);
    plan.pos += n;
    const frames = plan.model.feed(bytes);
    return { kind: 'loris', slot, reopen, bytes, frames, closes: plan.model.closed };
  }
}

function splitAt(b: Buffer, r: Rng, pieces: number): Buffer[] {
  if (pieces <= 1 || b.length < 2) return [b];
  const cuts = Array.from({ length: pieces - 1 }, () => 1 + r.int(b.length - 1)).sort((x, y) => x - y);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of [...cuts, b.length]) {
    if (c > prev) out.push(b.subarray(prev, c));
    prev = c;
  }
  return out;
}

function splitEvery(b: Buffer, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i += n) out.push(b.subarray(i, i + n));
  return out;
}

// ---------------------------------------------------------------------------
// Reply checks

export interface Expectation {
  result: ParseResult;
  hasQuestion: boolean;
  questionEnd: number;
  edns: boolean;
  udpSize: number;
}

const scratch = new Query();
const VERDICT = ['OK', 'DROP', 'FORMERR', 'NOTIMP', 'BADVERS'];

/** What the parser (the same code the server runs) makes of a packet. */
export function expectation(pkt: Buffer): Expectation {
  const result = parseQuery(pkt, scratch);
  return { result, hasQuestion: scratch.hasQuestion, questionEnd: scratch.questionEnd, edns: scratch.edns, udpSize: scratch.udpSize };
}

export function answerable(pkt: Buffer): boolean {
  return parseQuery(pkt, scratch) !== ParseResult.DROP;
}

/** Rcodes a reply may carry (16 = BADVERS, extended). SERVFAIL would mean an internal error. */
export const ALLOWED_RCODES: ReadonlySet<number> = new Set([0, 1, 3, 4, 5, 16]);

/** Skips a name in a reply (backwards pointers only); returns the offset after it or a reason. */
function replyName(b: Buffer, start: number): number | string {
  let off = start;
  let end = -1;
  for (let jumps = 0; ; ) {
    if (off >= b.length) return 'name runs past the reply';
    const len = b[off];
    if (len === 0) return end >= 0 ? end : off + 1;
    if ((len & 0xc0) === 0xc0) {
      if (off + 1 >= b.length) return 'pointer cut';
      const target = ((len & 0x3f) << 8) | b[off + 1];
      if (target >= off) return 'forward pointer in a reply';
      if (++jumps > 127) return 'pointer loop in a reply';
      if (end < 0) end = off + 2;
      off = target;
      continue;
    }
    if (len & 0xc0) return 'bad label type in a reply';
    off += 1 + len;
  }
}

/**
 * Checks that `reply` is a well-formed response to `query`: QR set; id, opcode
 * and RD echoed; the question echoed byte for byte when the query's was
 * readable (and absent otherwise); counts matching the records; at most one
 * OPT, with the root as owner, present exactly when the query had EDNS; an
 * allowed rcode consistent with what the parser makes of the query; no TC
 * over TCP; within the UDP size limit. Returns null when fine, else why not.
 */
export function checkReply(query: Buffer, reply: Buffer, tcp: boolean): string | null {
  return inspectReply(query, reply, tcp).error;
}

/** `checkReply`, plus the reply's full rcode (-1 when the reply is too broken to tell). */
export function inspectReply(query: Buffer, reply: Buffer, tcp: boolean): { error: string | null; rcode: number } {
  const out = { error: null as string | null, rcode: -1 };
  try {
    out.error = replyProblem(query, reply, tcp, out);
  } catch (err) {
    out.error = `reply unreadable (${(err as Error).message})`; // a read past the end: the reply lies about its lengths
  }
  return out;
}

function replyProblem(query: Buffer, reply: Buffer, tcp: boolean, out: { rcode: number }): string | null {
  const e = expectation(query);
  if (e.result === ParseResult.DROP) return 'answered a packet that must be dropped';
  if (reply.length < 12) return 'reply shorter than a header';
  if ((reply[2] & 0x80) === 0) return 'QR not set in reply';
  if (reply.readUInt16BE(0) !== query.readUInt16BE(0)) return 'id not echoed';
  if (((reply[2] >> 3) & 0x0f) !== ((query[2] >> 3) & 0x0f)) return 'opcode not echoed';
  // RD and CD are QUERY flags (RFC 6895 2): echoed for opcode 0, cleared in replies to any other opcode.
  if (((query[2] >> 3) & 0x0f) === 0) {
    if ((reply[2] & 0x01) !== (query[2] & 0x01)) return 'RD not echoed';
  } else if ((reply[2] & 0x01) !== 0 || (reply[3] & 0x10) !== 0) return 'RD or CD set in a reply to an opcode other than QUERY';
  if (tcp && reply[2] & 0x02) return 'TC set over TCP';
  const qd = reply.readUInt16BE(4);
  let off = 12;
  if (e.hasQuestion) {
    if (qd !== 1) return `QDCOUNT ${qd} in reply to a query with a readable question`;
    if (reply.length < e.questionEnd || !reply.subarray(12, e.questionEnd).equals(query.subarray(12, e.questionEnd))) return 'question not echoed verbatim';
    off = e.questionEnd;
  } else if (qd !== 0) return `QDCOUNT ${qd} in reply to a query without a readable question`;
  const records = reply.readUInt16BE(6) + reply.readUInt16BE(8) + reply.readUInt16BE(10);
  let ext = 0;
  let opts = 0;
  for (let i = 0; i < records; i++) {
    const nameStart = off;
    const after = replyName(reply, off);
    if (typeof after === 'string') return after;
    off = after;
    if (off + 10 > reply.length) return 'record header past the end of the reply';
    const type = reply.readUInt16BE(off);
    const rdlen = reply.readUInt16BE(off + 8);
    if (type === 41) {
      opts++;
      if (off !== nameStart + 1) return 'OPT owner is not the root';
      ext = reply[off + 4];
      let o = off + 10;
      const end = o + rdlen;
      if (end > reply.length) return 'OPT data past the end of the reply';
      while (o + 4 <= end) {
        const code = reply.readUInt16BE(o);
        const len = reply.readUInt16BE(o + 2);
        if (o + 4 + len > end) return 'EDNS option past the end of the OPT in reply';
        if (code === 8) {
          if (len < 4) return 'short ECS option in reply';
          const family = reply.readUInt16BE(o + 4);
          const bits = family === 1 ? 32 : family === 2 ? 128 : -1;
          if (bits < 0) return `ECS family ${family} in reply`;
          if (reply[o + 6] > bits || reply[o + 7] > bits) return 'ECS prefix out of range in reply';
        }
        o += 4 + len;
      }
      if (o !== end) return 'EDNS options do not fill the OPT in reply';
    }
    off += 10 + rdlen;
    if (off > reply.length) return 'record data past the end of the reply';
  }
  if (off !== reply.length) return 'reply has bytes past its last record';
  if (opts > 1) return 'more than one OPT in reply';
  if ((opts === 1) !== e.edns) return opts ? 'OPT in reply to a query without EDNS' : 'no OPT in reply to an EDNS query';
  const rcode = (ext << 4) | (reply[3] & 0x0f);
  out.rcode = rcode;
  if (!ALLOWED_RCODES.has(rcode)) return `rcode ${rcode} not allowed`;
  const want =
    e.result === ParseResult.FORMERR ? [1] : e.result === ParseResult.NOTIMP ? [4] : e.result === ParseResult.BADVERS ? [16] : [0, 3, 5];
  if (!want.includes(rcode)) return `rcode ${rcode} where the parser says ${VERDICT[e.result]} (${want.join('/')})`;
  if (!tcp) {
    const limit = e.edns ? Math.min(Math.max(e.udpSize, 512), 1232) : 512;
    if (reply.length > limit) return `UDP reply of ${reply.length} bytes over the ${limit}-byte limit`;
  }
  return null;
}
