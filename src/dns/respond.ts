import type { PreparedAnswer } from './answer';
import { OPTION_COOKIE, OPTION_ECS, OPTION_NSID, QTYPE_OPT, RCODE, type Query } from './wire';

/**
 * Response assembly: header + the query's question bytes + a prepared body +
 * our OPT record. One allocation per response.
 */

/** UDP payload we advertise and never exceed (DNS Flag Day 2020 value, RFC 9715). */
export const MAX_UDP_PAYLOAD = 1232;
/** Without EDNS a UDP response is at most 512 bytes (RFC 1035 4.2.1). */
export const CLASSIC_UDP_PAYLOAD = 512;

/**
 * Bytes of our OPT record: 11, plus the ECS option when echoed, plus NSID
 * (RFC 5001) when the query asked for it and the resolver has an id, plus
 * the COOKIE option (RFC 7873) when the query carried one.
 */
function optLength(q: Query, withEcs: boolean, nsid: Buffer | null): number {
  if (!q.edns) return 0;
  return 11 + (withEcs && q.ecs ? 8 + q.ecs.addrLength : 0) + (nsid ? 4 + nsid.length : 0) + (q.cookieReply ? 4 + q.cookieReply.length : 0);
}

/**
 * `src[from, to)` into `dst` at `at`. Replies are made of short pieces (a question, an answer
 * body of a few dozen bytes, an address, a cookie): a loop the JIT compiles beats Buffer#copy's
 * call into C++ for those; long pieces still go through TypedArray#set.
 */
function copyBytes(src: Uint8Array, from: number, to: number, dst: Uint8Array, at: number): void {
  if (to - from > 96) {
    dst.set(src.subarray(from, to), at);
    return;
  }
  for (let i = from; i < to; i++) dst[at++] = src[i];
}

function writeHeader(out: Buffer, q: Query, rcode: number, aa: boolean, tc: boolean, an: number, ns: number, ar: number): void {
  out[0] = q.id >> 8;
  out[1] = q.id & 0xff;
  out[2] = 0x80 | (q.opcode << 3) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) | (q.rd ? 0x01 : 0);
  out[3] = (q.cd ? 0x10 : 0) | (rcode & 0x0f);
  out[4] = 0;
  out[5] = q.hasQuestion ? 1 : 0;
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(ns, 8);
  out.writeUInt16BE(ar, 10);
}

function writeOpt(out: Buffer, off: number, q: Query, rcode: number, withEcs: boolean, nsid: Buffer | null): number {
  out[off] = 0; // root owner
  out.writeUInt16BE(QTYPE_OPT, off + 1);
  out.writeUInt16BE(MAX_UDP_PAYLOAD, off + 3);
  out[off + 5] = rcode >> 4; // extended rcode, upper 8 bits
  out[off + 6] = 0; // version 0
  out[off + 7] = q.dnssecOk ? 0x80 : 0; // DO is echoed (RFC 3225)
  out[off + 8] = 0;
  const ecs = withEcs ? q.ecs : null;
  const cookie = q.cookieReply;
  const rdlen = (ecs ? 8 + ecs.addrLength : 0) + (nsid ? 4 + nsid.length : 0) + (cookie ? 4 + cookie.length : 0);
  out.writeUInt16BE(rdlen, off + 9);
  off += 11;
  if (ecs) {
    out.writeUInt16BE(OPTION_ECS, off);
    out.writeUInt16BE(4 + ecs.addrLength, off + 2);
    out.writeUInt16BE(ecs.family, off + 4);
    out[off + 6] = ecs.sourcePrefix;
    // Source /0 means "do not tailor": the reply must then be valid for all (scope 0).
    out[off + 7] = ecs.sourcePrefix === 0 ? 0 : q.scope;
    copyBytes(q.buf, ecs.addrOffset, ecs.addrOffset + ecs.addrLength, out, off + 8);
    off += 8 + ecs.addrLength;
  }
  if (nsid) {
    out.writeUInt16BE(OPTION_NSID, off);
    out.writeUInt16BE(nsid.length, off + 2);
    copyBytes(nsid, 0, nsid.length, out, off + 4);
    off += 4 + nsid.length;
  }
  if (cookie) {
    out.writeUInt16BE(OPTION_COOKIE, off);
    out.writeUInt16BE(cookie.length, off + 2);
    copyBytes(cookie, 0, cookie.length, out, off + 4);
    off += 4 + cookie.length;
  }
  return off;
}

/** UDP size limit for this query's reply (RFC 6891 6.2.3/6.2.5): at least 512, at most ours. */
export function udpLimit(q: Query): number {
  if (!q.edns) return CLASSIC_UDP_PAYLOAD;
  return Math.min(Math.max(q.udpSize, CLASSIC_UDP_PAYLOAD), MAX_UDP_PAYLOAD);
}

/**
 * Builds the reply to a parsed query. `limit` is the size cap (udpLimit for
 * UDP, 65535 for TCP). A reply that does not fit is retried without its
 * additional section, then sent empty with TC set so the client retries over TCP.
 * `nsid` is the server id for the NSID option, passed only when `q.nsid` asked
 * for it (RFC 5001); null leaves it out. A query with DO=1 gets `a.signed` when there is one.
 */
export function buildResponse(q: Query, answer: PreparedAnswer, limit: number, nsid: Buffer | null = null): Buffer {
  // DO=1 (RFC 3225) gets the signed counterpart when the zone is signed; without DO, the bytes are the unsigned ones.
  const a = q.dnssecOk && answer.signed !== null ? answer.signed : answer;
  const qlen = q.questionEnd - 12;
  const opt = optLength(q, true, nsid);
  let use: PreparedAnswer | null = a;
  while (use && 12 + qlen + use.body.length + opt > limit) use = use.minimal;
  if (!use) {
    // The TC reply must fit too; a long question plus a long id at 512 bytes may not.
    return buildTruncated(q, a.rcode, a.aa, nsid && 12 + qlen + opt > limit ? null : nsid);
  }
  const out = Buffer.allocUnsafe(12 + qlen + use.body.length + opt);
  writeHeader(out, q, use.rcode, use.aa, false, use.an, use.ns, use.ar + (q.edns ? 1 : 0));
  copyBytes(q.buf, 12, q.questionEnd, out, 12);
  copyBytes(use.body, 0, use.body.length, out, 12 + qlen);
  if (q.edns) writeOpt(out, 12 + qlen + use.body.length, q, use.rcode, true, nsid);
  return out;
}

/**
 * An answer with no records: FORMERR, NOTIMP, REFUSED, SERVFAIL or BADVERS.
 * Echoes the question when it was readable, and an OPT when the query had one
 * (without ECS for FORMERR/BADVERS, whose ECS may be what was wrong), with
 * NSID when given (see buildResponse).
 */
export function buildError(q: Query, rcode: number, nsid: Buffer | null = null): Buffer {
  return emptyReply(q, rcode, false, false, nsid);
}

/**
 * The same, empty with TC=1: "ask again over TCP". For a reply that does not
 * fit, and for one the rate limiter slips (`aa` as the full answer would have).
 */
export function buildTruncated(q: Query, rcode: number, aa: boolean, nsid: Buffer | null = null): Buffer {
  return emptyReply(q, rcode, aa, true, nsid);
}

function emptyReply(q: Query, rcode: number, aa: boolean, tc: boolean, nsid: Buffer | null): Buffer {
  const qlen = q.hasQuestion ? q.questionEnd - 12 : 0;
  const withEcs = rcode !== RCODE.FORMERR && rcode !== RCODE.BADVERS;
  const opt = optLength(q, withEcs, nsid);
  const out = Buffer.allocUnsafe(12 + qlen + opt);
  writeHeader(out, q, rcode, aa, tc, 0, 0, q.edns ? 1 : 0);
  if (qlen) copyBytes(q.buf, 12, q.questionEnd, out, 12);
  if (q.edns) {
    if (!withEcs) q.scope = 0;
    writeOpt(out, 12 + qlen, q, rcode, withEcs, nsid);
  }
  return out;
}
