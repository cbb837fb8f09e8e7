// Cost of the query-path counters: DnsServer.handle() in a loop, no sockets.
// Run: node dist/bench/query-metrics.bench.js [iterations]
// Prints ns per handle() call for a few query mixes, and the cost of performance.now().
import { loadMapFile } from '../src/config';
import { DnsServer, DnsStats, parseQuery, Query } from '../src/dns';
import { GeoClassifier, GeoDatabase } from '../src/geo';
import { HealthMirror, MemoryStore } from '../src/health';
import { Router } from '../src/routing';
import { buildQuery, ecsOption } from '../test/helpers/packet';
import { resolve } from 'node:path';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2_000_000);
  const map = loadMapFile(resolve(__dirname, '../../geodata/map.yaml'));
  const db = GeoDatabase.open(GeoDatabase.defaultPaths());
  const mirror = new HealthMirror(new MemoryStore(), {});
  await mirror.start();
  const router = new Router(map, new GeoClassifier(db, map.rules), mirror);
  const dns = new DnsServer(router);
  const mixes: Array<[string, Buffer[]]> = [
    ['service A + ECS (GD)', [buildQuery({ name: 'www.example.com', edns: { options: [ecsOption('183.6.0.0', 24)] } })]],
    ['service A, no ECS', [buildQuery({ name: 'www.example.com' })]],
    ['static MX', [buildQuery({ name: 'example.com', type: 15 })]],
    ['NXDOMAIN', [buildQuery({ name: 'nope.example.com' })]],
  ];
  const rounds = 5;
  console.log(`${n} handle() calls per round, best of ${rounds}`);
  const timings = (process.env.TIMING ?? '0,1,64').split(',').map(Number);
  console.log(`${'query'.padEnd(24)} ${timings.map((t) => (t === 0 ? 'untimed' : `timed 1/${t}`).padStart(12)).join('')}  (ns per handle())`);
  for (const [label, qs] of mixes) {
    const cols: string[] = [];
    for (const every of timings) {
      dns.stats.setTiming(every);
      let best = Infinity;
      for (let r = 0; r < rounds; r++) {
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < n; i++) dns.handle(qs[i % qs.length], '127.0.0.1', false);
        best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
      }
      cols.push(best.toFixed(1).padStart(12));
    }
    console.log(`${label.padEnd(24)} ${cols.join('')}`);
  }
  // The counting alone, on a parsed query: what handle() pays per query for metrics
  // (old: one rcode increment; new: startTiming() + count()). Rounds interleaved, best kept.
  const q = new Query();
  parseQuery(mixes[0][1][0], q);
  const st = new DnsStats();
  const variants: Array<[string, () => void]> = [
    ['rcode increment only (before)', () => {
      for (let i = 0; i < n; i++) st.rcodes[i & 1 ? 0 : 3]++;
    }],
    ['startTiming()+count(), untimed', () => {
      st.setTiming(0);
      for (let i = 0; i < n; i++) st.count(q, '127.0.0.1', false, i & 1 ? 0 : 3, st.startTiming());
    }],
    ['startTiming()+count(), 1/64 timed', () => {
      st.setTiming(64);
      for (let i = 0; i < n; i++) st.count(q, '127.0.0.1', false, i & 1 ? 0 : 3, st.startTiming());
    }],
    ['startTiming()+count(), all timed', () => {
      st.setTiming(1);
      for (let i = 0; i < n; i++) st.count(q, '127.0.0.1', false, i & 1 ? 0 : 3, st.startTiming());
    }],
  ];
  const bestOf = variants.map(() => Infinity);
  for (let r = 0; r < rounds * 2; r++) {
    variants.forEach(([, fn], i) => {
      const t0 = process.hrtime.bigint();
      fn();
      bestOf[i] = Math.min(bestOf[i], Number(process.hrtime.bigint() - t0) / n);
    });
  }
  variants.forEach(([label], i) => console.log(`${label.padEnd(34)} ${bestOf[i].toFixed(1)} ns/query`));
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) sink += performance.now();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  console.log(`${'performance.now()'.padEnd(24)} ${best.toFixed(1)} ns/call${sink < 0 ? '!' : ''}`);
  router.detach();
  mirror.stop();
}

void main();
