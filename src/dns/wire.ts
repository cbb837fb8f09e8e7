/**
 * Query parsing. Strict and bounds-checked: every read is checked against the
 * datagram length, compression pointers may only point backwards, and every
 * record the counts promise must be there. The result goes into a reused
 * `Query` object so the common path allocates only the lower-cased qname.
 *
 * We parse queries ourselves instead of with dns2's decoder because an
 * authoritative server must say FORMERR precisely (dns2 accepts invalid ECS,
 * mis-reads odd-length IPv6 ECS and throws on many malformed inputs).
 */

export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  /** Extended rcode 16 (RFC 6891): carried as 1 in the OPT TTL's upper byte. */
  BADVERS: 16,
} as const;

export const QTYPE_OPT = 41;
export const QTYPE_AXFR = 252;
export const QTYPE_IXFR = 251;
export const QTYPE_ANY = 255;
export const CLASS_IN = 1;
export const CLASS_CH = 3;
export const OPTION_NSID = 3;
export const OPTION_ECS = 8;
export const OPTION_COOKIE = 10;

/** What the caller must do with a datagram after `parseQuery`. */
export const enum ParseResult {
  /** A well-formed query: answer it. */
  OK = 0,
  /** Not worth an answer (too short for a header, or a response): drop silently. */
  DROP = 1,
  /** Malformed: answer FORMERR (question echoed when it was readable). */
  FORMERR = 2,
  /** Opcode other than QUERY: answer NOTIMP. */
  NOTIMP = 3,
  /** EDNS version > 0: answer BADVERS. */
  BADVERS = 4,
}

export class ClientSubnet {
  family = 0;
  sourcePrefix = 0;
  scopePrefix = 0;
  /** Address bytes (4 or 16), bits past sourcePrefix zero. */
  address: Uint8Array = new Uint8Array(16);
  /** Offset and length of the ADDRESS field inside the query, echoed verbatim. */
  addrOffset = 0;
  addrLength = 0;
}

export class Query {
  buf: Buffer = Buffer.alloc(0);
  id = 0;
  /** RD (second header byte) and CD (fourth), to copy into the reply; false unless the opcode is QUERY. */
  rd = false;
  cd = false;
  opcode = 0;
  /** Question present and readable (for echoing it in error replies). */
  hasQuestion = false;
  /** Byte offset just past the question (name + type + class). */
  questionEnd = 0;
  /**
   * The name's lookup key: labels joined by '.', A-Z folded, odd bytes as `\DDD`
   * (see readQname); no trailing dot ('' for the root).
   */
  qname = '';
  qtype = 0;
  qclass = 0;
  /** EDNS: present when the query carried an OPT record. */
  edns = false;
  udpSize = 0;
  ednsVersion = 0;
  dnssecOk = false;
  ecs: ClientSubnet | null = null;
  /** The OPT carried an NSID option (RFC 5001): the reply's OPT carries our server id. */
  nsid = false;
  /** COOKIE option (RFC 7873): offset of its data in `buf` and its length (8 = client cookie only, 16..40 with a server cookie); 0 = none. */
  cookieOffset = 0;
  cookieLength = 0;
  /** Set by the server: client + server cookie for the reply's OPT (the reusable `cookieSlot`), or null. */
  cookieReply: Buffer | null = null;
  readonly cookieSlot = Buffer.alloc(24);
  private readonly ecsSlot = new ClientSubnet();
  /** Why FORMERR, for debugging and tests. */
  error = '';
  /** Set by the resolver: ECS scope prefix for the reply (0 = valid for every client). */
  scope = 0;

  reset(buf: Buffer): void {
    this.buf = buf;
    this.hasQuestion = false;
    this.questionEnd = 0;
    this.qname = '';
    this.qtype = 0;
    this.qclass = 0;
    this.edns = false;
    this.udpSize = 0;
    this.ednsVersion = 0;
    this.dnssecOk = false;
    this.ecs = null;
    this.nsid = false;
    this.cookieLength = 0;
    this.cookieReply = null;
    this.error = '';
    this.scope = 0;
  }

  /** Hands out the reusable ECS slot (one per query object). */
  takeEcsSlot(): ClientSubnet {
    return this.ecsSlot;
  }
}

const MAX_NAME_WIRE = 255;

/**
 * Reads the question name at offset 12. Compression is not allowed there
 * (nothing precedes it to point at). Returns the offset after the name, or -1.
 *
 * `q.qname` is the name's lookup key: its labels joined by '.', so every '.'
 * in the key is a label boundary and nothing else. Bytes a key could confuse
 * are escaped as RFC 1035 `\DDD`: '.' (a dot inside a label, `www\.example`
 * must never match `www.example`), '\\' (so an escape cannot be forged),
 * controls, space and everything past 0x7E. The result is pure ASCII, so the
 * final toLowerCase folds A-Z and nothing else (RFC 4343: case-insensitive
 * for ASCII letters only; latin1 0xC0 must not become 0xE0). Map names only
 * hold [a-z0-9_*-] (config/normalizeName), so an escaped key never matches one.
 * The same `\DDD` text is what logs show, like dig prints such names.
 */
function readQname(buf: Buffer, q: Query): number {
  // First the bounds of the name, with its lengths checked; then the key, from the cache when these
  // bytes (letters folded) were seen before.
  let off = 12;
  let total = 1;
  let hash = 0x811c9dc5;
  while (true) {
    if (off >= buf.length) return -1;
    const len = buf[off];
    if (len === 0) break;
    if (len > 63) return -1; // pointer or reserved label type in the question
    total += len + 1;
    if (total > MAX_NAME_WIRE || off + 1 + len > buf.length) return -1;
    off += 1 + len;
  }
  const end = off; // the root label's offset
  // Hashed with 0x20 set on every byte (branch-free; it folds more than letters, which only merges slots).
  for (let i = 12; i < end; i++) hash = Math.imul(hash ^ (buf[i] | 0x20), 0x01000193);
  const slot = (hash >>> 0) & (NAME_CACHE_SLOTS - 1);
  const at = slot * NAME_CACHE_BYTES;
  const wire = end - 12;
  if (cachedLength[slot] === wire) {
    let i = 0;
    while (i < wire && cachedBytes[at + i] === fold(buf[12 + i])) i++;
    if (i === wire) {
      q.qname = cachedName[slot];
      return end + 1;
    }
  }
  let name = '';
  for (off = 12; off < end; ) {
    const len = buf[off];
    const label = readLabel(buf, off + 1, off + 1 + len);
    name = name.length === 0 ? label : name + '.' + label;
    off += 1 + len;
  }
  q.qname = name.toLowerCase();
  for (let i = 0; i < wire; i++) cachedBytes[at + i] = fold(buf[12 + i]);
  cachedLength[slot] = wire;
  cachedName[slot] = q.qname;
  return end + 1;
}

// The question-name cache: resolvers ask for the same few names again and again, so the key string
// (and the hash that Map lookups cache on it) is made once per name, not once per query. Flat
// preallocated arrays: a flood of random names only misses, it allocates nothing here. The key of a
// name's bytes is the key of those bytes with A-Z folded (readLabel escapes no letter), so a
// 0x20-randomized question hits the same entry.
const NAME_CACHE_SLOTS = 1024; // a power of two
const NAME_CACHE_BYTES = MAX_NAME_WIRE;
const cachedBytes = new Uint8Array(NAME_CACHE_SLOTS * NAME_CACHE_BYTES);
const cachedLength = new Int16Array(NAME_CACHE_SLOTS).fill(-1);
const cachedName: string[] = new Array<string>(NAME_CACHE_SLOTS).fill('');

function fold(b: number): number {
  return b >= 0x41 && b <= 0x5a ? b | 0x20 : b;
}

/** Whether byte `b` stands for itself in a name key (see readQname). */
function plainByte(b: number): boolean {
  return b > 0x20 && b < 0x7f && b !== 0x2e && b !== 0x5c;
}

/** One label as key text: the bytes as they are when all are plain, else with `\DDD` escapes. */
function readLabel(buf: Buffer, start: number, end: number): string {
  let i = start;
  while (i < end && plainByte(buf[i])) i++;
  if (i === end) return buf.toString('latin1', start, end);
  let out = buf.toString('latin1', start, i);
  for (; i < end; i++) {
    const b = buf[i];
    out += plainByte(b) ? String.fromCharCode(b) : '\\' + (b < 10 ? '00' : b < 100 ? '0' : '') + b;
  }
  return out;
}

/** Skips a (possibly compressed) name in a non-question record. Returns offset after it or -1. */
function skipName(buf: Buffer, start: number): number {
  let off = start;
  let end = -1;
  let total = 1;
  let jumps = 0;
  while (true) {
    if (off >= buf.length) return -1;
    const len = buf[off];
    if (len === 0) return end >= 0 ? end : off + 1;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (off + 1 >= buf.length) return -1;
      const target = ((len & 0x3f) << 8) | buf[off + 1];
      // Only backwards pointers, and a bounded number of them: no loops.
      if (target >= off || ++jumps > 64) return -1;
      if (end < 0) end = off + 2;
      off = target;
      continue;
    }
    if (kind !== 0) return -1;
    total += len + 1;
    if (total > MAX_NAME_WIRE) return -1;
    off += 1 + len;
  }
}

function fail(q: Query, why: string): ParseResult {
  q.error = why;
  return ParseResult.FORMERR;
}

/**
 * Parses `buf` into `q`. Never throws. The caller acts on the result; for
 * FORMERR/NOTIMP the id, flags and (when `q.hasQuestion`) question are usable.
 */
export function parseQuery(buf: Buffer, q: Query): ParseResult {
  q.reset(buf);
  const n = buf.length;
  if (n < 12) return ParseResult.DROP;
  const b2 = buf[2];
  if (b2 & 0x80) return ParseResult.DROP; // QR=1: a response, never answer it (reflection loops)
  q.id = (buf[0] << 8) | buf[1];
  q.opcode = (b2 >> 3) & 0x0f;
  // RD and CD are defined for QUERY only (RFC 1035 4.1.1, RFC 6895 2): any other opcode's reply
  // (NOTIMP, or FORMERR when it is also malformed) does not copy them. 0x79 = opcode bits + RD.
  q.rd = (b2 & 0x79) === 0x01;
  q.cd = (b2 & 0x78) === 0 && (buf[3] & 0x10) !== 0;
  const qd = (buf[4] << 8) | buf[5];
  const an = (buf[6] << 8) | buf[7];
  const ns = (buf[8] << 8) | buf[9];
  const ar = (buf[10] << 8) | buf[11];

  if (qd !== 1) {
    if (q.opcode !== 0) return ParseResult.NOTIMP;
    return fail(q, `QDCOUNT ${qd}, expected 1`);
  }
  let off = readQname(buf, q);
  if (off < 0 || off + 4 > n) return fail(q, 'malformed question');
  q.qtype = (buf[off] << 8) | buf[off + 1];
  q.qclass = (buf[off + 2] << 8) | buf[off + 3];
  off += 4;
  q.questionEnd = off;
  q.hasQuestion = true;
  if (q.opcode !== 0) return ParseResult.NOTIMP;

  // Answer and authority sections are unusual in queries but legal to skip.
  for (let i = 0; i < an + ns; i++) {
    off = skipName(buf, off);
    if (off < 0 || off + 10 > n) return fail(q, 'truncated record in answer/authority');
    // RFC 6891 6.1.1: an OPT anywhere but the additional section is a FORMERR.
    if (((buf[off] << 8) | buf[off + 1]) === QTYPE_OPT) return fail(q, 'OPT record outside the additional section');
    const rdlen = (buf[off + 8] << 8) | buf[off + 9];
    off += 10 + rdlen;
    if (off > n) return fail(q, 'record data past end of message');
  }
  for (let i = 0; i < ar; i++) {
    const nameStart = off;
    off = skipName(buf, off);
    if (off < 0 || off + 10 > n) return fail(q, 'truncated additional record');
    const type = (buf[off] << 8) | buf[off + 1];
    const rdlen = (buf[off + 8] << 8) | buf[off + 9];
    const rdata = off + 10;
    if (rdata + rdlen > n) return fail(q, 'record data past end of message');
    if (type === QTYPE_OPT) {
      if (q.edns) return fail(q, 'more than one OPT record');
      if (off !== nameStart + 1 || buf[nameStart] !== 0) return fail(q, 'OPT owner is not the root');
      q.edns = true;
      q.udpSize = (buf[off + 2] << 8) | buf[off + 3];
      q.ednsVersion = buf[off + 5];
      q.dnssecOk = (buf[off + 6] & 0x80) !== 0;
      const r = parseOptions(buf, rdata, rdata + rdlen, q);
      if (r !== ParseResult.OK) return r;
    }
    off = rdata + rdlen;
  }
  if (off !== n) return fail(q, `${n - off} trailing byte(s) after the last record`);
  if (q.edns && q.ednsVersion !== 0) return ParseResult.BADVERS;
  return ParseResult.OK;
}

function parseOptions(buf: Buffer, start: number, end: number, q: Query): ParseResult {
  let off = start;
  while (off < end) {
    if (off + 4 > end) return fail(q, 'truncated EDNS option');
    const code = (buf[off] << 8) | buf[off + 1];
    const len = (buf[off + 2] << 8) | buf[off + 3];
    off += 4;
    if (off + len > end) return fail(q, 'EDNS option longer than OPT data');
    if (code === OPTION_ECS) {
      if (q.ecs) return fail(q, 'more than one ECS option');
      const why = parseEcs(buf, off, len, q);
      if (why) return fail(q, why);
    } else if (code === OPTION_COOKIE) {
      // RFC 7873 5.2.2: a client cookie of 8 bytes, plus a server cookie of 8 to 32; other lengths are FORMERR.
      if (len !== 8 && (len < 16 || len > 40)) return fail(q, `COOKIE option of ${len} bytes (8, or 16 to 40)`);
      if (q.cookieLength === 0) {
        q.cookieOffset = off;
        q.cookieLength = len;
      }
    } else if (code === OPTION_NSID) {
      // RFC 5001 2.1: a query's NSID payload is empty; a non-empty one is read as a request all the same.
      q.nsid = true;
    }
    // Unknown options are ignored (RFC 6891 section 6.1.2).
    off += len;
  }
  return ParseResult.OK;
}

/** RFC 7871 section 6/7.1.1 checks; returns a reason on failure, '' when valid. */
function parseEcs(buf: Buffer, off: number, len: number, q: Query): string {
  if (len < 4) return 'ECS option shorter than 4 bytes';
  const family = (buf[off] << 8) | buf[off + 1];
  const source = buf[off + 2];
  const scope = buf[off + 3];
  const bits = family === 1 ? 32 : family === 2 ? 128 : 0;
  if (bits === 0) return `ECS family ${family} not supported`;
  if (source > bits) return `ECS source prefix /${source} too long for family ${family}`;
  if (scope !== 0) return 'ECS scope prefix must be 0 in queries';
  const addrLen = len - 4;
  if (addrLen !== (source + 7) >> 3) return `ECS address has ${addrLen} bytes, /${source} needs ${(source + 7) >> 3}`;
  const a = off + 4;
  if (addrLen > 0 && source & 7) {
    const mask = 0xff >> (source & 7);
    if (buf[a + addrLen - 1] & mask) return 'ECS address has bits set past the source prefix';
  }
  const ecs = q.takeEcsSlot();
  ecs.family = family;
  ecs.sourcePrefix = source;
  ecs.scopePrefix = 0;
  ecs.addrOffset = a;
  ecs.addrLength = addrLen;
  const size = bits >> 3;
  if (ecs.address.length !== size) ecs.address = new Uint8Array(size);
  ecs.address.fill(0);
  for (let i = 0; i < addrLen; i++) ecs.address[i] = buf[a + i];
  q.ecs = ecs;
  return '';
}
