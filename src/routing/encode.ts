import { Packet } from 'dns2';
import type { PreparedAnswer } from '../dns';
import { TYPE_CODE, type RData } from '../config/records';

/** One resource record to encode: owner, TTL and data. */
export interface RR {
  name: string;
  ttl: number;
  rdata: RData;
}

export interface Sections {
  rcode: number;
  aa: boolean;
  answer: RR[];
  authority: RR[];
  additional: RR[];
}

/** dns2's field names for each record type. */
function toDns2(rr: RR): Packet.Resource {
  return toDns2Fields(rr) as unknown as Packet.Resource;
}

function toDns2Fields(rr: RR): Record<string, unknown> {
  const base = { name: rr.name, ttl: rr.ttl, type: TYPE_CODE[rr.rdata.type], class: 1 };
  const d = rr.rdata;
  switch (d.type) {
    case 'A':
    case 'AAAA':
      return { ...base, address: d.address };
    case 'NS':
      return { ...base, ns: d.target };
    case 'CNAME':
    case 'PTR':
      return { ...base, domain: d.target };
    case 'MX':
      return { ...base, exchange: d.exchange, priority: d.preference };
    case 'TXT':
      return { ...base, data: d.strings };
    case 'SRV':
      return { ...base, priority: d.priority, weight: d.weight, port: d.port, target: d.target };
    case 'CAA':
      return { ...base, flags: d.flags, tag: d.tag, value: d.value };
    case 'SOA':
      return {
        ...base,
        primary: d.mname,
        admin: d.rname,
        serial: d.serial,
        refresh: d.refresh,
        retry: d.retry,
        expiration: d.expire,
        minimum: d.minimum,
      };
  }
}

function encodeOnce(qname: string, qtype: number, s: Sections, withAdditional: boolean): PreparedAnswer {
  const p = new Packet();
  p.questions.push({ name: qname, type: qtype, class: 1 } as Packet.Question);
  for (const rr of s.answer) p.answers.push(toDns2(rr));
  for (const rr of s.authority) p.authorities.push(toDns2(rr));
  if (withAdditional) for (const rr of s.additional) p.additionals.push(toDns2(rr));
  const wire = p.toBuffer();
  // The question is uncompressed at offset 12: name + type + class.
  const qlen = (qname === '' ? 1 : Buffer.byteLength(qname, 'latin1') + 2) + 4;
  return {
    rcode: s.rcode,
    aa: s.aa,
    an: s.answer.length,
    ns: s.authority.length,
    ar: withAdditional ? s.additional.length : 0,
    body: Buffer.from(wire.subarray(12 + qlen)),
    minimal: null,
  };
}

/**
 * Encodes the sections with dns2 (name compression included) at build time.
 * Only the bytes after the question are kept; see PreparedAnswer.
 */
export function encodeAnswer(qname: string, qtype: number, s: Sections): PreparedAnswer {
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
  constructor(private readonly sections: Sections) {}

  forLength(qnameWireLength: number): PreparedAnswer {
    let a = this.byLength.get(qnameWireLength);
    if (!a) {
      a = encodeAnswer(opaqueName(qnameWireLength), 0, this.sections);
      this.byLength.set(qnameWireLength, a);
    }
    return a;
  }
}
