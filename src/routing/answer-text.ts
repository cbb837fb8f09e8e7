import { formatIp } from '../common/ip';
import { TYPE_CODE, type RecordType } from '../config/records';

/**
 * Reads back a reply the dns part built (header + question + records) as the
 * text an operator compares with dig: rcode, AA, and each record as
 * `OWNER TTL TYPE RDATA`. Off the query path: explain uses it to report the
 * bytes the server would send, rather than a second guess at them.
 */

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];
const QTYPE_OPT = 41;
const TYPE_NAME = new Map<number, string>([...Object.entries(TYPE_CODE).map(([n, c]) => [c, n] as [number, string]), [255, 'ANY'], [43, 'DS']]);

/** Type name -> code for `--type`: the record types we hold, ANY, DS, and RFC 3597 `TYPEnnn`. */
export function qtypeCode(text: string): number | null {
  const t = text.toUpperCase();
  const m = /^TYPE(\d{1,5})$/.exec(t);
  if (m) return Number(m[1]) <= 0xffff ? Number(m[1]) : null;
  for (const [code, name] of TYPE_NAME) if (name === t) return code;
  return null;
}

export function qtypeName(code: number): string {
  return TYPE_NAME.get(code) ?? `TYPE${code}`;
}

export interface AnswerText {
  rcode: string;
  aa: boolean;
  /** Answer section records, `owner ttl TYPE rdata`. */
  answer: string[];
  authority: string[];
  additional: string[];
}

/** Reads a (possibly compressed) name at `off`; returns it and the offset after it in the record. */
function readName(buf: Buffer, start: number): [string, number] {
  const labels: string[] = [];
  let off = start;
  let end = -1;
  for (let hops = 0; hops < 128; hops++) {
    const len = buf[off];
    if (len === 0) {
      return [labels.join('.'), end < 0 ? off + 1 : end];
    }
    if ((len & 0xc0) === 0xc0) {
      if (end < 0) end = off + 2;
      off = ((len & 0x3f) << 8) | buf[off + 1];
      continue;
    }
    labels.push(buf.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  throw new Error('name compression loop');
}

function rdataText(buf: Buffer, type: number, off: number, len: number): string {
  const name = (at: number): string => readName(buf, at)[0];
  switch (qtypeName(type) as RecordType | string) {
    case 'A':
    case 'AAAA':
      return formatIp(new Uint8Array(buf.subarray(off, off + len)));
    case 'CNAME':
    case 'NS':
    case 'PTR':
      return name(off);
    case 'MX':
      return `${buf.readUInt16BE(off)} ${name(off + 2)}`;
    case 'SRV':
      return `${buf.readUInt16BE(off)} ${buf.readUInt16BE(off + 2)} ${buf.readUInt16BE(off + 4)} ${name(off + 6)}`;
    case 'SOA': {
      const [mname, o1] = readName(buf, off);
      const [rname, o2] = readName(buf, o1);
      const nums = [0, 4, 8, 12, 16].map((d) => buf.readUInt32BE(o2 + d));
      return `${mname} ${rname} ${nums.join(' ')}`;
    }
    case 'TXT': {
      const parts: string[] = [];
      for (let o = off; o < off + len; o += 1 + buf[o]) parts.push(JSON.stringify(buf.toString('latin1', o + 1, o + 1 + buf[o])));
      return parts.join(' ');
    }
    case 'CAA': {
      const tagLen = buf[off + 1];
      const tag = buf.toString('latin1', off + 2, off + 2 + tagLen);
      return `${buf[off]} ${tag} ${JSON.stringify(buf.toString('latin1', off + 2 + tagLen, off + len))}`;
    }
    default:
      return `\\# ${len} ${buf.toString('hex', off, off + len)}`;
  }
}

/** Decodes a reply built by the dns part (one question). Throws on bytes it cannot read. */
export function answerText(buf: Buffer): AnswerText {
  const rcode = buf[3] & 0x0f;
  const out: AnswerText = {
    rcode: RCODE_NAMES[rcode] ?? `RCODE${rcode}`,
    aa: (buf[2] & 0x04) !== 0,
    answer: [],
    authority: [],
    additional: [],
  };
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let off = 12;
  for (let i = buf.readUInt16BE(4); i > 0; i--) off = readName(buf, off)[1] + 4;
  const sections = [out.answer, out.authority, out.additional];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      const [owner, o] = readName(buf, off);
      const type = buf.readUInt16BE(o);
      const ttl = buf.readUInt32BE(o + 4);
      const len = buf.readUInt16BE(o + 8);
      // Our own OPT is EDNS plumbing, not an answer.
      if (type !== QTYPE_OPT) sections[s].push(`${owner} ${ttl} ${qtypeName(type)} ${rdataText(buf, type, o + 10, len)}`);
      off = o + 10 + len;
    }
  }
  return out;
}
