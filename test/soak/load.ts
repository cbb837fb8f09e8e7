import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { mulberry32 } from '../fuzz/mutators';
import { buildQuery, ecsOption } from '../helpers/packet';
import type { LoadResult } from './report';

/**
 * The soak's load: dnsperf at a fixed rate (the benchmark's tool), or a small
 * Node UDP sender for machines without dnsperf (the slice in `npm test`).
 * Both count a query lost when no reply came within 5 s (dnsperf's default).
 */

export const LOST_AFTER_MS = 5000;

const RCODES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED'];

/** Chinese blocks (half the queries; the province decides) as in the anchors' `wide` workload. */
const CN_BLOCKS: Array<[number, number]> = [
  [0x24000000, 10], // 36.0.0.0/10
  [0x3a100000, 13], // 58.16.0.0/13
  [0x71400000, 10], // 113.64.0.0/10
  [0x7c400000, 10], // 124.64.0.0/10
  [0xb7000000, 10], // 183.0.0.0/10
  [0xca600000, 12], // 202.96.0.0/12
  [0xdb800000, 11], // 219.128.0.0/11
];

/**
 * Deterministic queries for example.test (bench/map.yaml's zone), each with its
 * own ECS /24: 90% `www` A (geo-routed), 10% `static` A; half the subnets
 * Chinese, half anywhere in 1.0.0.0-223.255.255.255. Used when the anchors'
 * query files are not there, and always by the Node sender.
 */
export function soakQueries(count: number, seed = 20261126): Buffer[] {
  const r = mulberry32(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    let addr: number;
    if (i % 2 === 0) {
      const [base, len] = r.pick(CN_BLOCKS);
      addr = base + r.int(2 ** (32 - len));
    } else {
      addr = r.range(1, 223) * 2 ** 24 + r.int(2 ** 24);
    }
    const ip = [addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, 0].join('.');
    const name = i % 10 === 9 ? 'static.example.test' : 'www.example.test';
    out.push(buildQuery({ id: 0, name, edns: { options: [ecsOption(ip, 24)] } }));
  }
  return out;
}

/** dnsperf's -B format: each message behind its 2-byte length. */
export function writeQueryFile(path: string, queries: Buffer[]): void {
  writeFileSync(
    path,
    Buffer.concat(
      queries.flatMap((q) => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(q.length, 0);
        return [len, q];
      }),
    ),
  );
}

export interface RunningLoad {
  pid: number | null;
  done: Promise<LoadResult>;
  stop(): void;
}

export interface LoadOptions {
  port: number;
  rate: number;
  seconds: number;
  /** Seconds between two QPS readings. */
  intervalS: number;
}

/** Parses dnsperf's final statistics and its -S interval lines. */
export function parseDnsperf(out: string, command: string): LoadResult {
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const rcodes: Record<string, number> = {};
  const rc = /Response codes:\s+(.*)/.exec(out);
  for (const m of (rc?.[1] ?? '').matchAll(/([A-Z]+) (\d+)/g)) rcodes[m[1]] = Number(m[2]);
  const lat = /Average Latency \(s\):\s+([\d.]+) \(min [\d.]+, max ([\d.]+)\)/.exec(out);
  // Interval lines are "UNIXTIME: QPS"; the first one (at start) reads ~0.
  const qpsSeries = [...out.matchAll(/^\d+\.\d+: ([\d.]+)$/gm)].map((m) => Number(m[1])).slice(1);
  return {
    sender: 'dnsperf',
    command,
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    rcodes,
    qpsSeries,
    avgLatencyMs: lat ? Number(lat[1]) * 1000 : null,
    maxLatencyMs: lat ? Number(lat[2]) * 1000 : null,
  };
}

/** dnsperf at a fixed rate, optionally pinned (taskset) to one CPU. */
export function runDnsperf(o: LoadOptions & { queryFile: string; cpu: number | null; extra: string[] }): RunningLoad {
  const args = ['-s', '127.0.0.1', '-p', String(o.port), '-B', '-d', o.queryFile, '-l', String(o.seconds), '-Q', String(o.rate), '-S', String(o.intervalS), ...o.extra];
  const argv = o.cpu === null ? ['dnsperf', ...args] : ['taskset', '-c', String(o.cpu), 'dnsperf', ...args];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const command = argv.join(' ');
  const done = new Promise<LoadResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const r = parseDnsperf(out, command);
      if (code !== 0 || !Number.isFinite(r.sent)) reject(new Error(`dnsperf exited ${code ?? signal}:\n${out.slice(-2000)}`));
      else resolve(r);
    });
  });
  return { pid: child.pid ?? null, done, stop: () => child.kill('SIGINT') };
}

/**
 * A paced UDP sender in this process: `rate` queries a second for `seconds`,
 * each with a fresh 16-bit id (ids still awaiting a reply are skipped), then
 * up to 5 s for the last replies. Enough for a few thousand QPS.
 */
export function runNodeSender(o: LoadOptions & { queries: Buffer[] }): RunningLoad {
  // A 4 MiB receive buffer (the server's own default): this process also runs the
  // flips, reloads and /proc sampling, and a pause of ~100 ms at 2,000 QPS would
  // overflow the 208 KiB default and count replies the server did send as lost.
  const sock = createSocket({ type: 'udp4', recvBufferSize: 4 * 1024 * 1024, sendBufferSize: 1024 * 1024 });
  const sentAt = new Float64Array(65536); // 0 = not outstanding
  let outstanding = 0;
  let nextId = 1;
  let sent = 0;
  let completed = 0;
  let lost = 0;
  let latSum = 0;
  let latMax = 0;
  let stopped = false;
  const rcodes: Record<string, number> = {};
  const qpsSeries: number[] = [];
  let lastCompleted = 0;
  sock.on('message', (m) => {
    if (m.length < 12) return;
    const id = m.readUInt16BE(0);
    if (!sentAt[id]) return;
    const lat = performance.now() - sentAt[id];
    sentAt[id] = 0;
    outstanding--;
    completed++;
    latSum += lat;
    if (lat > latMax) latMax = lat;
    const rc = RCODES[m[3] & 0x0f] ?? `RCODE${m[3] & 0x0f}`;
    rcodes[rc] = (rcodes[rc] ?? 0) + 1;
  });
  sock.on('error', () => {});
  const expire = (now: number): void => {
    for (let id = 0; id < 65536; id++) {
      if (sentAt[id] && now - sentAt[id] > LOST_AFTER_MS) {
        sentAt[id] = 0;
        outstanding--;
        lost++;
      }
    }
  };
  const done = new Promise<LoadResult>((resolve) => {
    sock.bind(0, '127.0.0.1', () => {
      const t0 = performance.now();
      const total = Math.round(o.rate * o.seconds);
      let q = 0;
      const pace = setInterval(() => {
        const now = performance.now();
        const due = Math.min(total, Math.floor(((now - t0) / 1000) * o.rate));
        while (!stopped && sent < due) {
          if (outstanding >= 60000) break; // the id space is full: the server is not answering
          while (sentAt[nextId]) nextId = (nextId + 1) & 0xffff;
          const msg = o.queries[q++ % o.queries.length];
          msg.writeUInt16BE(nextId, 0);
          sentAt[nextId] = now;
          nextId = (nextId + 1) & 0xffff;
          outstanding++;
          sent++;
          sock.send(msg, o.port, '127.0.0.1');
        }
        if (sent >= total || stopped) clearInterval(pace);
      }, 5);
      const meter = setInterval(() => {
        qpsSeries.push((completed - lastCompleted) / o.intervalS);
        lastCompleted = completed;
        expire(performance.now());
      }, o.intervalS * 1000);
      const finish = (): void => {
        const runS = (performance.now() - t0) / 1000;
        clearInterval(meter);
        expire(Infinity);
        sock.close();
        resolve({
          sender: 'node',
          command: `built-in UDP sender: ${o.rate} QPS for ${o.seconds} s, ${o.queries.length} distinct queries, lost after ${LOST_AFTER_MS / 1000} s`,
          sent,
          completed,
          lost,
          qps: completed / Math.min(runS, o.seconds),
          rcodes,
          qpsSeries,
          avgLatencyMs: completed ? latSum / completed : null,
          maxLatencyMs: completed ? latMax : null,
        });
      };
      const drain = setInterval(() => {
        const now = performance.now();
        const late = now - t0 > o.seconds * 1000 + LOST_AFTER_MS;
        if (!stopped && !late && sent < total) return;
        // Sending is over: wait for the replies still owed, at most LOST_AFTER_MS.
        if (outstanding === 0 || stopped || late) {
          clearInterval(drain);
          finish();
        }
      }, 50);
    });
  });
  return {
    pid: null,
    done,
    stop: () => {
      stopped = true;
    },
  };
}
