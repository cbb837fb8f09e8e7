/** The dns part's settings (command line today; the map file's `server:` block later). */
export interface DnsOptions {
  /** Listen addresses, `HOST:PORT` or `[V6]:PORT`; each gets UDP and TCP. @default ['127.0.0.1:5300'] */
  listen: string[];
  /** Close a TCP connection after this long without a complete query (RFC 7766 6.2.3). @default 10000 */
  tcpIdleTimeoutMs: number;
  /** TCP connections open at once, over all listeners; more are closed at accept. @default 1000 */
  tcpMaxConnections: number;
  /** TCP connections open at once from one source address; more are closed at accept. @default 32 */
  tcpMaxConnectionsPerSource: number;
  /** Close a TCP connection this long after it opened, busy or not (replies already written still go out). @default 120000 */
  tcpMaxLifetimeMs: number;
  /**
   * Replies written to a TCP connection but not yet taken by the kernel (the
   * client is not reading); at this many, its further queries wait unread.
   * Bounds the memory one connection can make us hold. @default 32
   */
  tcpMaxInFlight: number;
  /** Queries answered per TCP connection before it is closed, bounding one client's hold. @default 10000 */
  tcpMaxQueriesPerConnection: number;
  /**
   * SO_RCVBUF asked for each UDP socket. Linux caps it at net.core.rmem_max
   * (and doubles it); the default 4 MiB asks for the most the kernel allows,
   * which is twice the default buffer on a stock kernel. Raise
   * net.core.rmem_max to absorb longer bursts. @default 4194304
   */
  udpRecvBufferBytes: number;
  /**
   * UDP socket layer: 'batched' (src/dns/native: recvmmsg/sendmmsg, one
   * socket per process, sharing the port with SO_REUSEPORT under --workers) or 'dgram' (Node's; with workers, one
   * socket shared through the cluster primary). 'batched' falls back to dgram
   * when the addon cannot load. @default 'batched'
   */
  udp: 'batched' | 'dgram';
  /**
   * Whether the batched path's UDP socket shares its port (SO_REUSEPORT) with
   * the other workers of this server. Only `serve --workers N` (N > 1) needs
   * it, and only there is it on: a sharing socket also lets any other socket
   * of the same user that asks to share join the port, and dig is one (it
   * binds port 0 with SO_REUSEPORT, so for a port in the kernel's ephemeral
   * range it can be handed ours and then reads its own query back). Alone,
   * the bind is exclusive. @default false
   */
  udpReusePort: boolean;
}

export const DEFAULT_DNS_OPTIONS: DnsOptions = {
  listen: ['127.0.0.1:5300'],
  tcpIdleTimeoutMs: 10_000,
  tcpMaxConnections: 1000,
  tcpMaxConnectionsPerSource: 32,
  tcpMaxLifetimeMs: 120_000,
  tcpMaxInFlight: 32,
  tcpMaxQueriesPerConnection: 10_000,
  udpRecvBufferBytes: 4 * 1024 * 1024,
  udp: 'batched',
  udpReusePort: false,
};

export interface ListenAddress {
  host: string;
  port: number;
  family: 4 | 6;
}

/** Parses `127.0.0.1:53`, `[::1]:53`, `0.0.0.0:5300`, `[::]:53`. */
export function parseListenAddress(text: string): ListenAddress | string {
  const m = /^\[([0-9a-fA-F:.]+)\]:(\d{1,5})$/.exec(text) ?? /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(text);
  if (!m) return `listen address "${text}" must be HOST:PORT or [IPV6]:PORT`;
  const port = Number(m[2]);
  if (port > 65535) return `port ${port} is out of range`;
  return { host: m[1], port, family: m[1].includes(':') ? 6 : 4 };
}
