import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import type { QueryResolver } from './answer';
import { DEFAULT_DNS_OPTIONS, parseListenAddress, type DnsOptions, type ListenAddress } from './options';
import { buildError, buildResponse, udpLimit } from './respond';
import { DnsStats } from './stats';
import { ParseResult, parseQuery, Query, QTYPE_AXFR, QTYPE_IXFR, RCODE } from './wire';

export interface BoundAddress {
  host: string;
  port: number;
}

type ErrorSink = (err: Error, context: string) => void;

/**
 * The socket layer: UDP and TCP on each listen address, all feeding one
 * synchronous handler. Written on dgram/net directly because dns2's server
 * crashes on source port 0, leaks its concurrency counter and tears down
 * pipelined TCP connections (see shared/libraries.md). No await anywhere
 * between a packet arriving and its reply being handed to the kernel.
 */
export class DnsServer {
  readonly stats = new DnsStats();
  private readonly options: DnsOptions;
  private resolver: QueryResolver;
  private readonly query = new Query();
  private readonly udp: UdpSocket[] = [];
  private readonly tcp: TcpServer[] = [];
  private readonly conns = new Set<Socket>();
  private readonly onError: ErrorSink;

  constructor(resolver: QueryResolver, options: Partial<DnsOptions> = {}, onError: ErrorSink = () => {}) {
    this.resolver = resolver;
    this.options = { ...DEFAULT_DNS_OPTIONS, ...options };
    this.onError = onError;
  }

  /** Swaps the resolver (map reload); the next packet uses the new one. */
  setResolver(resolver: QueryResolver): void {
    this.resolver = resolver;
  }

  /**
   * Answers one DNS message. Returns null when it must be dropped. Public so
   * tests and benchmarks can drive the whole packet path without sockets.
   */
  handle(msg: Buffer, client: string, tcp: boolean): Buffer | null {
    const q = this.query;
    const stats = this.stats;
    const t0 = stats.startTiming(); // 0 unless this query is the sampled one
    const r = parseQuery(msg, q);
    let rcode: number = RCODE.NOERROR;
    let out: Buffer | null = null;
    // NSID (RFC 5001): only looked up when the query asked for it; the resolver
    // is read per query so a reloaded map's server id takes effect at once.
    const nsid = q.nsid ? (this.resolver.nsid ?? null) : null;
    try {
      if (r === ParseResult.OK) {
        if (q.qtype === QTYPE_AXFR || q.qtype === QTYPE_IXFR) {
          rcode = RCODE.REFUSED; // zone transfers are not offered (the map file is the source of truth)
          out = buildError(q, rcode, nsid);
        } else {
          const a = this.resolver.resolve(q, client);
          rcode = a.rcode;
          out = buildResponse(q, a, tcp ? 65535 : udpLimit(q), nsid);
          if (out[2] & 0x02) stats.truncated++;
        }
      } else if (r === ParseResult.DROP) {
        stats.dropped++;
        return null;
      } else {
        rcode = r === ParseResult.FORMERR ? RCODE.FORMERR : r === ParseResult.NOTIMP ? RCODE.NOTIMP : RCODE.BADVERS;
        out = buildError(q, rcode, nsid);
      }
    } catch (err) {
      // A bug, never bad input: answer SERVFAIL rather than go silent, and say so.
      stats.internalErrors++;
      this.onError(err as Error, 'resolver');
      rcode = RCODE.SERVFAIL;
      out = buildError(q, rcode, nsid);
    }
    stats.count(q, client, tcp, rcode, t0); // rcode, requests, ECS, sampled time, query log
    return out;
  }

  async listen(): Promise<BoundAddress[]> {
    const bound: BoundAddress[] = [];
    for (const text of this.options.listen) {
      const addr = parseListenAddress(text);
      if (typeof addr === 'string') throw new Error(addr);
      bound.push(await this.listenOne(addr));
    }
    return bound;
  }

  private async listenOne(addr: ListenAddress): Promise<BoundAddress> {
    // With port 0, UDP picks the port and TCP must get the same one; retry on a clash.
    for (let attempt = 0; ; attempt++) {
      const udp = await this.bindUdp(addr);
      const port = udp.address().port;
      try {
        const tcp = await this.bindTcp(addr.host, port);
        this.udp.push(udp);
        this.tcp.push(tcp);
        return { host: addr.host, port };
      } catch (err) {
        udp.close();
        if (addr.port !== 0 || attempt >= 20 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      }
    }
  }

  private bindUdp(addr: ListenAddress): Promise<UdpSocket> {
    return new Promise((resolve, reject) => {
      const sock = createSocket({
        type: addr.family === 6 ? 'udp6' : 'udp4',
        ipv6Only: addr.family === 6,
        recvBufferSize: this.options.udpRecvBufferBytes,
      });
      sock.once('error', reject);
      sock.on('message', (msg, rinfo) => this.onDatagram(sock, msg, rinfo));
      sock.bind(addr.port, addr.host, () => {
        sock.off('error', reject);
        sock.on('error', (err) => this.onError(err, 'udp socket'));
        resolve(sock);
      });
    });
  }

  private onDatagram(sock: UdpSocket, msg: Buffer, rinfo: RemoteInfo): void {
    // Port 0 cannot be answered (dgram throws); such packets are spoofed anyway.
    if (rinfo.port === 0) {
      this.stats.dropped++;
      return;
    }
    this.stats.udpQueries++;
    const out = this.handle(msg, rinfo.address, false);
    if (out) sock.send(out, rinfo.port, rinfo.address, this.sendDone);
  }

  private readonly sendDone = (err: Error | null): void => {
    if (err) this.onError(err, 'udp send');
  };

  private bindTcp(host: string, port: number): Promise<TcpServer> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (s) => this.onConnection(s));
      server.maxConnections = this.options.tcpMaxConnections;
      server.once('error', reject);
      server.on('drop', () => this.stats.tcpRejected++);
      server.listen({ host, port, ipv6Only: host.includes(':'), backlog: 511 }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.onError(err, 'tcp server'));
        resolve(server);
      });
    });
  }

  /**
   * RFC 7766: several queries per connection, answered in order as each frame
   * completes (pipelining); idle timeout; a bounded number of queries per
   * connection. A frame too short to be a DNS message ends the connection,
   * since the stream can no longer be trusted to be in sync.
   */
  private onConnection(sock: Socket): void {
    this.stats.tcpConnections++;
    this.conns.add(sock);
    const client = sock.remoteAddress ?? '';
    let pending: Buffer | null = null;
    let served = 0;
    // Idle = no complete query for tcpIdleTimeoutMs (not socket inactivity, which a
    // client trickling one byte at a time could keep resetting for ever).
    const idle = setTimeout(() => sock.destroy(), this.options.tcpIdleTimeoutMs);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(idle);
      this.conns.delete(sock);
    });
    sock.on('drain', () => sock.resume());
    sock.on('data', (chunk: Buffer) => {
      let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
      pending = null;
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (len < 12) {
          closeGently(sock);
          return;
        }
        if (buf.length < 2 + len) break;
        // Copy the frame: the reply echoes bytes of it after `buf` may be reused.
        const frame = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.stats.tcpQueries++;
        idle.refresh();
        const out = this.handle(frame, client, true);
        if (out) {
          const framed = Buffer.allocUnsafe(2 + out.length);
          framed.writeUInt16BE(out.length, 0);
          out.copy(framed, 2);
          if (!sock.write(framed)) sock.pause(); // back-pressure: stop reading until the client reads
        }
        if (++served >= this.options.tcpMaxQueriesPerConnection) {
          closeGently(sock);
          return;
        }
      }
      if (buf.length) pending = Buffer.from(buf);
    });
  }

  async close(): Promise<void> {
    for (const s of this.conns) s.destroy();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.close(() => r()))),
      ...this.tcp.map((t) => new Promise<void>((r) => t.close(() => r()))),
    ]);
    this.udp.length = 0;
    this.tcp.length = 0;
  }
}

/**
 * Ends a TCP connection whose stream can no longer be trusted (bad frame) or
 * that reached its query cap: replies already written still go out, and what
 * the client sends meanwhile is read and dropped. Destroying a socket with
 * unread input would make the kernel send RST and discard those replies.
 */
function closeGently(sock: Socket): void {
  sock.removeAllListeners('data');
  sock.on('data', () => {});
  sock.resume();
  sock.end();
  setTimeout(() => sock.destroy(), 1000).unref();
}
