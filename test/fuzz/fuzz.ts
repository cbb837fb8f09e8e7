/**
 * Fuzzing campaign against a running geosteer server (see test/fuzz/README.md).
 *
 *   npm run fuzz -- --packets N [--seed S] [--port P] [--workers W] [--batch B]
 *
 * Without --port it starts its own server (`serve --workers W` on a free
 * loopback port, the sample map) and stops it at the end. Packets come from a
 * seeded generator (mutators.ts): structure-aware mutations of real queries and
 * random bytes over UDP, framed/pipelined/split/lying streams over TCP, and
 * slow-loris connections. Every reply is checked against the packet it
 * answers; after each batch the control queries must get exactly their
 * answers over UDP and TCP, the server must be alive, and its RSS is sampled.
 * Exit 0 only when nothing failed (criteria in the README).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { answerable, checkReply, ecsFor, inspectReply, encode, frame, Generator, nameWire, packetsOf, type Action, type Msg } from './mutators';

/** RSS growth allowed from the end of the warm-up to the end of the run (README: "Pass criteria"). */
const RSS_GROWTH_LIMIT_MB = 30;
/**
 * The warm-up: the first 20% of the batches (at least one). Its last RSS sample
 * is the baseline, taken once V8 has sized its heap and collected the start-up
 * garbage; with 5 batches or fewer it is the first batch.
 */
const WARMUP_SHARE = 0.2;
/** UDP packets awaiting a reply at most (only packets the parser would answer count). */
const DEFAULT_WINDOW = 256;
/** A UDP packet without a reply after this long is given up on (the server may drop under load). */
const UDP_REPLY_TIMEOUT_MS = 500;
/** Concurrent short-lived abuse connections. */
const SHORT_CONCURRENCY = 8;
/** Examples of each kind of wrong reply kept for the report. */
const EXAMPLES_PER_REASON = 3;

interface Options {
  packets: number;
  seed: number;
  port: number | null;
  pid: number | null;
  workers: number;
  batch: number;
  window: number;
  config: string | null;
  maxSeconds: number;
  dump: string | null;
  json: boolean;
  quiet: boolean;
  /** UDP path of the spawned server (`serve --udp`); null: the server's default. */
  udp: 'batched' | 'dgram' | null;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      packets: { type: 'string', short: 'n' },
      seed: { type: 'string', short: 's' },
      port: { type: 'string', short: 'p' },
      pid: { type: 'string' },
      workers: { type: 'string', short: 'w' },
      batch: { type: 'string', short: 'b' },
      window: { type: 'string' },
      config: { type: 'string' },
      'max-seconds': { type: 'string' },
      dump: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean', short: 'q' },
      udp: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: fuzz [--packets N=1000000] [--seed S=1] [--port P (use a running server)] [--pid PID]\n' +
        '            [--workers W=1] [--batch B=10000] [--window 256] [--config MAP] [--max-seconds 3600] [--dump DIR] [--json] [--quiet]\n' +
        '            [--udp batched|dgram (default: $GEOSTEER_UDP, else the server default)]\n',
    );
    process.exit(0);
  }
  const num = (name: string, v: string | undefined, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}`);
    return n;
  };
  return {
    packets: num('packets', values.packets, 1_000_000, 1, 100_000_000),
    seed: num('seed', values.seed, 1, 0, 0xffffffff),
    port: values.port === undefined ? null : num('port', values.port, 0, 1, 65535),
    pid: values.pid === undefined ? null : num('pid', values.pid, 0, 1, 0x7fffffff),
    workers: num('workers', values.workers, 1, 1, 64),
    batch: num('batch', values.batch, 10_000, 100, 10_000_000),
    window: num('window', values.window, DEFAULT_WINDOW, 1, 4096),
    config: values.config ?? null,
    maxSeconds: num('max-seconds', values['max-seconds'], 3600, 1, 86_400),
    dump: values.dump ?? null,
    json: values.json === true,
    quiet: values.quiet === true,
    udp: udpPath(values.udp ?? process.env.GEOSTEER_UDP),
  };
}

function udpPath(v: string | undefined): 'batched' | 'dgram' | null {
  if (v === undefined || v === '') return null;
  if (v !== 'batched' && v !== 'dgram') throw new Error('--udp (or GEOSTEER_UDP) must be batched or dgram');
  return v;
}

// ---------------------------------------------------------------------------
// Small helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(2);
  }
  return true;
}

/** VmRSS of a process in kB, or null when it is gone. */
function rssKb(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The process owning a UDP socket bound to `port` (via /proc/net/udp* inodes), or null. */
function pidByUdpPort(port: number): number | null {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    try {
      for (const line of readFileSync(f, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        if (cols.length > 9 && cols[1].endsWith(hex)) inodes.add(`socket:[${cols[9]}]`);
      }
    } catch {
      // no IPv6
    }
  }
  if (!inodes.size) return null;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${d}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (inodes.has(readlinkSync(`/proc/${d}/fd/${fd}`))) return Number(d);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/** A loopback port free for both TCP and UDP right now. */
async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const srv = createServer();
    const port = await new Promise<number>((res, rej) => {
      srv.once('error', rej);
      srv.listen(0, '127.0.0.1', () => res((srv.address() as { port: number }).port));
    });
    const udp = createSocket('udp4');
    const ok = await new Promise<boolean>((res) => {
      udp.once('error', () => res(false));
      udp.bind(port, '127.0.0.1', () => res(true));
    });
    await new Promise<void>((r) => srv.close(() => r()));
    if (ok) {
      await new Promise<void>((r) => udp.close(() => r()));
      return port;
    }
    udp.close();
  }
  throw new Error('no free port for TCP and UDP');
}

const hex = (b: Buffer, max = 600): string => (b.length > max ? `${b.subarray(0, max).toString('hex')}...(${b.length} bytes)` : b.toString('hex'));

// ---------------------------------------------------------------------------
// Counters


class Counters {
  udpSent = 0;
  udpStruct = 0;
  udpRandom = 0;
  udpExpected = 0;
  udpReplies = 0;
  udpUnanswered = 0;
  udpLate = 0;
  tcpPackets = 0;
  tcpExpected = 0;
  tcpReplies = 0;
  tcpLost = 0;
  tcpConnections = 0;
  tcpShortConnections = 0;
  tcpUnexpectedCloses = 0;
  tcpSkippedWrites = 0;
  lorisWrites = 0;
  lorisConnections = 0;
  /** Closed by the server without a reason in the stream: the idle timeout. */
  lorisClosedByServer = 0;
  lorisClosedOnShortFrame = 0;
  /** Trickle writes not sent because the server had already closed the connection. */
  lorisSkipped = 0;
  lorisClosedByUs = 0;
  lorisMaxOpen = 0;
  wrongReplies = 0;
  controlChecks = 0;
  wrongControl = 0;
  crashes = 0;
  /** Full (extended) rcode of every reply. */
  readonly rcodes = new Map<number, number>();
  /** Replies owed when a connection ended, by how it ended. */
  readonly lostBy = new Map<string, number>();
  /** The bytes written on the first few connections that ended owing replies. */
  readonly lostExamples: string[] = [];
  readonly wrong = new Map<string, { count: number; examples: string[] }>();
  /** --dump: where the byte streams of TCP connections that ended owing replies go. */
  dumpDir: string | null = null;
  dumps = 0;
  readonly controlFailures: string[] = [];

  violation(reason: string, query: Buffer | null, reply: Buffer | null): void {
    this.wrongReplies++;
    const w = this.wrong.get(reason) ?? { count: 0, examples: [] };
    w.count++;
    if (w.examples.length < EXAMPLES_PER_REASON) w.examples.push(`query ${query ? hex(query) : '-'} reply ${reply ? hex(reply) : '-'}`);
    this.wrong.set(reason, w);
  }

  check(query: Buffer, reply: Buffer, tcp: boolean): void {
    const { error, rcode } = inspectReply(query, reply, tcp);
    this.rcodes.set(rcode, (this.rcodes.get(rcode) ?? 0) + 1);
    if (error) this.violation(`${tcp ? 'TCP' : 'UDP'}: ${error}`, query, reply);
  }
}

// ---------------------------------------------------------------------------
// UDP

class UdpLane {
  private sock!: UdpSocket;
  readonly pending = new Map<number, { pkt: Buffer; at: number }>();
  /** Last packet sent with each id, to check late replies and replies that should not exist. */
  private readonly recent: Array<Buffer | undefined> = new Array(65536);

  constructor(
    private readonly port: number,
    private readonly c: Counters,
  ) {}

  async open(): Promise<void> {
    this.sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    this.sock.on('message', (m) => this.onReply(m));
    this.sock.on('error', () => {}); // ECONNREFUSED when the server is gone: the batch check notices
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.sock.connect(this.port, '127.0.0.1', () => r()));
  }

  send(pkt: Buffer): void {
    this.c.udpSent++;
    if (pkt.length >= 2) {
      const id = pkt.readUInt16BE(0);
      this.recent[id] = pkt;
      if (answerable(pkt)) {
        this.c.udpExpected++;
        this.pending.set(id, { pkt, at: Date.now() });
      }
    }
    this.sock.send(pkt);
  }

  private onReply(reply: Buffer): void {
    this.c.udpReplies++;
    if (reply.length < 2) return this.c.violation('UDP: reply shorter than 2 bytes', null, reply);
    const id = reply.readUInt16BE(0);
    const p = this.pending.get(id);
    if (p) {
      this.pending.delete(id);
      return this.c.check(p.pkt, reply, false);
    }
    const old = this.recent[id];
    if (!old) return this.c.violation('UDP: reply with an id never sent', null, reply);
    this.c.udpLate++;
    this.c.check(old, reply, false);
  }

  /** Blocks while the window is full; gives up on replies older than the timeout. */
  async waitWindow(window: number): Promise<void> {
    if (this.pending.size < window) return;
    await until(() => this.pending.size < window >> 1, UDP_REPLY_TIMEOUT_MS);
    if (this.pending.size >= window) this.expire(Date.now() - UDP_REPLY_TIMEOUT_MS);
  }

  /** Waits for every outstanding reply (bounded), then gives up on the rest. */
  async drain(timeoutMs: number): Promise<void> {
    await until(() => this.pending.size === 0, timeoutMs);
    this.expire(Infinity);
  }

  private expire(before: number): void {
    for (const [id, p] of this.pending) {
      if (p.at > before) break; // insertion order = send order
      this.pending.delete(id);
      this.c.udpUnanswered++;
    }
  }

  close(): void {
    this.sock.close();
  }
}

// ---------------------------------------------------------------------------
// TCP

/** One client connection: replies are matched in order to the frames the server will answer. */
class TcpConn {
  readonly sock: Socket;
  readonly expected: Buffer[] = [];
  closed = false;
  closedByUs = false;
  /** The stream model says the server closes this connection. */
  closeExpected = false;
  private buf: Buffer = Buffer.alloc(0);

  constructor(
    port: number,
    private readonly c: Counters,
    onClose: (conn: TcpConn) => void = () => {},
  ) {
    this.sock = connect(port, '127.0.0.1');
    this.sock.setNoDelay(true);
    this.sock.on('data', (chunk: Buffer) => this.onData(chunk));
    this.sock.on('error', () => {});
    this.sock.on('close', () => {
      this.closed = true;
      onClose(this);
    });
  }

  expect(frames: Buffer[]): void {
    for (const f of frames) {
      if (!answerable(f)) continue;
      this.expected.push(f);
      this.c.tcpExpected++;
    }
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.buf.length >= 2 && this.buf.length >= 2 + this.buf.readUInt16BE(0)) {
      const reply = this.buf.subarray(2, 2 + this.buf.readUInt16BE(0));
      this.buf = this.buf.subarray(2 + reply.length);
      this.c.tcpReplies++;
      this.replies++;
      const q = this.expected.shift();
      if (q) this.c.check(q, reply, true);
      else this.c.violation('TCP: reply with no query outstanding', null, reply);
    }
  }

  /** The last bytes written (up to 2 KB), to show what a connection that ended owing replies was sent. */
  private tail: Buffer = Buffer.alloc(0);
  /** Every write, kept only with --dump. */
  private readonly writes: Buffer[] = [];
  private replies = 0;

  send(bytes: Buffer): void {
    this.tail = Buffer.concat([this.tail, bytes]);
    if (this.tail.length > 2048) this.tail = this.tail.subarray(this.tail.length - 2048);
    if (this.c.dumpDir) this.writes.push(bytes);
    this.sock.write(bytes);
  }

  /** Writes the pieces as separate writes, a turn of the event loop apart. */
  async write(pieces: Buffer[]): Promise<void> {
    for (let i = 0; i < pieces.length; i++) {
      if (this.closed) return;
      this.send(pieces[i]);
      if (i + 1 < pieces.length) await tick();
    }
  }

  destroy(): void {
    if (!this.closed) this.closedByUs = true;
    this.sock.destroy();
  }

  /** Replies still owed when the connection ends are counted as lost, by `how` it ended. */
  settle(how: string, written: Buffer = this.tail): void {
    if (this.expected.length) {
      this.c.tcpLost += this.expected.length;
      this.c.lostBy.set(how, (this.c.lostBy.get(how) ?? 0) + this.expected.length);
      if (this.c.lostExamples.length < 5) {
        const owed = this.expected.map((q) => hex(q, 80)).join(', ');
        this.c.lostExamples.push(`${how}: ${this.expected.length} owed (${owed}); last bytes written ${hex(written)}`);
      }
      if (this.c.dumpDir && this.c.dumps < 20) {
        const base = join(this.c.dumpDir, `owed-${++this.c.dumps}`);
        writeFileSync(`${base}.bin`, Buffer.concat(this.writes));
        const lines = [how, `replies received: ${this.replies}`, `owed: ${this.expected.length}`, ...this.expected.map((q) => q.toString('hex'))];
        writeFileSync(`${base}.txt`, lines.join('\n') + '\n');
      }
    }
    this.expected.length = 0;
  }
}

// ---------------------------------------------------------------------------
// Control queries

interface Control {
  name: string;
  msg: (id: number) => Buffer;
  address: string;
}

const CONTROLS: Control[] = [
  { name: 'www.example.com A, ECS 183.6.0.0/24', msg: (id) => controlMsg(id, 'www.example.com', true), address: '192.0.2.10' },
  { name: 'mail.example.com A', msg: (id) => controlMsg(id, 'mail.example.com', false), address: '192.0.2.25' },
];

function controlMsg(id: number, name: string, ecs: boolean): Buffer {
  const m: Msg = {
    id,
    b2: 0x01,
    b3: 0,
    qd: [{ name: nameWire(name), type: 1, klass: 1 }],
    an: [],
    ns: [],
    ar: [],
    opt: ecs ? { udpSize: 1232, extRcode: 0, version: 0, flags: 0, options: [ecsFor('183.6.0.0', 24)], owner: Buffer.from([0]) } : null,
  };
  return encode(m).buf;
}

/** Exactly one answer: an A record for the question's name with the expected address. */
function controlVerdict(query: Buffer, reply: Buffer | null, address: string, tcp: boolean): string | null {
  if (!reply) return 'no reply';
  const why = checkReply(query, reply, tcp);
  if (why) return why;
  if ((reply[3] & 0x0f) !== 0) return `rcode ${reply[3] & 0x0f}`;
  if (reply[2] & 0x02) return 'TC set';
  if (reply.readUInt16BE(6) !== 1) return `ANCOUNT ${reply.readUInt16BE(6)}`;
  // checkReply validated the layout: the question name ends with a 0 byte, pointers are not allowed in it.
  let off = 12;
  while (off < reply.length && reply[off] !== 0) off += 1 + reply[off];
  off += 5;
  if (off + 16 > reply.length) return 'answer record cut';
  const owner = reply.readUInt16BE(off);
  if (owner !== 0xc00c) return `answer owner ${owner.toString(16)} is not a pointer to the question`;
  const [type, klass, , rdlen] = [reply.readUInt16BE(off + 2), reply.readUInt16BE(off + 4), 0, reply.readUInt16BE(off + 10)];
  if (type !== 1 || klass !== 1 || rdlen !== 4) return `answer type ${type} class ${klass} rdlen ${rdlen}`;
  const got = [...reply.subarray(off + 12, off + 16)].join('.');
  return got === address ? null : `answer ${got}, expected ${address}`;
}

async function udpOnce(port: number, msg: Buffer, timeoutMs: number): Promise<Buffer | null> {
  const sock = createSocket('udp4');
  sock.on('error', () => {});
  try {
    return await new Promise<Buffer | null>((res) => {
      const t = setTimeout(() => res(null), timeoutMs);
      sock.on('message', (m) => {
        clearTimeout(t);
        res(m);
      });
      sock.send(msg, port, '127.0.0.1');
    });
  } finally {
    sock.close();
  }
}

async function tcpOnce(port: number, msgs: Buffer[], timeoutMs: number): Promise<Buffer[]> {
  return new Promise((res) => {
    const sock = connect(port, '127.0.0.1');
    const replies: Buffer[] = [];
    let buf = Buffer.alloc(0);
    const done = (): void => {
      clearTimeout(t);
      sock.destroy();
      res(replies);
    };
    const t = setTimeout(done, timeoutMs);
    sock.on('error', done);
    sock.on('close', done);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        replies.push(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        buf = buf.subarray(2 + buf.readUInt16BE(0));
      }
      if (replies.length >= msgs.length) done();
    });
    sock.write(Buffer.concat(msgs.map(frame)));
  });
}

let controlId = 0x4000;

/** Every control query over UDP and over TCP; returns the failures. */
async function controlRound(port: number, c: Counters): Promise<string[]> {
  const failures: string[] = [];
  const udp = await Promise.all(
    CONTROLS.map(async (ctl) => {
      const q = ctl.msg(controlId++ & 0xffff);
      return { ctl, q, reply: await udpOnce(port, q, 2000) };
    }),
  );
  for (const { ctl, q, reply } of udp) {
    const why = controlVerdict(q, reply, ctl.address, false);
    if (why) failures.push(`UDP ${ctl.name}: ${why}${reply ? ` (reply ${hex(reply)})` : ''}`);
  }
  const qs = CONTROLS.map((ctl) => ctl.msg(controlId++ & 0xffff));
  const replies = await tcpOnce(port, qs, 2000);
  CONTROLS.forEach((ctl, i) => {
    const why = controlVerdict(qs[i], replies[i] ?? null, ctl.address, true);
    if (why) failures.push(`TCP ${ctl.name}: ${why}${replies[i] ? ` (reply ${hex(replies[i])})` : ''}`);
  });
  c.controlChecks += CONTROLS.length * 2;
  c.wrongControl += failures.length;
  for (const f of failures) if (c.controlFailures.length < 20) c.controlFailures.push(f);
  return failures;
}

// ---------------------------------------------------------------------------
// The server under test

interface Target {
  port: number;
  /** PIDs whose RSS is summed and whose death is a crash (primary and workers). */
  pids: number[];
  describe: string;
  /** Set when a spawned server exits on its own. */
  exited: string | null;
  logTail: string[];
  /** The UDP path each server process logged at start (`"udp":"batched"`), in order. */
  udpPaths: string[];
  stop(): Promise<void>;
}

async function startServer(o: Options): Promise<Target> {
  const port = await freePort();
  const main = resolve(__dirname, '../../src/cli/main.js');
  // A private copy of geodata/ (the map and any zone file beside it): edits to the
  // sample map during a run must not reload the server under test.
  let config = o.config;
  let tmp: string | null = null;
  if (!config) {
    tmp = mkdtempSync(join(tmpdir(), 'geosteer-fuzz-'));
    const geodata = resolve(__dirname, '../../../geodata');
    for (const f of readdirSync(geodata, { withFileTypes: true })) if (f.isFile()) copyFileSync(join(geodata, f.name), join(tmp, f.name));
    config = join(tmp, 'map.yaml');
    // Every packet through the rate limiter's code (loopback is exempt by default),
    // at a rate no fuzz run reaches, so the checker still expects every reply.
    const text = readFileSync(config, 'utf8');
    const withRrl = text.replace(/^( {2}id: .*\n)/m, '$1  rrl: { responses_per_second: 1000000, errors_per_second: 1000000, exempt: [] }\n');
    if (withRrl === text) throw new Error('fuzz: could not add server.rrl to the copied sample map');
    writeFileSync(config, withRrl);
  }
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  // 50 slow-loris slots + abuse and control connections all come from 127.0.0.1:
  // above the default 32 per source, which would refuse some and leave replies owed.
  const args = ['serve', '--config', config, '--listen', `127.0.0.1:${port}`, '--workers', String(o.workers), '--tcp-max-per-source', '256', ...(o.udp ? ['--udp', o.udp] : [])];
  const child: ChildProcess = spawn(process.execPath, [main, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  const target: Target = {
    port,
    pids: [child.pid ?? -1],
    describe: `spawned (pid ${child.pid}): node dist/src/cli/main.js ${args.join(" ")}`,
    exited: null,
    logTail: [],
    udpPaths: [],
    async stop() {
      if (target.exited === null) {
        const gone = new Promise<void>((r) => child.once('exit', () => r()));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(t);
      }
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    },
  };
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      const path = /"udp":"(batched|dgram)".*"msg":"UDP path/.exec(line);
      if (path) target.udpPaths.push(path[1]);
      target.logTail.push(line.length > 500 ? line.slice(0, 500) + '...' : line);
      if (target.logTail.length > 40) target.logTail.shift();
    }
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopping = false;
  child.once('exit', (code, signal) => {
    target.exited = `exit code ${code} signal ${signal}`;
    if (!stopping) target.exited += ' (unexpected)';
  });
  const stop = target.stop;
  target.stop = () => {
    stopping = true;
    return stop();
  };
  // Ready when both control queries answer correctly over UDP.
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (target.exited) throw new Error(`the server exited during start (${target.exited}):\n${target.logTail.join('\n')}`);
    if (Date.now() > deadline) {
      await target.stop();
      throw new Error(`the server did not answer within 60 s:\n${target.logTail.join('\n')}`);
    }
    const q = CONTROLS[0].msg(1);
    if (controlVerdict(q, await udpOnce(port, q, 300), CONTROLS[0].address, false) === null) break;
    await sleep(100);
  }
  if (o.workers > 1) {
    await until(() => childrenOf(target.pids[0]).length >= o.workers, 30_000);
    target.pids.push(...childrenOf(target.pids[0]));
  }
  // A path asked for must be the path running: a silent fallback would fuzz the other one.
  if (o.udp !== null) {
    await until(() => target.udpPaths.length >= o.workers, 10_000);
    if (target.udpPaths.length < o.workers || target.udpPaths.some((p) => p !== o.udp)) {
      await target.stop();
      throw new Error(`asked for --udp ${o.udp}, the server logged UDP paths [${target.udpPaths.join(', ')}]:\n${target.logTail.join('\n')}`);
    }
  }
  return target;
}

function externalTarget(o: Options, port: number): Target {
  const pid = o.pid ?? pidByUdpPort(port);
  return {
    port,
    pids: pid ? [pid] : [],
    describe: `running server on 127.0.0.1:${port}${pid ? ` (pid ${pid})` : ' (pid not found: no crash or RSS check beyond the control queries)'}`,
    exited: null,
    logTail: [],
    udpPaths: [],
    stop: async () => {},
  };
}

// ---------------------------------------------------------------------------
// The campaign

const RCODE_NAMES: Record<number, string> = { 0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED', 16: 'BADVERS' };

interface Summary {
  seed: number;
  packets: number;
  udpPackets: number;
  udpStructured: number;
  udpRandom: number;
  tcpPackets: number;
  lorisPackets: number;
  replies: number;
  /** Replies owed: packets the parser answers (UDP) and complete frames it answers (TCP, slow-loris included). */
  udpExpected: number;
  tcpExpected: number;
  tcpSkippedWrites: number;
  udpReplies: number;
  udpUnanswered: number;
  udpLate: number;
  tcpReplies: number;
  tcpLostAtClose: number;
  tcpConnections: number;
  tcpShortConnections: number;
  tcpUnexpectedCloses: number;
  lorisConnections: number;
  lorisClosedByServer: number;
  lorisClosedOnShortFrame: number;
  lorisSkippedWrites: number;
  tcpLostExamples: string[];
  rssSamples: number[];
  lorisClosedByUs: number;
  lorisMaxOpen: number;
  rcodes: Record<string, number>;
  tcpLostBy: Record<string, number>;
  wrongReplies: number;
  wrongReasons: Record<string, { count: number; examples: string[] }>;
  controlChecks: number;
  wrongControl: number;
  controlFailures: string[];
  crashes: number;
  crash: string | null;
  batches: number;
  rssMb: {
    start: number;
    firstBatch: number;
    /** Batch number (1-based) whose sample is the baseline, and the sample. */
    baselineBatch: number;
    baseline: number;
    min: number;
    max: number;
    end: number;
    /** end - baseline: the pass criterion. */
    growth: number;
    /** end - first batch, for information. */
    growthFromFirstBatch: number;
    limit: number;
  } | null;
  elapsedS: number;
  packetsPerS: number;
  digest: string;
  timedOut: boolean;
  hung: string | null;
  pass: boolean;
}

async function campaign(o: Options, target: Target, log: (s: string) => void): Promise<Summary> {
  const c = new Counters();
  if (o.dump) {
    mkdirSync(o.dump, { recursive: true });
    c.dumpDir = o.dump;
  }
  const gen = new Generator(o.seed);
  const udp = new UdpLane(target.port, c);
  await udp.open();
  const rss = (): number | null => {
    if (!target.pids.length) return null;
    let total = 0;
    for (const pid of target.pids) {
      const kb = rssKb(pid);
      if (kb === null) return null;
      total += kb;
    }
    return total / 1024;
  };
  const rssStart = rss();
  const samples: number[] = [];
  let crash: string | null = null;
  const checkAlive = (): boolean => {
    if (crash) return false;
    if (target.exited) crash = `server exited: ${target.exited}`;
    else {
      const dead = target.pids.filter((p) => !alive(p));
      if (dead.length) crash = `server process(es) ${dead.join(', ')} gone`;
    }
    if (crash) c.crashes++;
    return crash === null;
  };

  const long: Array<TcpConn | null> = new Array(gen.options.tcpConns).fill(null);
  const retiring = new Set<Promise<void>>();
  const shorts = new Set<Promise<void>>();
  const loris: Array<TcpConn | null> = new Array(gen.options.lorisSlots).fill(null);

  /** Closes a connection once the replies it is owed arrived (at most 2 s). */
  const retire = (conn: TcpConn, what: string): void => {
    const p = (async () => {
      await until(() => conn.expected.length === 0 || conn.closed, 2000);
      const how = conn.closed ? (conn.closedByUs ? 'closed by us' : conn.closeExpected ? 'short frame' : 'closed by server') : 'no reply within 2 s';
      conn.destroy();
      conn.settle(`${what}, ${how}`);
    })();
    retiring.add(p);
    void p.finally(() => retiring.delete(p));
  };

  const onLongClose = (conn: TcpConn): void => {
    if (!conn.closedByUs && !conn.closeExpected) c.tcpUnexpectedCloses++;
  };

  const runTcp = async (a: Extract<Action, { kind: 'tcp' }>): Promise<void> => {
    c.tcpPackets += a.packets;
    let conn = long[a.conn];
    if (a.reconnect || !conn) {
      if (conn) retire(conn, 'long-lived');
      conn = new TcpConn(target.port, c, onLongClose);
      long[a.conn] = conn;
      c.tcpConnections++;
    }
    if (conn.closed) {
      c.tcpSkippedWrites++; // closed under us (counted in tcpUnexpectedCloses); reopened at the next rotation
      return;
    }
    conn.expect(a.frames);
    if (a.closes) conn.closeExpected = true;
    await conn.write(a.pieces);
    if (conn.expected.length > 256) await until(() => conn.expected.length < 64 || conn.closed, 2000);
  };

  const runShort = async (a: Extract<Action, { kind: 'tcp-short' }>): Promise<void> => {
    const conn = new TcpConn(target.port, c);
    c.tcpConnections++;
    c.tcpShortConnections++;
    conn.expect(a.frames);
    conn.closeExpected = a.closes;
    await conn.write(a.pieces);
    if (a.closes || a.finish === 'end') {
      if (!a.closes) conn.sock.end();
      if (!(await until(() => conn.closed, 3000))) {
        c.violation(`TCP: connection still open 3 s after ${a.closes ? 'a frame shorter than a header' : 'the client closed its side'} (${a.variant})`, Buffer.concat(a.pieces), null);
      }
    } else {
      await until(() => conn.expected.length === 0 || conn.closed, 2000);
    }
    conn.destroy();
    conn.settle(`short-lived ${a.variant}${a.closes ? ', short frame' : ''}`, Buffer.concat(a.pieces));
  };

  const runLoris = (a: Extract<Action, { kind: 'loris' }>): void => {
    c.lorisWrites++;
    let conn = loris[a.slot];
    if (a.reopen) {
      if (conn) retire(conn, 'slow-loris'); // the plan may just have completed a query: its reply may be on the way
      conn = new TcpConn(target.port, c, (x) => {
        if (x.closedByUs) c.lorisClosedByUs++;
        else if (x.closeExpected) c.lorisClosedOnShortFrame++;
        else c.lorisClosedByServer++;
      });
      loris[a.slot] = conn;
      c.lorisConnections++;
      c.lorisMaxOpen = Math.max(c.lorisMaxOpen, loris.filter((x) => x && !x.closed && !x.closedByUs).length);
    }
    if (!conn || conn.closed) {
      c.lorisSkipped++; // the server closed it (idle timeout): nothing to write to until the slot's next client
      return;
    }
    conn.expect(a.frames);
    if (a.closes) conn.closeExpected = true;
    conn.send(a.bytes);
  };

  const endBatch = async (sent: number, batchNo: number): Promise<boolean> => {
    await udp.drain(1000);
    const failures = await controlRound(target.port, c);
    let ok = checkAlive();
    if (ok && failures.length === CONTROLS.length * 2 && failures.every((f) => f.endsWith('no reply'))) {
      hung = 'the server is alive but answered no control query: stopped';
      ok = false;
    }
    const mb = rss();
    if (mb !== null) samples.push(mb);
    log(
      `batch ${batchNo}: ${sent} packets, ${c.udpReplies + c.tcpReplies} replies, ${c.wrongReplies} wrong, ` +
        `control ${failures.length ? `FAILED: ${failures.join('; ')}` : 'ok'}, rss ${mb === null ? '?' : mb.toFixed(1)} MB${crash ? `, CRASH: ${crash}` : hung ? `, ${hung}` : ''}`,
    );
    return ok;
  };

  const t0 = Date.now();
  let sent = 0;
  let batchNo = 0;
  let lastBatchAt = 0;
  let timedOut = false;
  let hung: string | null = null;
  let n = 0;
  while (sent < o.packets) {
    if (target.exited || crash) break;
    if (Date.now() - t0 > o.maxSeconds * 1000) {
      timedOut = true;
      break;
    }
    const a = gen.next(o.packets - sent);
    sent += packetsOf(a);
    switch (a.kind) {
      case 'udp':
        if (a.cls === 'struct') c.udpStruct++;
        else c.udpRandom++;
        udp.send(a.pkt);
        await udp.waitWindow(o.window);
        break;
      case 'tcp':
        await runTcp(a);
        break;
      case 'tcp-short': {
        c.tcpPackets += a.packets;
        while (shorts.size >= SHORT_CONCURRENCY) await Promise.race(shorts);
        const p = runShort(a);
        shorts.add(p);
        void p.finally(() => shorts.delete(p));
        break;
      }
      case 'loris':
        runLoris(a);
        break;
    }
    if (++n % 64 === 0) await tick();
    if (sent - lastBatchAt >= o.batch) {
      lastBatchAt = sent;
      if (!(await endBatch(sent, ++batchNo))) break;
    }
  }
  // Let everything in flight finish (bounded), then one last check if the tail was not a full batch.
  await Promise.all(shorts);
  for (const conn of long) if (conn) retire(conn, 'long-lived');
  await Promise.all(retiring);
  for (const conn of loris) if (conn) retire(conn, 'slow-loris');
  await Promise.all(retiring);
  await until(() => loris.every((x) => !x || x.closed), 1000);
  if (!crash && !hung && !target.exited && sent > lastBatchAt) await endBatch(sent, ++batchNo);
  else if (!crash) checkAlive();
  udp.close();
  const elapsedS = (Date.now() - t0) / 1000;

  const baseIndex = Math.min(samples.length, Math.max(1, Math.floor(Math.ceil(o.packets / o.batch) * WARMUP_SHARE))) - 1;
  const end = samples[samples.length - 1];
  const rssMb =
    samples.length && rssStart !== null
      ? {
          start: rssStart,
          firstBatch: samples[0],
          baselineBatch: baseIndex + 1,
          baseline: samples[baseIndex],
          min: Math.min(...samples),
          max: Math.max(...samples),
          end,
          growth: end - samples[baseIndex],
          growthFromFirstBatch: end - samples[0],
          limit: RSS_GROWTH_LIMIT_MB,
        }
      : null;
  const s: Summary = {
    seed: o.seed,
    packets: sent,
    udpPackets: c.udpSent,
    udpStructured: c.udpStruct,
    udpRandom: c.udpRandom,
    tcpPackets: c.tcpPackets,
    lorisPackets: c.lorisWrites,
    replies: c.udpReplies + c.tcpReplies,
    udpExpected: c.udpExpected,
    tcpExpected: c.tcpExpected,
    tcpSkippedWrites: c.tcpSkippedWrites,
    udpReplies: c.udpReplies,
    udpUnanswered: c.udpUnanswered,
    udpLate: c.udpLate,
    tcpReplies: c.tcpReplies,
    tcpLostAtClose: c.tcpLost,
    tcpConnections: c.tcpConnections,
    tcpShortConnections: c.tcpShortConnections,
    tcpUnexpectedCloses: c.tcpUnexpectedCloses,
    lorisConnections: c.lorisConnections,
    lorisClosedByServer: c.lorisClosedByServer,
    lorisClosedOnShortFrame: c.lorisClosedOnShortFrame,
    lorisSkippedWrites: c.lorisSkipped,
    tcpLostExamples: c.lostExamples,
    rssSamples: samples.map((x) => Math.round(x * 10) / 10),
    lorisClosedByUs: c.lorisClosedByUs,
    lorisMaxOpen: c.lorisMaxOpen,
    rcodes: Object.fromEntries([...c.rcodes].sort((x, y) => x[0] - y[0]).map(([k, v]) => [RCODE_NAMES[k] ?? String(k), v])),
    tcpLostBy: Object.fromEntries(c.lostBy),
    wrongReplies: c.wrongReplies,
    wrongReasons: Object.fromEntries(c.wrong),
    controlChecks: c.controlChecks,
    wrongControl: c.wrongControl,
    controlFailures: c.controlFailures,
    crashes: c.crashes,
    crash,
    batches: batchNo,
    rssMb,
    elapsedS,
    packetsPerS: Math.round(sent / Math.max(elapsedS, 0.001)),
    digest: gen.digest(),
    timedOut,
    hung,
    pass: false,
  };
  s.pass =
    !timedOut &&
    !hung &&
    sent === o.packets &&
    s.crashes === 0 &&
    s.wrongControl === 0 &&
    s.wrongReplies === 0 &&
    s.controlChecks > 0 &&
    (rssMb === null ? target.pids.length === 0 : rssMb.growth < RSS_GROWTH_LIMIT_MB);
  return s;
}

function table(s: Summary, target: Target): string {
  const f = (x: number): string => x.toLocaleString('en-US');
  const pct = (x: number): string => `${((100 * x) / Math.max(1, s.packets)).toFixed(1)}%`;
  const mb = (x: number): string => `${x.toFixed(1)} MB`;
  const sign = (x: number): string => `${x >= 0 ? '+' : ''}${mb(x)}`;
  const rows: Array<[string, string]> = [
    ['server', target.describe],
    ['seed / sequence digest', `${s.seed} / ${s.digest}`],
    ['packets sent', `${f(s.packets)} (UDP ${f(s.udpPackets)}, TCP ${f(s.tcpPackets)}, slow-loris writes ${f(s.lorisPackets)}, ${f(s.lorisSkippedWrites)} of them skipped: already closed by the server)`],
    ['mix', `UDP structure-aware ${pct(s.udpStructured)}, UDP random ${pct(s.udpRandom)}, TCP ${pct(s.tcpPackets)}, slow-loris ${pct(s.lorisPackets)}`],
    ['replies (of owed)', `${f(s.replies)} (UDP ${f(s.udpReplies)} of ${f(s.udpExpected)}, TCP ${f(s.tcpReplies)} of ${f(s.tcpExpected)})`],
    ['reply rcodes', Object.entries(s.rcodes).map(([k, x]) => `${k} ${f(x)}`).join(', ')],
    ['UDP unanswered / late', `${f(s.udpUnanswered)} / ${f(s.udpLate)} (answerable packets given up on after ${UDP_REPLY_TIMEOUT_MS} ms / answered after that)`],
    ['TCP connections', `${f(s.tcpConnections)} (${f(s.tcpShortConnections)} short-lived abuse), ${f(s.tcpUnexpectedCloses)} closed unexpectedly, ${f(s.tcpLostAtClose)} replies owed at close${
        s.tcpLostAtClose ? ` (${Object.entries(s.tcpLostBy).map(([k, x]) => `${k}: ${x}`).join(', ')})` : ''
      }`],
    ['slow-loris connections', `${f(s.lorisConnections)} (at most ${s.lorisMaxOpen} open), ${f(s.lorisClosedByServer)} closed by the server's idle timeout, ${f(
        s.lorisClosedOnShortFrame,
      )} after a short frame, ${f(s.lorisClosedByUs)} by us`],
    ['wrong replies', f(s.wrongReplies)],
    ['control checks / wrong', `${f(s.controlChecks)} / ${f(s.wrongControl)} (${s.batches} batches x ${CONTROLS.length} queries x UDP+TCP)`],
    ['crashes', `${s.crashes}${s.crash ? ` (${s.crash})` : ''}${s.hung ? ` (${s.hung})` : ''}`],
    [
      'RSS start / min / max / end',
      s.rssMb ? `${mb(s.rssMb.start)} / ${mb(s.rssMb.min)} / ${mb(s.rssMb.max)} / ${mb(s.rssMb.end)}` : 'n/a',
    ],
    [
      'RSS drift (end - warm-up)',
      s.rssMb ? `${sign(s.rssMb.growth)} (limit < ${RSS_GROWTH_LIMIT_MB} MB; baseline ${mb(s.rssMb.baseline)} after batch ${s.rssMb.baselineBatch})` : 'n/a',
    ],
    ['RSS drift (end - first batch)', s.rssMb ? `${sign(s.rssMb.growthFromFirstBatch)} (first batch ${mb(s.rssMb.firstBatch)}; not a criterion)` : 'n/a'],
    ['elapsed', `${s.elapsedS.toFixed(1)} s${s.timedOut ? ' (stopped by --max-seconds)' : ''}`],
    ['packets/s', f(s.packetsPerS)],
    ['result', s.pass ? 'PASS' : 'FAIL'],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  const v = Math.max(...rows.map(([, x]) => x.length));
  const line = `|${'-'.repeat(w + 2)}|${'-'.repeat(v + 2)}|`;
  const out = [`| ${'metric'.padEnd(w)} | ${'value'.padEnd(v)} |`, line, ...rows.map(([k, x]) => `| ${k.padEnd(w)} | ${x.padEnd(v)} |`)];
  for (const [reason, w2] of Object.entries(s.wrongReasons)) {
    out.push('', `wrong reply: ${reason} (${w2.count}x)`, ...w2.examples.map((e) => `  ${e}`));
  }
  if (s.tcpLostExamples.length) out.push('', 'TCP connections that ended owing replies (first few):', ...s.tcpLostExamples.map((x) => `  ${x}`));
  if (s.controlFailures.length) out.push('', 'control failures:', ...s.controlFailures.map((x) => `  ${x}`));
  if (s.crash && target.logTail.length) out.push('', 'server log tail:', ...target.logTail.map((x) => `  ${x}`));
  return out.join('\n');
}

async function main(): Promise<number> {
  // `node --test` may pick this file up as a test: never start a campaign unasked.
  if (process.env.NODE_TEST_CONTEXT && !process.argv.includes('--packets')) return 0;
  const o = parseOptions(process.argv.slice(2));
  const log = (s: string): void => {
    if (!o.quiet) process.stderr.write(`fuzz: ${s}\n`);
  };
  const target = o.port === null ? await startServer(o) : externalTarget(o, o.port);
  log(`${target.describe}; seed ${o.seed}, ${o.packets} packets in batches of ${o.batch}`);
  let s: Summary;
  try {
    s = await campaign(o, target, log);
  } finally {
    await target.stop();
  }
  process.stdout.write(table(s, target) + '\n');
  if (o.json) process.stdout.write(`FUZZ_SUMMARY ${JSON.stringify(s)}\n`);
  return s.pass ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`fuzz: ${err.stack ?? err.message}\n`);
      process.exit(2);
    },
  );
}
