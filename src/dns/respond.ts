import type { PreparedAnswer } from './answer';
import { OPTION_COOKIE, OPTION_ECS, OPTION_NSID, QTYPE_OPT, RCODE, type Query } from './wire';

/**
 * Response assembly: header + the query's question bytes + a prepared body +
 * our OPT record. build*: one allocation per response; write*: the same
 * bytes into a buffer the caller owns (the batched UDP path's send ring).
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

function writeHeader(out: Buffer, at: number, q: Query, rcode: number, aa: boolean, tc: boolean, an: number, ns: number, ar: number): void {
  out[at] = q.id >> 8;
  out[at + 1] = q.id & 0xff;
  out[at + 2] = 0x80 | (q.opcode << 3) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) | (q.rd ? 0x01 : 0);
  out[at + 3] = (q.cd ? 0x10 : 0) | (rcode & 0x0f);
  out[at + 4] = 0;
  out[at + 5] = q.hasQuestion ? 1 : 0;
  out[at + 6] = an >> 8;
  out[at + 7] = an & 0xff;
  out[at + 8] = ns >> 8;
  out[at + 9] = ns & 0xff;
  out[at + 10] = ar >> 8;
  out[at + 11] = ar & 0xff;
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
  const a = variant(q, answer);
  const use = fitting(q, a, limit, nsid);
  if (!use) return buildTruncated(q, a.rcode, a.aa, truncatedNsid(q, limit, nsid));
  const out = Buffer.allocUnsafe(answerLength(q, use, nsid));
  writeAnswer(out, 0, q, use, nsid);
  return out;
}

/**
 * buildResponse's reply written into `out` at `at` instead of a new Buffer
 * (the batched UDP path's send ring); returns its length. The caller has
 * room for `limit` bytes there.
 */
export function writeResponse(out: Buffer, at: number, q: Query, answer: PreparedAnswer, limit: number, nsid: Buffer | null = null): number {
  const a = variant(q, answer);
  const use = fitting(q, a, limit, nsid);
  if (!use) return writeEmpty(out, at, q, a.rcode, a.aa, true, truncatedNsid(q, limit, nsid));
  return writeAnswer(out, at, q, use, nsid);
}

/** DO=1 (RFC 3225) gets the signed counterpart when the zone is signed; without DO, the bytes are the unsigned ones. */
function variant(q: Query, answer: PreparedAnswer): PreparedAnswer {
  return q.dnssecOk && answer.signed !== null ? answer.signed : answer;
}

/** The fullest form of `a` that fits `limit` (without its additional section, ...), or null: none does. */
function fitting(q: Query, a: PreparedAnswer, limit: number, nsid: Buffer | null): PreparedAnswer | null {
  const room = limit - q.questionEnd - optLength(q, true, nsid);
  let use: PreparedAnswer | null = a;
  while (use && use.body.length > room) use = use.minimal;
  return use;
}

/** The TC reply must fit too; a long question plus a long id at 512 bytes may not: then it goes without NSID. */
function truncatedNsid(q: Query, limit: number, nsid: Buffer | null): Buffer | null {
  return nsid && q.questionEnd + optLength(q, true, nsid) > limit ? null : nsid;
}

function answerLength(q: Query, use: PreparedAnswer, nsid: Buffer | null): number {
  return q.questionEnd + use.body.length + optLength(q, true, nsid);
}

function writeAnswer(out: Buffer, at: number, q: Query, use: PreparedAnswer, nsid: Buffer | null): number {
  const qlen = q.questionEnd - 12;
  writeHeader(out, at, q, use.rcode, use.aa, false, use.an, use.ns, use.ar + (q.edns ? 1 : 0));
  copyBytes(q.buf, 12, q.questionEnd, out, at + 12);
  copyBytes(use.body, 0, use.body.length, out, at + 12 + qlen);
  const end = at + 12 + qlen + use.body.length;
  return (q.edns ? writeOpt(out, end, q, use.rcode, true, nsid) : end) - at;
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

/** buildError's reply written into `out` at `at`; returns its length. */
export function writeError(out: Buffer, at: number, q: Query, rcode: number, nsid: Buffer | null = null): number {
  return writeEmpty(out, at, q, rcode, false, false, nsid);
}

/**
 * The same, empty with TC=1: "ask again over TCP". For a reply that does not
 * fit, and for one the rate limiter slips (`aa` as the full answer would have).
 */
export function buildTruncated(q: Query, rcode: number, aa: boolean, nsid: Buffer | null = null): Buffer {
  return emptyReply(q, rcode, aa, true, nsid);
}

/** buildTruncated's reply written into `out` at `at`; returns its length. */
export function writeTruncated(out: Buffer, at: number, q: Query, rcode: number, aa: boolean, nsid: Buffer | null = null): number {
  return writeEmpty(out, at, q, rcode, aa, true, nsid);
}

function emptyReply(q: Query, rcode: number, aa: boolean, tc: boolean, nsid: Buffer | null): Buffer {
  const qlen = q.hasQuestion ? q.questionEnd - 12 : 0;
  const out = Buffer.allocUnsafe(12 + qlen + optLength(q, rcode !== RCODE.FORMERR && rcode !== RCODE.BADVERS, nsid));
  writeEmpty(out, 0, q, rcode, aa, tc, nsid);
  return out;
}

function writeEmpty(out: Buffer, at: number, q: Query, rcode: number, aa: boolean, tc: boolean, nsid: Buffer | null): number {
  const qlen = q.hasQuestion ? q.questionEnd - 12 : 0;
  const withEcs = rcode !== RCODE.FORMERR && rcode !== RCODE.BADVERS;
  writeHeader(out, at, q, rcode, aa, tc, 0, 0, q.edns ? 1 : 0);
  if (qlen) copyBytes(q.buf, 12, q.questionEnd, out, at + 12);
  if (!q.edns) return 12 + qlen;
  if (!withEcs) q.scope = 0;
  return writeOpt(out, at + 12 + qlen, q, rcode, withEcs, nsid) - at;
}
