import { labelCount, nameWire, nsecRdata, TYPE_NSEC, TYPE_NXNAME, TYPE_RRSIG, type ZoneSigner } from '../dnssec';
import { canonicalRdata, typeCode, type Sections, type WireRR } from './encode';

/**
 * The signed counterpart of an answer's sections: an RRSIG after every
 * RRset of the answer section and of an authoritative authority section
 * (the SOA of a negative answer), the denial NSEC records with theirs. A
 * referral's delegation NS and every additional record (glue) stay unsigned
 * (RFC 4035 2.2, 3.1.4). Runs where the tables are built, never per query,
 * except `compactNxdomain`, the one record that depends on the query name.
 */

/** Zone apex -> its signer: the zones with `dnssec:`. */
export type Signers = ReadonlyMap<string, ZoneSigner>;

export class AnswerSigner {
  constructor(private readonly signers: Signers) {}

  get size(): number {
    return this.signers.size;
  }

  /** The signer of the zone `name` is in (the longest signed apex it lies under), or null. */
  signerFor(name: string): ZoneSigner | null {
    let best: ZoneSigner | null = null;
    for (const [apex, s] of this.signers) {
      if ((apex === '' || name === apex || name.endsWith('.' + apex)) && (!best || apex.length > best.zone.length)) best = s;
    }
    return best;
  }

  /** RRSIG records for one RRset (records of one owner and type), or none when its zone is unsigned. */
  rrsigs(rrset: readonly WireRR[]): WireRR[] {
    const first = rrset[0];
    const signer = this.signerFor(first.name);
    if (!signer) return [];
    const type = typeCode(first.rdata);
    const sigs = signer.sign(nameWire(first.name), labelCount(first.name), type, first.ttl, rrset.map((rr) => canonicalRdata(rr.rdata)));
    return sigs.map((data) => ({ name: first.name, ttl: first.ttl, rdata: { type: 'RAW', code: TYPE_RRSIG, data } }));
  }

  /** The records with each RRset followed by its RRSIGs (an RRset: consecutive records of one owner and type). */
  withSignatures(rrs: readonly WireRR[]): WireRR[] {
    const out: WireRR[] = [];
    for (let i = 0; i < rrs.length; ) {
      let j = i + 1;
      while (j < rrs.length && rrs[j].name === rrs[i].name && typeCode(rrs[j].rdata) === typeCode(rrs[i].rdata)) j++;
      const set = rrs.slice(i, j);
      out.push(...set, ...this.rrsigs(set));
      i = j;
    }
    return out;
  }

  /**
   * Signed sections of an answer for a name in `zone`, with `denial` (NSEC records) added to the
   * authority section; null when `zone` is not signed (DO=1 then gets the unsigned bytes).
   */
  sections(zone: string, s: Sections<WireRR>, denial: readonly WireRR[] = []): Sections<WireRR> | null {
    if (!this.signers.has(zone)) return null;
    // A referral (not authoritative) carries the delegation NS unsigned, then the signed proof that there is no DS.
    const authority = s.aa ? this.withSignatures(s.authority) : [...s.authority];
    return { ...s, answer: this.withSignatures(s.answer), authority: [...authority, ...this.withSignatures(denial)] };
  }
}

/** The NSEC of a name that exists (RFC 9824 NODATA): next name \000.NAME, the types it has, RRSIG and NSEC. */
export function nodataNsec(name: string, types: Iterable<number>, ttl: number): WireRR {
  const next = Buffer.concat([Buffer.from([1, 0]), nameWire(name)]);
  return { name, ttl, rdata: { type: 'RAW', code: TYPE_NSEC, data: nsecRdata(next, [...types, TYPE_RRSIG, TYPE_NSEC]) } };
}

/** The bitmap RFC 9824 gives a name that does not exist: RRSIG, NSEC and the NXNAME meta-type. */
export const NXNAME_TYPES = [TYPE_RRSIG, TYPE_NSEC, TYPE_NXNAME];
