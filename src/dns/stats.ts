/**
 * Plain counters bumped on the query path (a property increment, no label
 * lookup); the observability part reads them at scrape time.
 */
export class DnsStats {
  udpQueries = 0;
  tcpQueries = 0;
  /** Datagrams dropped without an answer: responses (QR=1), source port 0, shorter than a header. */
  dropped = 0;
  truncated = 0;
  tcpConnections = 0;
  tcpRejected = 0;
  internalErrors = 0;
  readonly rcodes = new Float64Array(24);
}
