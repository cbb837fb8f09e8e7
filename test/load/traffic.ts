import { createSocket, type Socket } from 'node:dgram';
import { buildQuery, ecsOption } from '../helpers/packet';

/**
 * A UDP load generator for fault drills: a fixed query rate (paced in small
 * batches by a timer), a mix of names and ECS subnets, every query tracked by
 * id until a reply or its timeout, and every reply classified by a validator
 * the caller passes. Always bounded: it stops after `durationMs` (or `stop()`)
 * and never sends more than `rate * durationMs / 1000` queries.
 */

/** One kind of query in the mix (a name, a type, an optional ECS subnet). */
export interface QueryKind {
  /** How the kind shows in reports and validators, e.g. "www/south". */
  label: string;
  name: string;
  /** 1 = A, 28 = AAAA. @default 1 */
  type?: number;
  /** "183.6.0.0/24"; absent = no ECS option (the source address is classified). */
  subnet?: string;
}

/** What came back, as the validator sees it. */
export interface Answer {
  rcode: number;
  /** A and AAAA addresses in the answer section, in order. */
  addrs: string[];
  truncated: boolean;
}

/** True when the answer is acceptable for this kind right now (it may consult state the drill changes); sentAt: when its query left (Date.now()). */
export type Validator = (kind: QueryKind, answer: Answer, sentAt: number) => boolean;

export interface TrafficOptions {
  port: number;
  /** Loopback only. @default 127.0.0.1 */
  host?: string;
  /** Queries per second. */
  rate: number;
  /** Hard stop. */
  durationMs: number;
  kinds: QueryKind[];
  validate: Validator;
  /** A query with no reply after this long is lost. @default 1000 */
  timeoutMs?: number;
  /** Sending sockets (a few, so one source port is not the whole story). @default 4 */
  sockets?: number;
  /** Pacing timer. @default 10 */
  tickMs?: number;
  /** Timeline bucket width. @default 100 */
  bucketMs?: number;
}

export interface Bucket {
  /** Bucket start, ms since the traffic started (queries are counted by when they were sent). */
  t: number;
  sent: number;
  ok: number;
  wrong: number;
  lost: number;
  /** "label=addr,addr" (or "label=RCODE n") -> count: which answers this bucket got. */
  answers: Record<string, number>;
}

export interface TrafficReport {
  sent: number;
  ok: number;
  wrong: number;
  lost: number;
  /** The first 10 wrong answers: when sent (ms since start) and what came back. */
  wrongSamples: Array<{ t: number; answer: string }>;
  timeline: Bucket[];
  /** When the traffic started (Date.now()), to place drill events on the timeline. */
  startedAt: number;
  elapsedMs: number;
  /** Longest gap between two pacing ticks: a stalled generator (not the server) can look like loss. */
  maxTickGapMs: number;
}

interface Pending {
  kind: number;
  sentAt: number;
  sock: number;
  id: number;
  done: boolean;
}

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** Rcode, TC and the A/AAAA addresses of a reply; null when it cannot be parsed. */
export function parseAnswer(msg: Buffer): Answer | null {
  if (msg.length < 12) return null;
  const rcode = msg[3] & 0x0f;
  const truncated = (msg[2] & 0x02) !== 0;
  const qd = msg.readUInt16BE(4);
  const an = msg.readUInt16BE(6);
  let off = 12;
  const skipName = (): boolean => {
    while (off < msg.length) {
      const len = msg[off];
      if (len === 0) {
        off += 1;
        return true;
      }
      if ((len & 0xc0) === 0xc0) {
        off += 2;
        return true;
      }
      off += 1 + len;
    }
    return false;
  };
  for (let i = 0; i < qd; i++) {
    if (!skipName()) return null;
    off += 4;
  }
  const addrs: string[] = [];
  for (let i = 0; i < an; i++) {
    if (!skipName() || off + 10 > msg.length) return null;
    const type = msg.readUInt16BE(off);
    const rdlen = msg.readUInt16BE(off + 8);
    off += 10;
    if (off + rdlen > msg.length) return null;
    if (type === 1 && rdlen === 4) addrs.push(`${msg[off]}.${msg[off + 1]}.${msg[off + 2]}.${msg[off + 3]}`);
    else if (type === 28 && rdlen === 16) {
      const groups: string[] = [];
      for (let g = 0; g < 8; g++) groups.push(msg.readUInt16BE(off + g * 2).toString(16));
      addrs.push(groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'));
    }
    off += rdlen;
  }
  return { rcode, addrs, truncated };
}

/** One answer as the timeline and the samples show it. */
const describe = (kind: QueryKind, a: Answer | null): string =>
  !a ? `${kind.label}=unparsable` : a.rcode !== 0 || a.addrs.length === 0 ? `${kind.label}=${RCODES[a.rcode] ?? `RCODE${a.rcode}`}${a.addrs.length ? '' : ' empty'}` : `${kind.label}=${a.addrs.join(',')}`;

/** A running load; `done` resolves with the report once the last query is answered or timed out. */
export class Traffic {
  readonly done: Promise<TrafficReport>;
  private stopAt: number;
  private stopRequested = false;

  constructor(private readonly o: TrafficOptions) {
    this.stopAt = Date.now() + o.durationMs;
    this.done = this.run();
  }

  /** Ends sending now (the queries in flight still get their timeout). */
  stop(): Promise<TrafficReport> {
    this.stopRequested = true;
    return this.done;
  }

  private run(): Promise<TrafficReport> {
    const o = this.o;
    if (!/^127\.|^::1$/.test(o.host ?? '127.0.0.1')) throw new Error('traffic: loopback targets only');
    const host = o.host ?? '127.0.0.1';
    const timeoutMs = o.timeoutMs ?? 1000;
    const bucketMs = o.bucketMs ?? 100;
    const tickMs = o.tickMs ?? 10;
    const maxQueries = Math.ceil((o.rate * o.durationMs) / 1000);
    // Prebuilt query bytes per kind; only the id changes per query.
    const templates = o.kinds.map((k) => {
      const [addr, len] = (k.subnet ?? '').split('/');
      return buildQuery({ name: k.name, type: k.type ?? 1, edns: { udpSize: 1232, options: k.subnet ? [ecsOption(addr, Number(len))] : [] } });
    });
    const socks: Socket[] = [];
    const inflight: Array<Map<number, Pending>> = [];
    const nextId: number[] = [];
    const queue: Pending[] = []; // in send order, so timeouts are found from the head
    let qhead = 0;
    const report: TrafficReport = { sent: 0, ok: 0, wrong: 0, lost: 0, wrongSamples: [], timeline: [], startedAt: Date.now(), elapsedMs: 0, maxTickGapMs: 0 };
    const bucketOf = (sentAt: number): Bucket => {
      const i = Math.floor((sentAt - report.startedAt) / bucketMs);
      while (report.timeline.length <= i) report.timeline.push({ t: report.timeline.length * bucketMs, sent: 0, ok: 0, wrong: 0, lost: 0, answers: {} });
      return report.timeline[i];
    };
    const settle = (p: Pending, answer: Answer | null, lost: boolean): void => {
      p.done = true;
      inflight[p.sock].delete(p.id);
      const b = bucketOf(p.sentAt);
      if (lost) {
        report.lost++;
        b.lost++;
        return;
      }
      const kind = o.kinds[p.kind];
      const good = answer !== null && answer.rcode === 0 && answer.addrs.length > 0 && o.validate(kind, answer, p.sentAt);
      const key = describe(kind, answer);
      b.answers[key] = (b.answers[key] ?? 0) + 1;
      if (good) {
        report.ok++;
        b.ok++;
      } else {
        report.wrong++;
        b.wrong++;
        if (report.wrongSamples.length < 10) report.wrongSamples.push({ t: p.sentAt - report.startedAt, answer: key });
      }
    };
    for (let s = 0; s < (o.sockets ?? 4); s++) {
      const sock = createSocket('udp4');
      const map = new Map<number, Pending>();
      sock.on('message', (msg) => {
        if (msg.length < 2) return;
        const p = map.get(msg.readUInt16BE(0));
        if (p && !p.done) settle(p, parseAnswer(msg), false);
      });
      sock.on('error', () => undefined); // ICMP port unreachable while the server is gone: the query just times out
      sock.bind(0, '127.0.0.1', () => {
        try {
          sock.setRecvBufferSize(4 << 20);
        } catch {
          // capped by net.core.rmem_max; the default still holds a second of replies at these rates
        }
      });
      socks.push(sock);
      inflight.push(map);
      nextId.push(1);
    }

    return new Promise((resolve) => {
      let lastTick = Date.now();
      let rr = 0;
      const sweep = (now: number): void => {
        while (qhead < queue.length && now - queue[qhead].sentAt >= timeoutMs) {
          const p = queue[qhead++];
          if (!p.done) settle(p, null, true);
        }
        if (qhead > 4096) {
          queue.splice(0, qhead);
          qhead = 0;
        }
      };
      const timer = setInterval(() => {
        const now = Date.now();
        report.maxTickGapMs = Math.max(report.maxTickGapMs, now - lastTick);
        lastTick = now;
        const sending = !this.stopRequested && now < this.stopAt && report.sent < maxQueries;
        if (sending) {
          // Catch up to the target count, so a late tick sends a bigger batch (bounded by one second's worth).
          const due = Math.min(maxQueries, Math.floor(((now - report.startedAt) * o.rate) / 1000));
          const n = Math.min(due - report.sent, o.rate);
          for (let i = 0; i < n; i++) {
            const s = rr++ % socks.length;
            let id = nextId[s];
            while (inflight[s].has(id)) id = (id + 1) & 0xffff || 1;
            nextId[s] = (id + 1) & 0xffff || 1;
            const kind = report.sent % templates.length;
            const msg = Buffer.from(templates[kind]);
            msg.writeUInt16BE(id, 0);
            const p: Pending = { kind, sentAt: now, sock: s, id, done: false };
            inflight[s].set(id, p);
            queue.push(p);
            bucketOf(now).sent++;
            report.sent++;
            socks[s].send(msg, o.port, host);
          }
        }
        // Sweep after the poll phase, so replies already in the socket buffer are read before their query is called lost.
        setImmediate(() => {
          sweep(Date.now());
          if (!sending && qhead >= queue.length) {
            clearInterval(timer);
            for (const sock of socks) sock.close();
            report.elapsedMs = Date.now() - report.startedAt;
            resolve(report);
          }
        });
      }, tickMs);
    });
  }
}

/** Runs a load to completion. */
export function runTraffic(o: TrafficOptions): Promise<TrafficReport> {
  return new Traffic(o).done;
}

/** The buckets that saw wrong or lost answers, as "+1.2s 3 wrong 0 lost of 200" lines (relative to `zeroAt`). */
export function failureLines(r: TrafficReport, zeroAt = r.startedAt, max = 12): string[] {
  const out: string[] = [];
  for (const b of r.timeline) {
    if (b.wrong + b.lost === 0) continue;
    if (out.length === max) {
      out.push('...');
      break;
    }
    const t = (r.startedAt + b.t - zeroAt) / 1000;
    out.push(`${t >= 0 ? '+' : ''}${t.toFixed(1)}s: ${b.wrong} wrong, ${b.lost} lost of ${b.sent}`);
  }
  return out;
}
