// Big zones (issue 15): load time, reload time and memory of a zone file of N
// mixed records (A, AAAA, TXT, MX, CNAME; test/helpers/big-zone.ts), and the
// worst reply delay of a client querying every 2 ms across the reload.
// Run: node --expose-gc dist/bench/big-zone.bench.js [N=1000000]
// The server runs in this process, as `serve` does; the query loop runs in a
// child process, so a blocked event loop here shows up as late replies there.
import { fork, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
}

/** Child: one A query every 2 ms to 127.0.0.1:PORT until told to stop, then 2 s for late replies. */
function client(port: number): void {
  const sock = createSocket('udp4');
  const sentAt = new Map<number, bigint>();
  const lat: number[] = [];
  let id = 0;
  sock.on('message', (msg) => {
    const t = sentAt.get(msg.readUInt16BE(0));
    if (t === undefined) return;
    sentAt.delete(msg.readUInt16BE(0));
    lat.push(Number(process.hrtime.bigint() - t) / 1e6);
  });
  const q = buildQuery({ name: 'n0.example.com' });
  const timer = setInterval(() => {
    id = (id + 1) & 0xffff;
    q.writeUInt16BE(id, 0);
    sentAt.set(id, process.hrtime.bigint());
    sock.send(q, port, '127.0.0.1');
  }, 2);
  process.send?.('ready');
  process.on('message', () => {
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
      };
      process.send?.(r, () => process.exit(0));
    }, 2000);
  });
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

  const child: ChildProcess = fork(__filename, ['--client', String(port)]);
  await new Promise((ok) => child.once('message', ok));
  await new Promise((ok) => setTimeout(ok, 1000));
  appendFileSync(zone, 'reloaded A 192.0.2.99\n');
  t = Date.now();
  const ok = await s.reload('bench');
  const reloadMs = Date.now() - t;
  await new Promise((done) => setTimeout(done, 1000));
  const after = mem();
  child.send('stop');
  const loop = await new Promise<LoopReport>((done) => child.once('message', (m) => done(m as LoopReport)));
  await s.close();
  rmSync(dir, { recursive: true, force: true });

  const perRecord = ((loaded.rss - base.rss) * 1e6) / n;
  console.log(`check (loadMapFile: read, parse, validate)  ${checkMs} ms`);
  console.log(`serve start (load + build answers)         ${startMs} ms`);
  console.log(`reload (one record appended)               ${reloadMs} ms, ${ok ? 'applied' : 'REFUSED'}`);
  console.log(`RSS: sample map ${base.rss.toFixed(0)} MB, loaded ${loaded.rss.toFixed(0)} MB, after reload ${after.rss.toFixed(0)} MB`);
  console.log(`heap used: sample map ${base.heap.toFixed(0)} MB, loaded ${loaded.heap.toFixed(0)} MB${gc ? '' : ' (no --expose-gc: includes garbage)'}`);
  console.log(`memory per record (RSS over the sample map) ${perRecord.toFixed(0)} bytes`);
  console.log(`2 ms query loop across the reload: ${loop.sent} sent, ${loop.lost} lost, worst ${loop.maxMs.toFixed(1)} ms, p99 ${loop.p99Ms.toFixed(2)} ms, ${loop.over10} over 10 ms`);
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
