// Cost of response rate limiting on the query path: DnsServer.handle() in a
// loop, no sockets, with RRL off, on for an exempt (loopback) client, and on
// for 1,000 IPv4 and IPv6 clients under the rate (every response checked, all pass).
// Run: node dist/bench/rrl.bench.js [iterations]
import { resolve } from 'node:path';
import { loadMapFile, type MapConfig } from '../src/config';
import { DEFAULT_RRL_CONFIG } from '../src/config/rrl-config';
import { DnsServer, type RrlConfig } from '../src/dns';
import { GeoClassifier, GeoDatabase } from '../src/geo';
import { HealthMirror, MemoryStore } from '../src/health';
import { Router } from '../src/routing';
import { buildQuery, ecsOption } from '../test/helpers/packet';

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 2_000_000);
  const base = loadMapFile(resolve(__dirname, '../../geodata/map.yaml'));
  const db = GeoDatabase.open(GeoDatabase.defaultPaths());
  const mirror = new HealthMirror(new MemoryStore(), {});
  await mirror.start();
  const classifier = new GeoClassifier(db, base.rules);
  const server = (rrl: RrlConfig | null): DnsServer => {
    const map: MapConfig = { ...base, server: { ...base.server, rrl } };
    return new DnsServer(new Router(map, classifier, mirror));
  };
  const generous: RrlConfig = { ...DEFAULT_RRL_CONFIG, responsesPerSecond: 1e6, errorsPerSecond: 1e6 };
  const v4 = Array.from({ length: 1000 }, (_, i) => `198.${(i >> 8) & 255}.${i & 255}.7`);
  const v6 = Array.from({ length: 1000 }, (_, i) => `2001:db8:${i.toString(16)}:42::53`);
  const query = buildQuery({ name: 'www.example.com', edns: { options: [ecsOption('183.6.0.0', 24)] } });
  const cases: Array<[string, DnsServer, string[]]> = [
    ['rrl off', server(null), ['127.0.0.1']],
    ['rrl on, loopback (exempt)', server(DEFAULT_RRL_CONFIG), ['127.0.0.1']],
    ['rrl on, 1000 IPv4 clients', server(generous), v4],
    ['rrl on, 1000 IPv6 clients', server(generous), v6],
  ];
  const best = cases.map(() => Infinity);
  for (let round = 0; round < 5; round++) {
    cases.forEach(([, dns, clients], c) => {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < n; i++) dns.handle(query, clients[i % clients.length], false);
      best[c] = Math.min(best[c], Number(process.hrtime.bigint() - t0) / n);
    });
  }
  console.log(`service A + ECS, ${n} handle() calls per round, best of 5 (rounds interleaved)`);
  cases.forEach(([label], c) => console.log(`${label.padEnd(28)} ${best[c].toFixed(1)} ns/query`));
  for (const [label, dns] of cases) {
    const s = dns.stats;
    if (s.rrlDropped + s.rrlSlipped > 0) console.log(`unexpected: ${label} limited ${s.rrlDropped + s.rrlSlipped}`);
  }
  await mirror.stop();
}

void main();
