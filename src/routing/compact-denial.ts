import { nsecRdata, TYPE_NSEC, TYPE_RRSIG, ZoneSigner, type SigningStats } from '../dnssec';
import type { PreparedAnswer, Query } from '../dns';
import type { SigningReport } from './build';
import { NXNAME_TYPES } from './sign-answers';

/**
 * Compact denial of existence (RFC 9824) for names that do not exist: the
 * answer is NOERROR with the zone's signed SOA and one NSEC at the query
 * name, next name \000.QNAME, types RRSIG NSEC NXNAME. That NSEC names the
 * query, so unlike every other answer it cannot be prebuilt: it is signed
 * here, on the answering thread, synchronously (CPU only: one ECDSA P-256
 * or Ed25519 signature, see bench/dnssec.bench.ts), as PowerDNS and Knot do.
 * Answers are kept in a bounded LRU by query name (the proof does not depend
 * on the type), so a resolver's retries and a popular typo cost one signature.
 * RRL already limits NXDOMAIN floods per client prefix.
 */

/** Compact NXDOMAIN answers kept; at ~250 bytes each, about 2.5 MB. */
export const DENIAL_CACHE_MAX = 10_000;

export interface DenialStats extends SigningStats {
  /** Answers served from the cache. */
  hits: number;
  /** Answers signed for this query (cache misses). */
  misses: number;
}

export class CompactDenial {
  private readonly signers = new Map<string, ZoneSigner>();
  private readonly cache = new Map<string, PreparedAnswer>();
  readonly stats: DenialStats = { signatures: 0, seconds: 0, hits: 0, misses: 0 };

  constructor(
    signing: SigningReport,
    /** Zone apex -> negative TTL (NSEC TTL = the SOA's negative TTL, RFC 9077). */
    private readonly negativeTtl: ReadonlyMap<string, number>,
  ) {
    for (const z of signing.zones) this.signers.set(z.zone, new ZoneSigner(z.zone, z.keys, signing.validity, this.stats, signing.at));
  }

  /**
   * The answer for a name of `zone` that does not exist: `nx` as it is for DO=0, whose `signed` is
   * the zone's signed SOA for this question length, completed with the NSEC of this query name.
   */
  answer(q: Query, zone: string, nx: PreparedAnswer): PreparedAnswer {
    const base = nx.signed;
    const signer = this.signers.get(zone);
    if (!base || !signer) return nx;
    // The question's name, lower-cased (RFC 4034 6.2); the parser allows no pointer in it.
    const owner = Buffer.from(q.buf.subarray(12, q.questionEnd - 4));
    for (let i = 0; i < owner.length; i++) if (owner[i] >= 0x41 && owner[i] <= 0x5a) owner[i] |= 0x20;
    const key = owner.toString('latin1');
    const hit = this.cache.get(key);
    if (hit) {
      // LRU: the newest use goes to the end of the Map's order.
      this.cache.delete(key);
      this.cache.set(key, hit);
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    let labels = 0;
    for (let i = 0; owner[i] !== 0; i += owner[i] + 1) labels++;
    const ttl = this.negativeTtl.get(zone) ?? 0;
    const nsec = nsecRdata(Buffer.concat([Buffer.from([1, 0]), owner]), NXNAME_TYPES);
    const sigs = signer.sign(owner, labels, TYPE_NSEC, ttl, [nsec], false);
    // Owner names point at the question (offset 12), as every prebuilt answer's do.
    const rr = (type: number, data: Buffer): Buffer => {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(0xc00c, 0);
      h.writeUInt16BE(type, 2);
      h.writeUInt16BE(1, 4);
      h.writeUInt32BE(ttl, 6);
      h.writeUInt16BE(data.length, 10);
      return Buffer.concat([h, data]);
    };
    const body = Buffer.concat([base.body, rr(TYPE_NSEC, nsec), ...sigs.map((s) => rr(TYPE_RRSIG, s))]);
    const signed: PreparedAnswer = { rcode: base.rcode, aa: true, an: base.an, ns: base.ns + 1 + sigs.length, ar: base.ar, body, minimal: null, signed: null };
    const made: PreparedAnswer = { ...nx, signed };
    if (this.cache.size >= DENIAL_CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(key, made);
    return made;
  }
}
