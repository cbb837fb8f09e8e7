import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { parseIp, unmapIpv4 } from '../common/ip';
import type { PreparedAnswer, QueryResolver } from './answer';
import { ServerCookies } from './cookie';
import { DEFAULT_DNS_OPTIONS, parseListenAddress, type DnsOptions, type ListenAddress } from './options';
import { buildError, buildResponse, buildTruncated, udpLimit, writeError, writeResponse, writeTruncated } from './respond';
import { RateLimiter, RrlAction, type RrlConfig } from './rrl';
import { DnsStats } from './stats';
import { batchLoadError, BatchSocket, loadBatchAddon, META_FIELDS, SEND_FIELDS, sharedPortHazard } from './udp-batch';
import { ParseResult, parseQuery, Query, QTYPE_AXFR, QTYPE_IXFR, RCODE } from './wire';

export interface BoundAddress {
  host: string;
  port: number;
}

type ErrorSink = (err: Error, context: string) => void;

/** What handle() sends for a message. */
const enum Reply {
  Drop,
  Answer,
  Error,
  Slip,
}

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
  private readonly batched: BatchSocket[] = [];
  /** The UDP path in use, decided by listen(): the option, or dgram when the addon cannot load. */
  udpPath: 'batched' | 'dgram';
  /** Why the batched path was asked for but dgram is in use; null otherwise. */
  udpFallback: string | null = null;
  /** Set when a shared (SO_REUSEPORT) UDP port lies in the kernel's ephemeral range; the serve log says it. */
  udpPortWarning: string | null = null;
  private readonly tcp: TcpServer[] = [];
  private readonly conns = new Set<Socket>();
  /** Open TCP connections per source address. */
  private readonly perSource = new Map<string, number>();
  /** Messages after the first of a zone transfer just answered by handle() (TCP only). */
  private transferRest: Buffer[] | null = null;
  /** The limiter in use; null when the map turns RRL off. */
  private rrl: RateLimiter | null = null;
  /** Kept while RRL is off so its buckets survive turning it back on. */
  private limiter: RateLimiter | null = null;
  /** Coarse clock (ms) for the rate limiter, ticked by a timer instead of read per packet. */
  private clock = performance.now();
  private clockTimer: NodeJS.Timeout | null = null;
  private readonly onError: ErrorSink;
  /** RFC 9018 server cookies with the process tree's secret (cookie.ts). */
  private readonly cookies = new ServerCookies();

  constructor(resolver: QueryResolver, options: Partial<DnsOptions> = {}, onError: ErrorSink = () => {}) {
    this.resolver = resolver;
    this.options = { ...DEFAULT_DNS_OPTIONS, ...options };
    this.onError = onError;
    this.udpPath = this.options.udp;
    this.applyRrl(resolver.rrl ?? null);
  }

  /** Swaps the resolver (map reload); the next packet uses the new one. */
  setResolver(resolver: QueryResolver): void {
    this.resolver = resolver;
    this.applyRrl(resolver.rrl ?? null);
  }

  /**
   * Told about the first rate-limited response in each 10 s (metrics count
   * them all): the log line an operator greps for when a reflection attack starts.
   */
  onRateLimit: ((client: string, qname: string, qtype: number, rcode: number) => void) | null = null;
  private nextLimitLog = 0;

  private reportLimit(client: string, q: Query, rcode: number): void {
    this.nextLimitLog = this.clock + 10_000;
    try {
      this.onRateLimit?.(client, q.hasQuestion ? q.qname : '', q.hasQuestion ? q.qtype : 0, rcode);
    } catch {
      // Logging must never break an answer.
    }
  }

  /** Turns rate limiting on, off or to new settings; buckets and counters survive a reload. */
  private applyRrl(config: RrlConfig | null): void {
    if (config === null) {
      this.rrl = null;
      return;
    }
    if (this.limiter === null) this.limiter = new RateLimiter(config, this.stats);
    else this.limiter.configure(config);
    this.rrl = this.limiter;
  }

  /**
   * Answers one DNS message. Returns null when it must be dropped. Public so
   * tests and benchmarks can drive the whole packet path without sockets.
   */
  handle(msg: Buffer, client: string, tcp: boolean): Buffer | null {
    const d = this.decide(msg, client, tcp);
    if (d === Reply.Drop) return null;
    const q = this.query;
    const nsid = this.nsid;
    let out: Buffer;
    try {
      if (d === Reply.Slip) out = buildTruncated(q, this.rcode, this.answer?.aa ?? false, nsid);
      else if (d === Reply.Answer) out = buildResponse(q, this.answer as PreparedAnswer, tcp ? 65535 : udpLimit(q), nsid);
      else out = buildError(q, this.rcode, nsid);
    } catch (err) {
      this.buildFailed(err as Error);
      out = buildError(q, this.rcode, nsid);
    }
    this.finish(d, out[2], client, tcp);
    return out;
  }

  /**
   * handle() for one UDP datagram, the reply written into `out` at `at` (room
   * for a UDP reply, MAX_UDP_PAYLOAD bytes, is the caller's to give): returns
   * its length, or 0 when it must be dropped. The batched path's send ring.
   */
  handleInto(msg: Buffer, client: string, out: Buffer, at: number): number {
    const d = this.decide(msg, client, false);
    if (d === Reply.Drop) return 0;
    const q = this.query;
    const nsid = this.nsid;
    let n: number;
    try {
      if (d === Reply.Slip) n = writeTruncated(out, at, q, this.rcode, this.answer?.aa ?? false, nsid);
      else if (d === Reply.Answer) n = writeResponse(out, at, q, this.answer as PreparedAnswer, udpLimit(q), nsid);
      else n = writeError(out, at, q, this.rcode, nsid);
    } catch (err) {
      this.buildFailed(err as Error);
      n = writeError(out, at, q, this.rcode, nsid);
    }
    this.finish(d, out[at + 2], client, false);
    return n;
  }

  // What decide() found, for the reply builders (one query at a time: handle() never re-enters).
  private answer: PreparedAnswer | null = null;
  private rcode: number = RCODE.NOERROR;
  private nsid: Buffer | null = null;
  private t0 = 0;

  /** Parses, resolves and rate-limits one message; the reply's parts are left in answer/rcode/nsid. */
  private decide(msg: Buffer, client: string, tcp: boolean): Reply {
    const q = this.query;
    const stats = this.stats;
    this.t0 = stats.startTiming(); // 0 unless this query is the sampled one
    const r = parseQuery(msg, q);
    let rcode: number = RCODE.NOERROR;
    let answer: PreparedAnswer | null = null;
    // NSID (RFC 5001): only looked up when the query asked for it; the resolver
    // is read per query so a reloaded map's server id takes effect at once.
    const nsid = q.nsid ? (this.resolver.nsid ?? null) : null;
    if (r === ParseResult.OK) {
      if (q.qtype === QTYPE_AXFR || q.qtype === QTYPE_IXFR) {
        // Zone transfers: TCP only (RFC 5936 4.2), to the zone's transfer list.
        const msgs = tcp && this.resolver.transfer ? this.resolver.transfer(q, client) : null;
        if (msgs !== null && msgs.length > 0) {
          answer = msgs[0];
          this.transferRest = msgs.slice(1).map((m) => buildResponse(q, m, 65535, nsid));
        } else rcode = RCODE.REFUSED;
      } else {
        try {
          answer = this.resolver.resolve(q, client);
          rcode = answer.rcode;
        } catch (err) {
          // A bug, never bad input: answer SERVFAIL rather than go silent, and say so.
          stats.internalErrors++;
          this.onError(err as Error, 'resolver');
          rcode = RCODE.SERVFAIL;
        }
      }
    } else if (r === ParseResult.DROP) {
      stats.dropped++;
      return Reply.Drop;
    } else {
      rcode = r === ParseResult.FORMERR ? RCODE.FORMERR : r === ParseResult.NOTIMP ? RCODE.NOTIMP : RCODE.BADVERS;
    }
    this.answer = answer;
    this.rcode = rcode;
    this.nsid = nsid;
    const rrl = this.rrl;
    // A query with a cookie (RFC 7873) gets our server cookie back; one whose server cookie we made for
    // this address proves the source is not spoofed, so RRL lets it through (as BIND and Knot do).
    const exempt = q.cookieLength !== 0 && q.hasQuestion ? this.cookie(q, client, rrl !== null && !tcp) : false;
    const act = rrl !== null && !tcp && !exempt ? rrl.check(client, q, rcode, this.clock) : RrlAction.Pass;
    if (act !== RrlAction.Pass && this.clock >= this.nextLimitLog) this.reportLimit(client, q, rcode);
    if (act === RrlAction.Drop) return Reply.Drop; // counted by the limiter, not as an answer
    return act === RrlAction.Slip ? Reply.Slip : answer !== null ? Reply.Answer : Reply.Error;
  }

  private buildFailed(err: Error): void {
    this.stats.internalErrors++;
    this.onError(err, 'response');
    this.rcode = RCODE.SERVFAIL;
  }

  /** Counts the reply: its rcode, TC on a full answer, requests, ECS, the sampled time, the query log. */
  private finish(d: Reply, flags: number, client: string, tcp: boolean): void {
    if (d === Reply.Answer && flags & 0x02) this.stats.truncated++;
    this.stats.count(this.query, client, tcp, this.rcode, this.t0);
  }

  /** Sets q.cookieReply; returns true when `check` and the query's server cookie is valid for the client. */
  private cookie(q: Query, client: string, check: boolean): boolean {
    const parsed = parseIp(client);
    if (parsed === null) return false;
    const ip = unmapIpv4(parsed) ?? parsed;
    const now = Math.floor(Date.now() / 1000);
    const valid = check && q.cookieLength > 8 && this.cookies.valid(q.buf, q.cookieOffset, q.cookieLength, ip, now);
    this.cookies.make(q.buf, q.cookieOffset, ip, now, q.cookieSlot);
    q.cookieReply = q.cookieSlot;
    return valid;
  }

  async listen(): Promise<BoundAddress[]> {
    if (this.clockTimer === null) {
      this.clockTimer = setInterval(() => (this.clock = performance.now()), 10);
      this.clockTimer.unref();
    }
    const bound: BoundAddress[] = [];
    for (const text of this.options.listen) {
      const addr = parseListenAddress(text);
      if (typeof addr === 'string') throw new Error(addr);
      bound.push(await this.listenOne(addr));
    }
    return bound;
  }

  private async listenOne(addr: ListenAddress): Promise<BoundAddress> {
    if (this.udpPath === 'batched') {
      const lib = loadBatchAddon();
      if (lib !== null) return this.listenBatched(addr);
      this.udpPath = 'dgram';
      this.udpFallback = `native addon not loaded (${batchLoadError()})`;
    }
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

  /**
   * The batched path: TCP first (with port 0 the kernel, or in a cluster the
   * primary's shared handle, picks the port), then this process's own UDP
   * socket on that port: exclusive when alone, SO_REUSEPORT under --workers
   * (udpReusePort). TCP first also keeps a second server from silently
   * sharing the port: its TCP bind fails.
   */
  private async listenBatched(addr: ListenAddress): Promise<BoundAddress> {
    const lib = loadBatchAddon();
    if (lib === null) throw new Error('batched UDP addon not loaded');
    for (let attempt = 0; ; attempt++) {
      const tcp = await this.bindTcp(addr.host, addr.port);
      const port = (tcp.address() as AddressInfo).port;
      try {
        const udp = new BatchSocket(lib, addr.host, port, addr.family === 6, this.options.udpRecvBufferBytes, this.onBatch, this.options.udpReusePort);
        if (this.options.udpReusePort && this.udpPortWarning === null) this.udpPortWarning = sharedPortHazard(port);
        this.batched.push(udp);
        this.stats.udpBatchSockets.push(udp.stats);
        this.stats.udpPath = 'batched';
        this.tcp.push(tcp);
        return { host: addr.host, port };
      } catch (err) {
        await new Promise<void>((r) => tcp.close(() => r()));
        const code = (err as NodeJS.ErrnoException).code;
        if (addr.port !== 0 || attempt >= 20 || code !== 'EADDRINUSE') {
          // Worded like dgram's, so start failures read the same on both paths.
          throw Object.assign(new Error(`bind ${code ?? 'failed'} ${addr.host}:${port} (udp): ${(err as Error).message}`), { code });
        }
      }
    }
  }

  /**
   * One recvmmsg batch: each datagram goes through handleInto() on its own (a
   * throw or a drop affects that datagram only), which writes its reply into
   * the send ring; the addon sends them all with one sendmmsg when this returns.
   */
  private readonly onBatch = (sock: BatchSocket, n: number): number => {
    const { recv, recvStride, meta, send, sendMeta, sendSlot } = sock;
    const stats = this.stats;
    let replies = 0;
    for (let i = 0; i < n; i++) {
      const m = i * META_FIELDS;
      const len = meta[m];
      // Port 0 cannot be answered; such packets are spoofed anyway (as on the dgram path).
      if (len < 0 || meta[m + 2] === 0) {
        if (len >= 0) stats.dropped++;
        continue;
      }
      stats.udpQueries++;
      let bytes: number;
      try {
        bytes = this.handleInto(recv.subarray(i * recvStride, i * recvStride + len), sock.source(i), send, replies * sendSlot);
      } catch (err) {
        stats.internalErrors++;
        this.onError(err as Error, 'udp batch');
        continue;
      }
      if (bytes === 0) continue;
      if (bytes > sendSlot) {
        // Cannot happen (UDP replies are at most 1232 bytes, the slot is 4096); never send a cut reply.
        stats.internalErrors++;
        continue;
      }
      sendMeta[replies * SEND_FIELDS] = i;
      sendMeta[replies * SEND_FIELDS + 1] = bytes;
      replies++;
    }
    return replies;
  };

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
   * completes (pipelining). Limits, so one client cannot hold what others
   * need: connections per source address, an idle timeout (no complete
   * query), a total lifetime, queries per connection, and replies in flight
   * (written but not yet taken by the kernel, i.e. the client is not reading):
   * at that many we stop reading its queries until it catches up. A frame too
   * short to be a DNS message ends the connection, since the stream can no
   * longer be trusted to be in sync.
   */
  private onConnection(sock: Socket): void {
    const o = this.options;
    const client = sock.remoteAddress ?? '';
    const fromSource = (this.perSource.get(client) ?? 0) + 1;
    if (fromSource > o.tcpMaxConnectionsPerSource) {
      this.stats.tcpRejectedPerSource++;
      sock.destroy();
      return;
    }
    this.perSource.set(client, fromSource);
    this.stats.tcpConnections++;
    this.conns.add(sock);
    let pending: Buffer | null = null;
    let served = 0;
    let inFlight = 0;
    let done = false;
    const stop = (): void => {
      done = true;
      closeGently(sock);
    };
    // Idle = no complete query for tcpIdleTimeoutMs (not socket inactivity, which a
    // client trickling one byte at a time could keep resetting for ever).
    const idle = setTimeout(() => sock.destroy(), o.tcpIdleTimeoutMs);
    const lifetime = setTimeout(() => {
      this.stats.tcpLifetimeClosed++;
      stop();
    }, o.tcpMaxLifetimeMs);
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      clearTimeout(idle);
      clearTimeout(lifetime);
      this.conns.delete(sock);
      const n = (this.perSource.get(client) ?? 1) - 1;
      if (n > 0) this.perSource.set(client, n);
      else this.perSource.delete(client);
    });
    const send = (msg: Buffer): void => {
      const framed = Buffer.allocUnsafe(2 + msg.length);
      framed.writeUInt16BE(msg.length, 0);
      msg.copy(framed, 2);
      inFlight++;
      sock.write(framed, flushed);
    };
    const flushed = (): void => {
      inFlight--;
      if (!done && inFlight < o.tcpMaxInFlight && sock.isPaused()) {
        sock.resume();
        work();
      }
    };
    /** Answers the complete frames in `pending` until the in-flight limit. */
    const work = (): void => {
      let buf = pending;
      pending = null;
      if (buf === null) return;
      while (buf.length >= 2) {
        if (inFlight >= o.tcpMaxInFlight) {
          sock.pause(); // resumed by flushed()
          break;
        }
        const len = buf.readUInt16BE(0);
        if (len < 12) {
          stop();
          return;
        }
        if (buf.length < 2 + len) break;
        // Copy the frame: the reply echoes bytes of it after `buf` may be reused.
        const frame = Buffer.from(buf.subarray(2, 2 + len));
        buf = buf.subarray(2 + len);
        this.stats.tcpQueries++;
        idle.refresh();
        const out = this.handle(frame, client, true);
        if (out) send(out);
        const rest = this.transferRest;
        if (rest !== null) {
          this.transferRest = null;
          for (const m of rest) send(m);
        }
        if (++served >= o.tcpMaxQueriesPerConnection) {
          stop();
          return;
        }
      }
      // A partial frame is copied so it does not keep the whole chunk alive.
      if (buf.length) pending = buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0) ? Buffer.from(buf) : buf;
    };
    sock.on('data', (chunk: Buffer) => {
      if (done) return;
      pending = pending ? Buffer.concat([pending, chunk]) : chunk;
      work();
    });
  }

  async close(): Promise<void> {
    if (this.clockTimer !== null) clearInterval(this.clockTimer);
    this.clockTimer = null;
    for (const s of this.conns) s.destroy();
    const st = this.stats;
    for (const b of this.batched) {
      b.close();
      b.stats.forEach((v, i) => (st.udpBatchClosed[i] += v));
    }
    this.batched.length = 0;
    st.udpBatchSockets.length = 0;
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
