import { createHash, sign } from 'node:crypto';
import { nameWire } from './wire-name';
import { FLAGS_KSK, KeyError, keyState, type ZoneKey } from './keys';

/**
 * RRSIG and NSEC RDATA (RFC 4034). RRsets come in as canonical wire parts
 * (owner name, type, TTL, each record's canonical RDATA: names lower case and
 * uncompressed); the caller encodes them, this file only orders, hashes and signs.
 */

export const TYPE_RRSIG = 46;
export const TYPE_NSEC = 47;
export const TYPE_DNSKEY = 48;
/** RFC 7344: the DS and DNSKEY the child asks its parent to hold. */
export const TYPE_CDS = 59;
export const TYPE_CDNSKEY = 60;
/** RFC 9824 meta-type in a compact answer's NSEC bitmap: "this name does not exist". */
export const TYPE_NXNAME = 128;

/** Signature validity, in seconds since the epoch (RRSIG inception and expiration). */
export interface Validity {
  readonly inception: number;
  readonly expiration: number;
}

/** Default validity: 14 days; inception an hour back, for resolvers whose clock is behind. */
export const VALIDITY_SECONDS = 14 * 86400;
export const BACKDATE_SECONDS = 3600;

export function validityAt(nowMs: number, seconds = VALIDITY_SECONDS, backdate = BACKDATE_SECONDS): Validity {
  const now = Math.floor(nowMs / 1000);
  return { inception: now - backdate, expiration: now + seconds };
}

/**
 * When to re-sign: halfway through what is left of the validity, minus up to an hour of jitter,
 * so resolvers never see a signature near its end and a fleet does not re-sign at once.
 * At most 24 days (setTimeout's limit).
 */
export function resignDelayMs(v: Validity, nowMs: number, random: () => number = Math.random): number {
  const left = v.expiration * 1000 - nowMs;
  const jitter = random() * Math.min(3_600_000, left / 10);
  return Math.max(1000, Math.min(0x7fffffff, left / 2 - jitter));
}

/** Until a key's next timing event (seconds since the epoch; a second after it), or Infinity for none. */
export function keyEventDelayMs(next: number | null, nowMs: number): number {
  return next === null ? Infinity : Math.max(1000, Math.min(0x7fffffff, next * 1000 - nowMs + 1000));
}

/** RFC 4034 6.3: the records of an RRset sorted by their canonical RDATA as octet strings. */
function canonicalOrder(rdatas: readonly Buffer[]): Buffer[] {
  return [...rdatas].sort(Buffer.compare);
}

function rrsigHeader(key: ZoneKey, type: number, labels: number, ttl: number, v: Validity): Buffer {
  const signer = nameWire(key.zone);
  const h = Buffer.alloc(18 + signer.length);
  h.writeUInt16BE(type, 0);
  h[2] = key.algorithm;
  h[3] = labels;
  h.writeUInt32BE(ttl >>> 0, 4);
  h.writeUInt32BE(v.expiration >>> 0, 8);
  h.writeUInt32BE(v.inception >>> 0, 12);
  h.writeUInt16BE(key.tag, 16);
  signer.copy(h, 18);
  return h;
}

/** The bytes an RRSIG signs (RFC 4034 3.1.8.1): its own RDATA without the signature, then each RR in canonical form. */
export function signedData(header: Buffer, owner: Buffer, type: number, ttl: number, rdatas: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [header];
  const fixed = Buffer.alloc(10);
  fixed.writeUInt16BE(type, 0);
  fixed.writeUInt16BE(1, 2); // class IN
  fixed.writeUInt32BE(ttl >>> 0, 4);
  for (const r of canonicalOrder(rdatas)) {
    const f = Buffer.from(fixed);
    f.writeUInt16BE(r.length, 8);
    parts.push(owner, f, r);
  }
  return Buffer.concat(parts);
}

/** One RRSIG RDATA over the RRset, by `key`. ECDSA signatures are r | s (IEEE P1363), as RFC 6605 wants, not DER. */
export function rrsig(key: ZoneKey, owner: Buffer, labels: number, type: number, ttl: number, rdatas: readonly Buffer[], v: Validity): Buffer {
  const header = rrsigHeader(key, type, labels, ttl, v);
  const data = signedData(header, owner, type, ttl, rdatas);
  const sig = key.algorithm === 13 ? sign('sha256', data, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }) : sign(null, data, key.privateKey);
  return Buffer.concat([header, sig]);
}

/** NSEC RDATA: next owner name (uncompressed) and the type bitmap (RFC 4034 4.1.2). */
export function nsecRdata(next: Buffer, types: readonly number[]): Buffer {
  const sorted = [...new Set(types)].sort((a, b) => a - b);
  const windows: Buffer[] = [];
  for (let i = 0; i < sorted.length; ) {
    const win = sorted[i] >> 8;
    const bits = Buffer.alloc(32);
    let len = 0;
    for (; i < sorted.length && sorted[i] >> 8 === win; i++) {
      const low = sorted[i] & 0xff;
      bits[low >> 3] |= 0x80 >> (low & 7);
      len = (low >> 3) + 1;
    }
    windows.push(Buffer.from([win, len]), bits.subarray(0, len));
  }
  return Buffer.concat([next, ...windows]);
}

/** Counts what a signer did, for the metrics (read at scrape time). */
export interface SigningStats {
  signatures: number;
  seconds: number;
}

/**
 * One zone's keys and validity window. Signatures are kept by what they
 * sign, so an RRset that many answers hold (the SOA of every negative
 * answer, the apex NS) is signed once per build.
 */
export class ZoneSigner {
  readonly zone: string;
  /** Active keys that sign the DNSKEY, CDS and CDNSKEY RRsets: the KSKs, or every key when there is no KSK. */
  private readonly keySigning: ZoneKey[];
  /** Active keys that sign everything else: the ZSKs, or the CSKs when there is no ZSK. */
  private readonly zoneSigning: ZoneKey[];
  /** The keys in the DNSKEY RRset at `at` (published, signing or not): those not yet published or deleted are left out. */
  readonly keys: readonly ZoneKey[];
  /** The moment (ms) the keys' timing metadata was read at. */
  readonly at: number;
  readonly validity: Validity;
  readonly stats: SigningStats;
  private readonly cache = new Map<string, Buffer[]>();

  constructor(zone: string, keys: readonly ZoneKey[], validity: Validity, stats: SigningStats = { signatures: 0, seconds: 0 }, at = Date.now()) {
    this.zone = zone;
    this.at = at;
    const now = Math.floor(at / 1000);
    this.keys = keys.filter((k) => ['published', 'active'].includes(keyState(k.timing, now)));
    const active = keys.filter((k) => keyState(k.timing, now) === 'active');
    if (active.length === 0) throw new KeyError(`no active key for ${zone} (every key is not yet active, inactive or deleted: see its Activate/Inactive/Delete times)`);
    const ksk = active.filter((k) => k.flags === FLAGS_KSK);
    const zsk = active.filter((k) => k.flags !== FLAGS_KSK);
    this.keySigning = ksk.length ? ksk : zsk;
    this.zoneSigning = zsk.length ? zsk : ksk;
    this.validity = validity;
    this.stats = stats;
  }

  /** RRSIG RDATAs for one RRset (one per signing key). */
  sign(owner: Buffer, labels: number, type: number, ttl: number, rdatas: readonly Buffer[], cache = true): Buffer[] {
    let id = '';
    if (cache) {
      const h = createHash('sha256').update(owner);
      const t = Buffer.alloc(6);
      t.writeUInt16BE(type, 0);
      t.writeUInt32BE(ttl >>> 0, 2);
      h.update(t);
      for (const r of canonicalOrder(rdatas)) h.update(Buffer.from([r.length >> 8, r.length & 0xff])).update(r);
      id = h.digest('base64');
      const hit = this.cache.get(id);
      if (hit) return hit;
    }
    const started = process.hrtime.bigint();
    const keys = type === TYPE_DNSKEY || type === TYPE_CDS || type === TYPE_CDNSKEY ? this.keySigning : this.zoneSigning;
    const sigs = keys.map((k) => rrsig(k, owner, labels, type, ttl, rdatas, this.validity));
    this.stats.signatures += sigs.length;
    this.stats.seconds += Number(process.hrtime.bigint() - started) / 1e9;
    if (cache) this.cache.set(id, sigs);
    return sigs;
  }

  /** The published key-signing keys (flags 257): the CDS and CDNSKEY RRsets point the parent at them. */
  get sepKeys(): ZoneKey[] {
    return this.keys.filter((k) => k.flags === FLAGS_KSK);
  }
}
