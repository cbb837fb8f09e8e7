import { randomBytes } from 'node:crypto';

/**
 * DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018:
 * Version 1 | Reserved 0 | Timestamp (seconds) | SipHash-2-4(Client Cookie |
 * Version | Reserved | Timestamp | Client IP, Server Secret), 16 bytes.
 *
 * Node has no SipHash, so this file has a small one (64-bit words as two
 * uint32 halves in a preallocated Uint32Array: no BigInt, no allocation per
 * call), checked against RFC 9018 Appendix A in test/dns/cookie.test.ts.
 * Only queries that carry a COOKIE option pay for it.
 */

export const OPTION_COOKIE = 10;
/** Client cookie (8) + our server cookie (16). */
export const COOKIE_REPLY_BYTES = 24;
/** RFC 9018 4.3: a server cookie is valid from 1 hour in the past to 5 minutes in the future. */
const MAX_AGE_S = 3600;
const MAX_SKEW_S = 300;

/** Environment variable that carries the secret from the cluster primary to its workers. */
export const COOKIE_SECRET_ENV = 'GEOSTEER_COOKIE_SECRET';

// v0..v3 as [hi, lo] pairs: V[0],V[1] = v0; V[2],V[3] = v1; V[4],V[5] = v2; V[6],V[7] = v3.
const V = new Uint32Array(8);

function add(a: number, b: number): void {
  const lo = V[a + 1] + V[b + 1];
  V[a] = V[a] + V[b] + (lo > 0xffffffff ? 1 : 0);
  V[a + 1] = lo;
}

function rotl(a: number, n: number): void {
  const hi = V[a];
  const lo = V[a + 1];
  if (n === 32) {
    V[a] = lo;
    V[a + 1] = hi;
    return;
  }
  V[a] = (hi << n) | (lo >>> (32 - n));
  V[a + 1] = (lo << n) | (hi >>> (32 - n));
}

function xor(a: number, b: number): void {
  V[a] ^= V[b];
  V[a + 1] ^= V[b + 1];
}

function sipRound(): void {
  add(0, 2);
  rotl(2, 13);
  xor(2, 0);
  rotl(0, 32);
  add(4, 6);
  rotl(6, 16);
  xor(6, 4);
  add(0, 6);
  rotl(6, 21);
  xor(6, 0);
  add(4, 2);
  rotl(2, 17);
  xor(2, 4);
  rotl(4, 32);
}

function compress(hi: number, lo: number): void {
  V[6] ^= hi;
  V[7] ^= lo;
  sipRound();
  sipRound();
  V[0] ^= hi;
  V[1] ^= lo;
}

/**
 * SipHash-2-4 of data[start, end) with a 16-byte key; the 8-byte result is
 * written little-endian (as the reference implementation does) to out[outOff].
 */
export function siphash24(key: Uint8Array, data: Uint8Array, start: number, end: number, out: Uint8Array, outOff: number): void {
  const le = (b: Uint8Array, o: number): number => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
  const k0l = le(key, 0);
  const k0h = le(key, 4);
  const k1l = le(key, 8);
  const k1h = le(key, 12);
  V[0] = k0h ^ 0x736f6d65;
  V[1] = k0l ^ 0x70736575;
  V[2] = k1h ^ 0x646f7261;
  V[3] = k1l ^ 0x6e646f6d;
  V[4] = k0h ^ 0x6c796765;
  V[5] = k0l ^ 0x6e657261;
  V[6] = k1h ^ 0x74656462;
  V[7] = k1l ^ 0x79746573;
  const len = end - start;
  let i = start;
  for (; i + 8 <= end; i += 8) compress(le(data, i + 4), le(data, i));
  // Last block: the remaining bytes, and the length's low byte in the top byte.
  let lo = 0;
  let hi = (len & 0xff) << 24;
  for (let j = 0; i + j < end; j++) {
    const b = data[i + j];
    if (j < 4) lo |= b << (8 * j);
    else hi |= b << (8 * (j - 4));
  }
  compress(hi >>> 0, lo >>> 0);
  V[5] ^= 0xff;
  sipRound();
  sipRound();
  sipRound();
  sipRound();
  const rh = (V[0] ^ V[2] ^ V[4] ^ V[6]) >>> 0;
  const rl = (V[1] ^ V[3] ^ V[5] ^ V[7]) >>> 0;
  for (let j = 0; j < 4; j++) {
    out[outOff + j] = (rl >>> (8 * j)) & 0xff;
    out[outOff + 4 + j] = (rh >>> (8 * j)) & 0xff;
  }
}

/**
 * The process's cookie secret: from the environment when the cluster primary
 * put one there, else a fresh random one, which is then put in the
 * environment so the workers the primary forks inherit it (a cookie handed
 * out by one worker must be valid at every other, as UDP spreads a client's
 * queries over them). Never logged or written anywhere else.
 */
export function processSecret(): Buffer {
  if (processWide !== null) return processWide;
  const env = process.env[COOKIE_SECRET_ENV];
  if (env !== undefined && /^[0-9a-f]{32}$/.test(env)) processWide = Buffer.from(env, 'hex');
  else {
    processWide = randomBytes(16);
    process.env[COOKIE_SECRET_ENV] = processWide.toString('hex');
  }
  return processWide;
}
let processWide: Buffer | null = null;
// Made when this module loads, which in `serve` is in the cluster primary before it forks (cli/main.ts
// imports the dns part statically), so every worker inherits the same secret through cluster.fork's env.
processSecret();

/** Makes and checks RFC 9018 server cookies with one secret. */
export class ServerCookies {
  private readonly secret: Buffer;
  /** Hash input: client cookie 8 | version 1 | reserved 3 | timestamp 4 | client IP 4 or 16. */
  private readonly input = Buffer.alloc(32);
  private readonly hash = Buffer.alloc(8);

  constructor(secret: Buffer = processSecret()) {
    if (secret.length !== 16) throw new Error('a cookie secret is 16 bytes');
    this.secret = secret;
  }

  /**
   * Writes client cookie (from buf[cookieOff], 8 bytes) + a fresh server
   * cookie for `ip` at time `now` (seconds) into out[0..24).
   */
  make(buf: Buffer, cookieOff: number, ip: Uint8Array, now: number, out: Buffer): void {
    buf.copy(out, 0, cookieOff, cookieOff + 8);
    out[8] = 1;
    out[9] = 0;
    out[10] = 0;
    out[11] = 0;
    out.writeUInt32BE(now >>> 0, 12);
    this.sign(out, 0, ip);
    this.hash.copy(out, 16);
  }

  /**
   * True when the option at buf[cookieOff, cookieOff + len) carries a server
   * cookie we made for `ip`: version 1, 16 bytes, a timestamp from one hour
   * ago to five minutes ahead (serial arithmetic, RFC 1982), and the hash.
   */
  valid(buf: Buffer, cookieOff: number, len: number, ip: Uint8Array, now: number): boolean {
    if (len !== COOKIE_REPLY_BYTES || buf[cookieOff + 8] !== 1) return false;
    const ts = buf.readUInt32BE(cookieOff + 12);
    const age = (now - ts) | 0; // serial arithmetic: wraps in 2106 gracefully
    if (age > MAX_AGE_S || age < -MAX_SKEW_S) return false;
    this.sign(buf, cookieOff, ip);
    return this.hash.equals(buf.subarray(cookieOff + 16, cookieOff + 24));
  }

  /** SipHash of the 16 bytes at src[off] (client cookie .. timestamp, reserved bytes included) + ip into this.hash. */
  private sign(src: Buffer, off: number, ip: Uint8Array): void {
    src.copy(this.input, 0, off, off + 16);
    this.input.set(ip, 16);
    siphash24(this.secret, this.input, 0, 16 + ip.length, this.hash, 0);
  }
}
