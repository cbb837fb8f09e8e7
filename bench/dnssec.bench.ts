// DNSSEC costs (issue 11): time to build the answer tables of the sample map and of a generated map
// of 1,000 services x 3 datacenters unsigned and signed (ECDSA P-256 and Ed25519), the signatures
// that takes, the cost of one compact NXDOMAIN proof signed on demand (a cache miss) against a
// cache hit, and the response assembly cost of a signed answer (DO=1) against the unsigned one.
// Run: node --expose-gc dist/bench/dnssec.bench.js [SERVICES=1000]
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMapFile, type MapConfig } from '../src/config';
import { generateKey, loadZoneKeys, validityAt, ZoneSigner, type Algorithm } from '../src/dnssec';
import { buildResponse, parseQuery, Query } from '../src/dns';
import { buildTables } from '../src/routing/pack';
import { CompactDenial } from '../src/routing/compact-denial';
import type { SigningReport } from '../src/routing/build';
import { buildQuery } from '../test/helpers/packet';
import { DEFAULT_MAP } from '../test/helpers/server';

const services = Number(process.argv[2] ?? 1000);
const dir = mkdtempSync(join(tmpdir(), 'gs-dnssec-bench-'));

function generatedMap(): string {
  const base = readFileSync(DEFAULT_MAP, 'utf8');
  const lines = ['services:'];
  for (let i = 0; i < services; i++) {
    const a = (i >> 8) & 255;
    const b = i & 255;
    lines.push(`  s${i}.example.com:`, '    ttl: 60s', '    datacenters:');
    for (const [k, dc] of ['gz', 'bj', 'sg'].entries()) lines.push(`      ${dc}: { a: [10.${k}.${a}.${b}], aaaa: ["2001:db8:${k}::${i.toString(16)}"] }`);
  }
  return base.slice(0, base.indexOf('services:')) + lines.join('\n') + '\n';
}

/** A directory with one combined key of `alg` for example.com (made once). */
function keys(alg: Algorithm): string {
  const d = join(dir, `keys-${alg}`);
  if (!existsSync(d)) {
    mkdirSync(d);
    generateKey('example.com', d, alg, true);
  }
  return d;
}

const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function build(map: MapConfig, keyDir: string | null): { ms: number; signatures: number; answers: number; report: SigningReport | null } {
  const times: number[] = [];
  let signatures = 0;
  let answers = 0;
  let report: SigningReport | null = null;
  for (let run = 0; run < 3; run++) {
    const validity = validityAt(Date.now());
    const stats = { signatures: 0, seconds: 0 };
    const signers = new Map<string, ZoneSigner>();
    const zoneKeys = keyDir ? loadZoneKeys(keyDir, 'example.com') : [];
    if (keyDir) signers.set('example.com', new ZoneSigner('example.com', zoneKeys, validity, stats));
    const t0 = process.hrtime.bigint();
    const t = buildTables(map, undefined, signers);
    times.push(ms(t0));
    signatures = stats.signatures;
    answers = t.nodes.size;
    report = keyDir ? { zones: [{ zone: 'example.com', keys: zoneKeys }], validity, at: Date.now(), nextKeyEvent: null, signatures, seconds: stats.seconds } : null;
  }
  return { ms: median(times), signatures, answers, report };
}

const sampleMap = loadMapFile(DEFAULT_MAP);
const genPath = join(dir, 'map.yaml');
writeFileSync(genPath, generatedMap());
const genMap = loadMapFile(genPath);
console.log(`node ${process.version}, ${services} services x 3 datacenters in the generated map`);
for (const [label, map] of [['sample map', sampleMap], [`${services} services`, genMap]] as const) {
  const plain = build(map, null);
  console.log(`${label}: unsigned build ${plain.ms.toFixed(1)} ms (${plain.answers} names)`);
  for (const alg of [13, 15] as const) {
    const s = build(map, keys(alg));
    console.log(`${label}: signed (alg ${alg}) ${s.ms.toFixed(1)} ms, ${s.signatures} signatures, ${((s.ms - plain.ms) * 1000 / Math.max(1, s.signatures)).toFixed(1)} us per signature over unsigned`);
  }
}

// On-demand compact NXDOMAIN: a miss signs the NSEC; a hit is a Map lookup.
for (const alg of [13, 15] as const) {
  const d = keys(alg);
  const validity = validityAt(Date.now());
  const k = loadZoneKeys(d, 'example.com');
  const signers = new Map([['example.com', new ZoneSigner('example.com', k, validity)]]);
  const t = buildTables(sampleMap, undefined, signers);
  const report: SigningReport = { zones: [{ zone: 'example.com', keys: k }], validity, at: Date.now(), nextKeyEvent: null, signatures: 0, seconds: 0 };
  const denial = new CompactDenial(report, new Map([['example.com', 300]]));
  const q = new Query();
  const n = 5000;
  const packets = Array.from({ length: n }, (_, i) => buildQuery({ name: `miss${i}.example.com`, edns: { dnssecOk: true } }));
  const nx = t.nxdomain.get('example.com');
  if (!nx) throw new Error('no NXDOMAIN answer');
  let t0 = process.hrtime.bigint();
  for (const p of packets) {
    parseQuery(p, q);
    buildResponse(q, denial.answer(q, 'example.com', nx.forLength(q.questionEnd - 16)), 1232);
  }
  const miss = (ms(t0) * 1000) / n;
  t0 = process.hrtime.bigint();
  for (const p of packets) {
    parseQuery(p, q);
    buildResponse(q, denial.answer(q, 'example.com', nx.forLength(q.questionEnd - 16)), 1232);
  }
  const hit = (ms(t0) * 1000) / n;
  console.log(`compact NXDOMAIN (alg ${alg}): ${miss.toFixed(1)} us per miss (parse + sign + reply), ${hit.toFixed(2)} us per hit`);
}

// Response assembly: a signed answer is other prebuilt bytes, not more work.
{
  const d = keys(13);
  const signers = new Map([['example.com', new ZoneSigner('example.com', loadZoneKeys(d, 'example.com'), validityAt(Date.now()))]]);
  const t = buildTables(sampleMap, undefined, signers);
  const entry = t.nodes.get('mail.example.com')?.types.get(1);
  if (!entry || entry.dynamic) throw new Error('mail.example.com A');
  for (const dnssecOk of [false, true]) {
    const p = buildQuery({ name: 'mail.example.com', edns: { dnssecOk } });
    const q = new Query();
    const n = 500_000;
    let bytes = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      parseQuery(p, q);
      bytes = buildResponse(q, entry.answer, 1232).length;
    }
    console.log(`parse + reply, mail.example.com A, DO=${dnssecOk ? 1 : 0}: ${((ms(t0) * 1000) / n).toFixed(3)} us, ${bytes} bytes`);
  }
}
