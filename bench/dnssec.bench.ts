// DNSSEC costs (issue 11): time to build the answer tables of the sample map and of a generated map
// of 1,000 services x 3 datacenters unsigned and signed (ECDSA P-256 and Ed25519), the signatures
// that takes, the cost of one compact NXDOMAIN proof signed on demand (a cache miss) against a
// cache hit, the response assembly cost of a signed answer (DO=1) against the unsigned one, what one
// verdict flip costs signed and unsigned (applyHealth: every variant was signed at build, so a flip makes
// no signature), and the memory signing takes: in the build worker, in the tables kept and in a whole serve.
// Run: node --expose-gc dist/bench/dnssec.bench.js [SERVICES=1000]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMapFile, type MapConfig } from '../src/config';
import { generateKey, loadZoneKeys, validityAt, ZoneSigner, type Algorithm } from '../src/dnssec';
import { buildResponse, parseQuery, Query } from '../src/dns';
import { applyHealth, buildPacked, buildServices, type RoutingTables } from '../src/routing/tables';
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

// One verdict flip: s0's first datacenter (gz) goes down, then up again, each followed by applyHealth
// as the router runs it on a health `change`. Timed over many flips; the signer's count says whether a
// flip signed anything, and the answer the south region gets after it must be a signed one.
function flips(map: MapConfig, keyDir: string | null): { us: number; signatures: number; signedAnswer: boolean } {
  const stats = { signatures: 0, seconds: 0 };
  const signers = new Map<string, ZoneSigner>();
  if (keyDir) signers.set('example.com', new ZoneSigner('example.com', loadZoneKeys(keyDir, 'example.com'), validityAt(Date.now()), stats));
  const t: RoutingTables = buildTables(map, undefined, signers);
  const name = map.services[0].name;
  const svc = t.services.find((x) => x.config.name === name);
  const entry = t.nodes.get(name)?.types.get(1);
  if (!svc || !entry?.dynamic) throw new Error(`${name} A`);
  const gz = map.datacenters.findIndex((d) => d.name === 'gz');
  const south = map.regions.findIndex((r) => r.name === 'south');
  let down = false;
  const isUp = (si: number, dc: number): boolean => !(down && si === svc.index && dc === gz);
  applyHealth(t, isUp);
  const before = stats.signatures;
  const n = 2000;
  const times: number[] = [];
  let signedAnswer = true;
  for (let i = 0; i < n; i++) {
    down = !down;
    const t0 = process.hrtime.bigint();
    if (!applyHealth(t, isUp)) throw new Error('the flip changed nothing');
    times.push(Number(process.hrtime.bigint() - t0) / 1e3);
    const answer = entry.answers[svc.choice[south]];
    if (keyDir && answer.signed === null) signedAnswer = false;
  }
  return { us: median(times), signatures: stats.signatures - before, signedAnswer };
}
for (const [label, map] of [['sample map', sampleMap], [`${services} services`, genMap]] as const) {
  const plain = flips(map, null);
  const signed = flips(map, keys(13));
  console.log(
    `${label}: one verdict flip (applyHealth over every service) ${plain.us.toFixed(1)} us unsigned, ${signed.us.toFixed(1)} us signed; ` +
      `signatures made by the flips: ${signed.signatures}; south's answer after each flip signed: ${signed.signedAnswer}`,
  );
}

// Memory. In the build worker, the in-place tables (freed once packed); in the answering thread the packed
// answer bytes it keeps; and a whole serve of the generated map, unsigned and signed, each in its own process
// (serve-rss.ts), so one's garbage is not the other's.
{
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    const settle = (): void => {
      for (let i = 0; i < 4; i++) gc(); // Buffers' external memory goes a collection after their objects
    };
    const held = (keyDir: string | null): { tables: number; packed: number } => {
      settle();
      const m0 = process.memoryUsage();
      const signers = new Map<string, ZoneSigner>();
      if (keyDir) signers.set('example.com', new ZoneSigner('example.com', loadZoneKeys(keyDir, 'example.com'), validityAt(Date.now())));
      const packed = buildPacked(genMap, buildServices(genMap), signers, new Map());
      settle();
      const m1 = process.memoryUsage();
      return { tables: (m1.heapUsed + m1.arrayBuffers - m0.heapUsed - m0.arrayBuffers) / 2 ** 20, packed: (packed.body.length + packed.answers.byteLength) / 2 ** 20 };
    };
    held(null); // once first, so what the runs above left is gone before the two measured
    const plain = held(null);
    const signed = held(keys(13));
    console.log(`${services} services: build process's packed tables ${plain.tables.toFixed(1)} MB unsigned, ${signed.tables.toFixed(1)} MB signed (heap + array buffers); packed answers the server keeps ${plain.packed.toFixed(1)} MB, ${signed.packed.toFixed(1)} MB`);
    const signedPath = join(dir, 'map-signed.yaml');
    const signedText = readFileSync(genPath, 'utf8').replace('    ns: [ns1.example.com, ns2.example.com]\n', '    ns: [ns1.example.com, ns2.example.com]\n    dnssec: { keys: keys-13 }\n');
    if (!signedText.includes('dnssec:')) throw new Error('could not sign the generated map');
    writeFileSync(signedPath, signedText);
    for (const [label, path] of [['unsigned', genPath], ['signed', signedPath]]) {
      const out = execFileSync(process.execPath, ['--expose-gc', join(__dirname, 'serve-rss.js'), path], { encoding: 'utf8' });
      const m = JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>;
      console.log(`${services} services, serve ${label}: RSS ${m.rssStarted} MB after start, peak ${m.rssPeak} MB; after GC heap ${m.heapKept} MB, external ${m.externalKept} MB, RSS ${m.rssAfterGc} MB`);
    }
  } else console.log('memory: run with node --expose-gc');
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
