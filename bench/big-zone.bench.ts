// Big zones (issue 15): load time, reload time and memory of a zone file of N
// mixed records (A, AAAA, TXT, MX, CNAME; test/helpers/big-zone.ts), and the
// worst reply delay of a client querying every 2 ms across the reload.
// Run: node --expose-gc dist/bench/big-zone.bench.js [N=1000000]
// KNOT=1 also runs Knot DNS (knotd, Debian package knot) on the same records:
// time to the first answer from the last record, RSS, reload and the same loop.
// The server runs in this process, as `serve` does; the query loop runs in a
// child process, so a blocked event loop here shows up as late replies there.
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { loadMapFile } from '../src/config';
import { serve } from '../src/cli/serve';
import { createLogger } from '../src/observability';
import { writeBigZone } from '../test/helpers/big-zone';
import { buildQuery } from '../test/helpers/packet';
import { DEFAULT_MAP } from '../test/helpers/server';

const gc = (globalThis as { gc?: () => void }).gc;

function mem(): { rss: number; heap: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss / 1e6, heap: m.heapUsed / 1e6 };
}

interface LoopReport {
  sent: number;
  answered: number;
  lost: number;
  maxMs: number;
  p99Ms: number;
  over10: number;
  /** The slowest replies: [when sent (ms since the epoch), how long it took (ms)]. */
  slowest: Array<[number, number]>;
  /** The loop's own stalls (its 2 ms timer late by over 4 ms): [when (ms since the epoch), ms]. A slow reply at the
   * same moment was this process's delay, not the server's. */
  clientStalls: Array<[number, number]>;
}

/**
 * Child: one A query every 2 ms to 127.0.0.1:PORT until told to stop, then 2 s for late replies. 'mark' starts the
 * count afresh: the figures cover the reload, not the loop's own first queries (its first reply takes 10-20 ms, as a
 * new process's first send and receive run cold).
 */
function client(port: number): void {
  const sock = createSocket('udp4');
  const sentAt = new Map<number, bigint>();
  const sentWall = new Map<number, number>();
  const lat: number[] = [];
  const slow: Array<[number, number]> = [];
  const stalls: Array<[number, number]> = [];
  let lastTick = Date.now();
  let id = 0;
  sock.on('message', (msg) => {
    const t = sentAt.get(msg.readUInt16BE(0));
    if (t === undefined) return;
    sentAt.delete(msg.readUInt16BE(0));
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    lat.push(ms);
    if (ms > 5) slow.push([sentWall.get(msg.readUInt16BE(0)) ?? 0, ms]);
  });
  const q = buildQuery({ name: 'n0.example.com' });
  const timer = setInterval(() => {
    const now = Date.now();
    if (now - lastTick > 6) stalls.push([lastTick, now - lastTick]);
    lastTick = now;
    id = (id + 1) & 0xffff;
    q.writeUInt16BE(id, 0);
    sentAt.set(id, process.hrtime.bigint());
    sentWall.set(id, Date.now());
    sock.send(q, port, '127.0.0.1');
  }, 2);
  process.send?.('ready');
  process.on('message', (m) => {
    if (m === 'mark') {
      lat.length = 0;
      slow.length = 0;
      stalls.length = 0;
      return;
    }
    clearInterval(timer);
    setTimeout(() => {
      lat.sort((a, b) => a - b);
      const r: LoopReport = {
        sent: lat.length + sentAt.size,
        answered: lat.length,
        lost: sentAt.size,
        maxMs: lat[lat.length - 1] ?? 0,
        p99Ms: lat[Math.floor(lat.length * 0.99)] ?? 0,
        over10: lat.filter((x) => x > 10).length,
        slowest: slow.sort((a, b) => b[1] - a[1]).slice(0, 8),
        clientStalls: stalls.sort((a, b) => b[1] - a[1]).slice(0, 5),
      };
      process.send?.(r, () => process.exit(0));
    }, 2000);
  });
}

/** Starts the query loop against PORT in a child process; resolves when it is sending. */
async function startLoop(port: number): Promise<{ mark: () => void; stop: () => Promise<LoopReport> }> {
  const child: ChildProcess = fork(__filename, ['--client', String(port)]);
  await new Promise((ok) => child.once('message', ok));
  return {
    mark: () => child.send('mark'),
    stop: () => {
      child.send('stop');
      return new Promise<LoopReport>((done) => child.once('message', (m) => done(m as LoopReport)));
    },
  };
}

const formatLoop = (l: LoopReport, t0 = 0): string =>
  `${l.sent} sent, ${l.lost} lost, worst ${l.maxMs.toFixed(1)} ms, p99 ${l.p99Ms.toFixed(2)} ms, ${l.over10} over 10 ms` +
  (t0 ? `; slowest (sent at ms after the reload began: took ms) ${l.slowest.map(([at, ms]) => `${at - t0}: ${ms.toFixed(1)}`).join(', ')}` : '') +
  (t0 ? `; the loop's own stalls over 6 ms (at: ms) ${l.clientStalls.map(([at, ms]) => `${at - t0}: ${ms}`).join(', ') || 'none'}` : '');

/** True once 127.0.0.1:PORT answers NAME A with NOERROR and an answer. */
function answers(port: number, name: string): Promise<boolean> {
  return new Promise((done) => {
    const sock = createSocket('udp4');
    const t = setTimeout(() => {
      sock.close();
      done(false);
    }, 200);
    sock.on('message', (m) => {
      clearTimeout(t);
      sock.close();
      done((m[3] & 0x0f) === 0 && m.readUInt16BE(6) > 0);
    });
    sock.send(buildQuery({ name, id: 7 }), port, '127.0.0.1');
  });
}

async function untilAnswers(port: number, name: string, ms: number): Promise<number> {
  const t0 = Date.now();
  while (!(await answers(port, name))) {
    if (Date.now() - t0 > ms) throw new Error(`${name} not answered after ${ms} ms`);
    await new Promise((ok) => setTimeout(ok, 20));
  }
  return Date.now() - t0;
}

const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

/** Knot DNS 3 on the same records, one UDP worker (geosteer runs on one thread). */
async function knot(n: number, records: string, port: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-big-zone-knot-'));
  mkdirSync(join(dir, 'run'));
  const zone = (serial: number, extra = ''): string =>
    `$ORIGIN example.com.\n$TTL 3600\n@ SOA ns1 hostmaster ${serial} 3600 600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n${readFileSync(records, 'utf8')}${extra}`;
  writeFileSync(join(dir, 'example.com.zone'), zone(1));
  const conf = join(dir, 'knot.conf');
  writeFileSync(
    conf,
    `server:\n  rundir: "${dir}/run"\n  listen: 127.0.0.1@${port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n` +
      `control:\n  listen: "${dir}/run/knot.sock"\nlog:\n  - target: stderr\n    any: warning\ndatabase:\n  storage: "${dir}/db"\n` +
      `template:\n  - id: default\n    storage: "${dir}"\n    file: "%s.zone"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n` +
      `zone:\n  - domain: example.com\n`,
  );
  const t = Date.now();
  const k = spawn('knotd', ['-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    await untilAnswers(port, `n${n - 5}.example.com`, 600_000);
    const startMs = Date.now() - t;
    const rss = rssOf(k.pid as number);
    const loop = await startLoop(port);
    await new Promise((ok) => setTimeout(ok, 1000));
    writeFileSync(join(dir, 'next.zone'), zone(2, 'reloaded A 192.0.2.99\n'));
    renameSync(join(dir, 'next.zone'), join(dir, 'example.com.zone'));
    loop.mark();
    const r0 = Date.now();
    execFileSync('knotc', ['-c', conf, 'zone-reload', 'example.com']);
    await untilAnswers(port, 'reloaded.example.com', 600_000);
    const reloadMs = Date.now() - r0;
    // As long after the reload as geosteer's loop runs.
    await new Promise((ok) => setTimeout(ok, 3000));
    const rssAfter = rssOf(k.pid as number);
    const report = await loop.stop();
    console.log(`knot: start to the last record answered   ${startMs} ms`);
    console.log(`knot: reload (knotc zone-reload to answer) ${reloadMs} ms`);
    console.log(`knot: RSS loaded ${rss.toFixed(0)} MB, after reload ${rssAfter.toFixed(0)} MB, ${((rss * 1e6) / n).toFixed(0)} bytes per record`);
    console.log(`knot: 2 ms query loop across the reload: ${formatLoop(report)}`);
  } finally {
    k.kill('SIGTERM');
    await new Promise((ok) => k.once('exit', ok));
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-big-zone-bench-'));
  const t0 = Date.now();
  const zone = writeBigZone(dir, n);
  const map = join(dir, 'map.yaml');
  writeFileSync(map, `limits: { zone_records: ${Math.max(n + 100, 1_000_000)} }\n` + readFileSync(DEFAULT_MAP, 'utf8').replace('    records: |', '    file: big.zone\n    records: |'));
  console.log(`${n} records, ${(readFileSync(zone).length / 1e6).toFixed(1)} MB zone file, written in ${Date.now() - t0} ms`);

  const log = createLogger('silent');
  // Baseline: the sample map alone (GeoIP database, region trie, a few names).
  const small = await serve({ config: DEFAULT_MAP, listen: ['127.0.0.1:0'], logger: log });
  const base = mem();
  await small.close();

  let t = Date.now();
  loadMapFile(map);
  const checkMs = Date.now() - t;

  t = Date.now();
  const s = await serve({ config: map, listen: ['127.0.0.1:0'], logger: log, mapPollMs: 3_600_000 });
  const startMs = Date.now() - t;
  const loaded = mem();
  const port = s.addresses[0].port;

  // What pauses this thread while the loop runs: its GCs (the build runs in a worker, which has its own heap).
  const pauses: Array<[number, number, string]> = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (e.duration > 2) pauses.push([performance.timeOrigin + e.startTime, e.duration, String((e as unknown as { detail?: { kind?: number } }).detail?.kind ?? '')]);
  });
  obs.observe({ entryTypes: ['gc'] });
  // And whether this thread's event loop stalls at all (a late reply with no gap here was late elsewhere: the client, the kernel).
  // With the loop's active time in the gap: near the gap = this thread ran (or was descheduled while running), near 0 = it
  // sat idle in epoll and was woken late.
  const gaps: Array<[number, number, number]> = [];
  let tick = Date.now();
  let elu = performance.eventLoopUtilization();
  const ticker = setInterval(() => {
    const now = Date.now();
    const e = performance.eventLoopUtilization();
    if (now - tick > 6) gaps.push([tick, now - tick, e.active - elu.active]);
    tick = now;
    elu = e;
  }, 1);
  const loopRun = await startLoop(port);
  await new Promise((ok) => setTimeout(ok, 1000));
  appendFileSync(zone, 'reloaded A 192.0.2.99\n');
  loopRun.mark();
  t = Date.now();
  const reloadAt = t;
  const ok = await s.reload('bench');
  const reloadMs = Date.now() - t;
  // 3 s: serve hands the retired tables back to V8 1 s after the swap (routing/pack-file.ts releaseTablesLater).
  await new Promise((done) => setTimeout(done, 3000));
  const settledRss = process.memoryUsage().rss / 1e6;
  // Stopped before mem(): its forced GCs are the bench's, not serve's.
  const loop = await loopRun.stop();
  obs.disconnect();
  clearInterval(ticker);
  const after = mem();
  await s.close();

  const perRecord = ((loaded.rss - base.rss) * 1e6) / n;
  console.log(`check (loadMapFile: read, parse, validate)  ${checkMs} ms`);
  console.log(`serve start (load + build answers)         ${startMs} ms`);
  console.log(`reload (one record appended)               ${reloadMs} ms, ${ok ? 'applied' : 'REFUSED'}`);
  console.log(`RSS: sample map ${base.rss.toFixed(0)} MB, loaded ${loaded.rss.toFixed(0)} MB, after reload ${settledRss.toFixed(0)} MB (3 s, no forced GC), ${after.rss.toFixed(0)} MB (forced GC)`);
  console.log(`heap used: sample map ${base.heap.toFixed(0)} MB, loaded ${loaded.heap.toFixed(0)} MB${gc ? '' : ' (no --expose-gc: includes garbage)'}`);
  console.log(`memory per record (RSS over the sample map) ${perRecord.toFixed(0)} bytes`);
  console.log(`2 ms query loop across the reload: ${formatLoop(loop, reloadAt)}`);
  console.log(`answering thread event-loop gaps over 6 ms (ms after the reload began: ms): ${gaps.sort((a, b) => b[1] - a[1]).slice(0, 8).map(([at, ms, active]) => `${at - reloadAt}: ${ms} (active ${active.toFixed(0)})`).join(', ') || 'none'}`);
  console.log(`answering thread GC pauses over 2 ms (ms after the reload began: took ms, kind): ${pauses.map(([at, ms, k]) => `${Math.round(at - reloadAt)}: ${ms.toFixed(1)} (${k})`).join(', ') || 'none'}`);
  // The same port: geosteer has let it go.
  if (process.env.KNOT === '1') await knot(n, zone, port);
  rmSync(dir, { recursive: true, force: true });
}

if (process.argv[2] === '--client') client(Number(process.argv[3]));
else
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
