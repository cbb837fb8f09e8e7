import type { PreparedAnswer } from '../dns';
import { TYPE_CODE, type RData } from '../config/records';
import { parseIp, writeDottedQuad, writeHexIpv6 } from '../common/ip';

/** Record data made elsewhere (RRSIG, NSEC, DNSKEY): written as is, its names already uncompressed. */
export interface RawRData {
  type: 'RAW';
  code: number;
  data: Buffer;
}

/** One resource record to encode: owner, TTL and data. */
export interface RR {
  name: string;
  ttl: number;
  rdata: RData;
}

/** A record of any kind the writer takes: a static one, or one with raw data (the DNSSEC records). */
export interface WireRR {
  name: string;
  ttl: number;
  rdata: RData | RawRData;
}

export interface Sections<R extends WireRR = RR> {
  rcode: number;
  aa: boolean;
  answer: R[];
  authority: R[];
  additional: R[];
}

/**
 * A DNS message writer with RFC 1035 name compression, byte for byte what
 * dns2's Packet.toBuffer writes for the same records (test/routing/encode.test.ts
 * checks it): every name, rdata names included, is compressed against the
 * lower-cased suffixes written before it, pointers only into the first 16 KiB.
 * dns2's writer keeps one array element per bit and cost 60 us per answer,
 * most of the time a million-record zone took to load; this one is a Buffer.
 */
/** One scratch buffer for every message built: each answer's bytes are copied out, so it is free again after. */
let scratch = Buffer.allocUnsafe(64 * 1024);

/** Remembered suffixes kept in a list up to this many; past it, in a Map. */
const LIST = 16;

class WireWriter {
  buf = scratch;
  len = 0;
  /** DNSSEC canonical form (RFC 4034 6.2): names lower case and never compressed. */
  canonical = false;
  /**
   * Suffixes written so far and their offsets: a list while short (most answers), a Map past LIST (zone
   * transfers). In the list a suffix is the lower-cased name it came from and where it starts in it, so
   * remembering one slices no string. The list's arrays are kept across messages and `count` says how
   * much is used: emptied with `length = 0` they got new backing stores per message, 1.4 GB of garbage
   * in a 1M-record build.
   */
  private readonly names: string[] = new Array<string>(LIST + 1).fill('');
  private readonly starts = new Int32Array(LIST + 1);
  private readonly offsets = new Int32Array(LIST + 1);
  private count = 0;
  private map: Map<string, number> | null = null;

  /** Ready for the next message (the body writers reuse one writer: a writer per answer was garbage per answer). */
  reset(): this {
    this.buf = scratch;
    this.len = 0;
    this.count = 0;
    this.map = null;
    return this;
  }
  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    scratch = next;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v & 0xffff, this.len);
    this.len += 2;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.len);
    this.len += 4;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  name(domain: string): void {
    // Names as the config writes them have no empty labels; anything else is normalised as split/filter would.
    let d = domain;
    if (d.charCodeAt(0) === 46 || d.charCodeAt(d.length - 1) === 46 || d.includes('..')) d = d.split('.').filter((p) => p !== '').join('.');
    for (let start = 0; start < d.length; ) {
      let end = d.indexOf('.', start);
      if (end < 0) end = d.length;
      if (end - start > 63) throw new Error(`Name encode: label "${d.slice(start, end)}" is ${end - start} octets (max 63)`);
      start = end + 1;
    }
    const octets = d.length === 0 ? 1 : d.length + 2;
    if (octets > 255) throw new Error(`Name encode: name "${domain}" encodes to ${octets} octets (max 255)`);
    // Suffixes are compared in place (endsWith + length), so a lookup allocates nothing; only remembered ones are sliced.
    // toLowerCase makes a new string even when nothing changes (320 MB in a 1M-record build): only when needed.
    const lower = mayHaveUpper(d) ? d.toLowerCase() : d;
    const src = this.canonical ? lower : d;
    for (let start = 0; start < d.length; ) {
      if (!this.canonical) {
        const at = this.offsetOf(lower, start);
        if (at >= 0) {
          this.u16(0xc000 | at);
          return;
        }
        if (this.len < 0x4000) this.remember(lower, start, this.len);
      }
      let end = d.indexOf('.', start);
      if (end < 0) end = d.length;
      this.room(end - start + 1);
      const buf = this.buf;
      let at = this.len;
      buf[at++] = end - start;
      for (let k = start; k < end; k++) buf[at++] = src.charCodeAt(k); // latin1: the low byte, as Buffer.write does
      this.len = at;
      start = end + 1;
    }
    this.u8(0);
  }
  /** Offset of the remembered suffix equal to lower[start..], or -1. */
  private offsetOf(lower: string, start: number): number {
    if (this.map) return this.map.get(start === 0 ? lower : lower.slice(start)) ?? -1;
    const want = lower.length - start;
    const names = this.names;
    for (let k = 0; k < this.count; k++) {
      const name = names[k];
      const from = this.starts[k];
      if (name.length - from === want && sameTail(name, from, lower, start)) return this.offsets[k];
    }
    return -1;
  }
  private remember(lower: string, start: number, at: number): void {
    if (this.map) {
      this.map.set(start === 0 ? lower : lower.slice(start), at);
      return;
    }
    const k = this.count++;
    this.names[k] = lower;
    this.starts[k] = start;
    this.offsets[k] = at;
    if (this.count > LIST) {
      const m = new Map<string, number>();
      for (let i = 0; i < this.count; i++) m.set(this.names[i].slice(this.starts[i]), this.offsets[i]);
      this.map = m;
    }
  }
  /** Writes a dotted quad in the form net.isIPv4 accepts (no leading zeros); false (nothing written) for anything else. */
  private ipv4(text: string): boolean {
    this.room(4);
    if (!writeDottedQuad(text, this.buf, this.len)) return false;
    this.len += 4;
    return true;
  }
  /** Writes a hex-groups IPv6 address (parseIp's fast form); false (nothing written) for anything else. */
  private ipv6(text: string): boolean {
    this.room(16);
    if (!writeHexIpv6(text, this.buf, this.len)) return false;
    this.len += 16;
    return true;
  }
  rr(rr: WireRR): void {
    this.name(rr.name);
    const d = rr.rdata;
    this.u16(d.type === 'RAW' ? d.code : TYPE_CODE[d.type]);
    this.u16(1);
    this.u32(Math.min(rr.ttl >>> 0, 0x7fffffff));
    const lenAt = this.len;
    this.u16(0);
    this.rdata(d);
    this.buf.writeUInt16BE(this.len - lenAt - 2, lenAt);
  }
  rdata(d: RData | RawRData): void {
    switch (d.type) {
      case 'RAW':
        this.bytes(d.data);
        break;
      case 'A':
      case 'AAAA': {
        if (d.type === 'A' ? this.ipv4(d.address) : this.ipv6(d.address)) break;
        const ip = parseIp(d.address);
        if (!ip || ip.length !== (d.type === 'A' ? 4 : 16)) throw new Error(`${d.type} encode: invalid address ${JSON.stringify(d.address)}`);
        this.bytes(ip);
        break;
      }
      case 'NS':
      case 'CNAME':
      case 'PTR':
        this.name(d.target);
        break;
      case 'MX':
        this.u16(d.preference);
        this.name(d.exchange);
        break;
      case 'TXT':
        for (const str of d.strings) {
          this.u8(str.length);
          this.bytes(str);
        }
        break;
      case 'SRV':
        this.u16(d.priority);
        this.u16(d.weight);
        this.u16(d.port);
        this.name(d.target);
        break;
      case 'CAA':
        this.u8(d.flags);
        this.u8(d.tag.length);
        this.bytes(Buffer.from(d.tag + d.value, 'utf8'));
        break;
      case 'SOA':
        this.name(d.mname);
        this.name(d.rname);
        this.u32(d.serial);
        this.u32(d.refresh);
        this.u32(d.retry);
        this.u32(d.expire);
        this.u32(d.minimum);
        break;
    }
  }
}

/** Whether toLowerCase could change `s`: an ASCII capital, or anything past ASCII. */
function mayHaveUpper(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 65 && c <= 90) || c > 127) return true;
  }
  return false;
}

/** a[from..] === b[start..], for tails of the same length, without slicing either. From the front: tails that differ mostly differ in their first label. */
function sameTail(a: string, from: number, b: string, start: number): boolean {
  if (from === start && a === b) return true;
  for (let i = from, j = start; i < a.length; i++, j++) if (a.charCodeAt(i) !== b.charCodeAt(j)) return false;
  return true;
}

/** A record's RDATA in DNSSEC canonical form (RFC 4034 6.2), for signing. */
export function canonicalRdata(d: RData | RawRData): Buffer {
  const w = new WireWriter();
  w.buf = Buffer.allocUnsafe(512);
  w.canonical = true;
  w.rdata(d);
  return Buffer.from(w.buf.subarray(0, w.len));
}

/** A record's wire type code. */
export function typeCode(d: RData | RawRData): number {
  return d.type === 'RAW' ? d.code : TYPE_CODE[d.type];
}

/** Writes header space, the question and the sections into the scratch buffer; returns where the body starts. */
function writeMessage(w: WireWriter, qname: string, qtype: number, s: Sections<WireRR>, withAdditional: boolean): number {
  // Header (patched per query from the PreparedAnswer) and the question, so offsets and pointers are right.
  w.room(12);
  w.len = 12;
  w.name(qname);
  w.u16(qtype);
  w.u16(1);
  const bodyAt = w.len;
  for (const rr of s.answer) w.rr(rr);
  for (const rr of s.authority) w.rr(rr);
  if (withAdditional) for (const rr of s.additional) w.rr(rr);
  return bodyAt;
}

function encodeOnce(qname: string, qtype: number, s: Sections<WireRR>, withAdditional: boolean): PreparedAnswer {
  const w = new WireWriter();
  const bodyAt = writeMessage(w, qname, qtype, s, withAdditional);
  return {
    rcode: s.rcode,
    aa: s.aa,
    an: s.answer.length,
    ns: s.authority.length,
    ar: withAdditional ? s.additional.length : 0,
    // A copy: the writer's buffer is larger than the message.
    body: Buffer.from(w.buf.subarray(bodyAt, w.len)),
    minimal: null,
    signed: null,
  };
}

/** Where encodeBody left its bytes: [start, end) of buf. */
export interface BodyBytes {
  buf: Uint8Array;
  start: number;
  end: number;
}

const bodyWriter = new WireWriter();
const body: BodyBytes = { buf: scratch, start: 0, end: 0 };

/**
 * The body encodeAnswer would make (with or without the additional section),
 * in the scratch buffer: valid until the next encode, and the returned object
 * is the same each time. For the table builder, which copies the bytes into
 * the packed tables, so no Buffer or view per answer.
 */
export function encodeBody(qname: string, qtype: number, s: Sections<WireRR>, withAdditional: boolean): BodyBytes {
  const w = bodyWriter.reset();
  body.start = writeMessage(w, qname, qtype, s, withAdditional);
  body.end = w.len;
  body.buf = w.buf;
  return body;
}

/**
 * Encodes the sections (name compression included) at build time.
 * Only the bytes after the question are kept; see PreparedAnswer.
 */
export function encodeAnswer(qname: string, qtype: number, s: Sections<WireRR>): PreparedAnswer {
  const full = encodeOnce(qname, qtype, s, true);
  if (s.additional.length) full.minimal = encodeOnce(qname, qtype, s, false);
  return full;
}

/**
 * A name of exactly `wireLength` bytes on the wire that shares no suffix with
 * any real name ('~' labels), so dns2 emits no pointer into the question.
 */
function opaqueName(wireLength: number): string {
  const labels: string[] = [];
  let rest = wireLength - 1; // root byte
  while (rest > 0) {
    let take = Math.min(rest, 64);
    if (rest - take === 1) take -= 1; // never leave a 1-byte remainder: a label needs 2
    labels.push('~'.repeat(take - 1));
    rest -= take;
  }
  return labels.join('.');
}

/**
 * An answer shared by many query names (NXDOMAIN of a zone, the referral of a
 * delegation). Its body must not point into the question, and its offsets
 * depend on the question's length, so it is encoded once per qname length
 * (at most 255 variants, built on first use and kept).
 */
export class SharedAnswer {
  private readonly byLength = new Map<number, PreparedAnswer>();
  /** `signed`: the same sections with their DNSSEC records (a signed zone's referral), or null. */
  constructor(
    readonly sections: Sections,
    readonly signed: Sections<WireRR> | null = null,
  ) {}

  forLength(qnameWireLength: number): PreparedAnswer {
    let a = this.byLength.get(qnameWireLength);
    if (!a) {
      const name = opaqueName(qnameWireLength);
      a = encodeAnswer(name, 0, this.sections);
      if (this.signed) a.signed = encodeAnswer(name, 0, this.signed);
      this.byLength.set(qnameWireLength, a);
    }
    return a;
  }
}
