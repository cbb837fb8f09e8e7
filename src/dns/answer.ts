import type { RrlConfig } from './rrl';
import type { Query } from './wire';

/**
 * An answer encoded ahead of time (at map load or health change): everything
 * after the question section, with compression pointers that assume the
 * question name starts at offset 12, as it always does. Serving a query is
 * then: header + the query's own question bytes (so case is preserved) + body
 * (+ OPT).
 */
export interface PreparedAnswer {
  rcode: number;
  aa: boolean;
  an: number;
  ns: number;
  ar: number;
  body: Buffer;
  /** The same answer without its additional section, tried before truncating over UDP. */
  minimal: PreparedAnswer | null;
  /** The same answer with its DNSSEC records (RRSIG, NSEC), sent when the query has DO=1; null: unsigned zone. */
  signed: PreparedAnswer | null;
}

/** What the DNS socket layer asks for each well-formed query. Must not block or await. */
export interface QueryResolver {
  /** Returns the answer and sets `q.scope` when the answer depends on the client address. */
  resolve(q: Query, clientAddress: string): PreparedAnswer;
  /**
   * Zone transfer (AXFR, and IXFR answered as a full transfer, RFC 1995 4):
   * the messages of the zone named by `q` when `clientAddress` may transfer it,
   * in order (SOA first and last), or null to refuse. Asked over TCP only.
   */
  transfer?(q: Query, clientAddress: string): readonly PreparedAnswer[] | null;
  /** Response rate limiting for UDP answers (the map's `server.rrl`); absent or null: off. */
  readonly rrl?: RrlConfig | null;
  /** Server id sent in the NSID option (RFC 5001) when a query asks for it; absent or null: none. */
  readonly nsid?: Buffer | null;
}
