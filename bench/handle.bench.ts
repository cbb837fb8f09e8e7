// JavaScript cost of one UDP query on the batched path, no sockets: the wide
// workload's queries (dnsperf's raw file from ../shared/bench, many ECS
// subnets, from 127.0.0.1 as dnsperf sends them: RRL-exempt) through
// DnsServer.handleInto() a send ring, as onBatch does.
// Run: node dist/bench/handle.bench.js [rounds=7] [file=/tmp/geodns-bench/queries/wide-ecs.bin]
// Add --cpu-prof before the script for a profile of the same loop.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DnsServer } from '../src/dns';
import { GeoClassifier, GeoDatabase } from '../src/geo';
import { HealthMirror, MemoryStore } from '../src/health';
import { buildInWorker, Router } from '../src/routing';

/** dnsperf -B format: each message preceded by its length, 2 bytes big-endian. */
function readRaw(file: string): Buffer[] {
  const all = readFileSync(file);
  const out: Buffer[] = [];
  for (let o = 0; o + 2 <= all.length; ) {
    const len = all.readUInt16BE(o);
    out.push(Buffer.from(all.subarray(o + 2, o + 2 + len)));
    o += 2 + len;
  }
  return out;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 7);
  const queries = readRaw(process.argv[3] ?? '/tmp/geodns-bench/queries/wide-ecs.bin');
  // Built the way serve builds it: in the build worker, packed, handed over (so the lookups are the packed tables').
  const built = await buildInWorker({ kind: 'file', path: resolve(__dirname, '../../bench/map.yaml') });
  const db = GeoDatabase.open(GeoDatabase.geoLite2Path());
  const mirror = new HealthMirror(new MemoryStore(), {});
  await mirror.start();
  const dns = new DnsServer(new Router(built.map, new GeoClassifier(db, built.map.rules), mirror, built.prebuilt));
  // One ring the size of the addon's, filled the way onBatch fills it: copy of each datagram in, reply copied out.
  const SLOTS = 64;
  const STRIDE = 65536 + 128;
  const ring = Buffer.alloc(SLOTS * STRIDE);
  const send = Buffer.alloc(SLOTS * 4096);
  const lens = new Int32Array(SLOTS);
  // CPU time (user + system) of this thread, not wall time: the box is shared, and being descheduled is not cost.
  const cpu = (): number => {
    const u = process.cpuUsage();
    return u.user + u.system;
  };
  const fill = (base: number, n: number): void => {
    for (let i = 0; i < n; i++) {
      queries[base + i].copy(ring, i * STRIDE);
      lens[i] = queries[base + i].length;
    }
  };
  let best = Infinity;
  let bytes = 0;
  for (let r = 0; r < rounds; r++) {
    const f0 = cpu();
    for (let base = 0; base < queries.length; base += SLOTS) fill(base, Math.min(SLOTS, queries.length - base));
    const fillUs = cpu() - f0;
    const t0 = cpu();
    for (let base = 0; base < queries.length; base += SLOTS) {
      const n = Math.min(SLOTS, queries.length - base);
      fill(base, n);
      for (let i = 0; i < n; i++) {
        bytes += dns.handleInto(ring.subarray(i * STRIDE, i * STRIDE + lens[i]), '127.0.0.1', send, i * 4096);
      }
    }
    const ns = ((cpu() - t0 - fillUs) * 1000) / queries.length;
    if (r > 0) best = Math.min(best, ns); // round 0 warms the JIT
  }
  console.log(`${queries.length} queries x ${rounds} rounds: best ${best.toFixed(0)} ns of CPU per query (handleInto() the send ring), ${bytes} reply bytes`);
}

void main();
