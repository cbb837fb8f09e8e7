// Region trie vs direct classification. Run: node --expose-gc dist/bench/geo-trie.bench.js
// (without --expose-gc the memory column is noisier). Prints a small table.
// With --verify [file.mmdb]: also checks every block of the MMDB (about 15 s for GeoLite2-City) against the trie.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Reader } from 'maxmind';
import { loadMapFile } from '../src/config';
import { GeoClassifier, GeoDatabase, RegionTrie, packedRegion, packedScope, type RegionRules } from '../src/geo';
import { buildMatch } from '../src/geo/database';
import { decide } from '../src/geo/rules';
import { parseIp } from '../src/common/ip';
import { prng } from '../test/helpers/random';

const gc = (globalThis as { gc?: () => void }).gc;

function memMB(): { heap: number; ab: number; rss: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed / 1e6, ab: m.arrayBuffers / 1e6, rss: m.rss / 1e6 };
}


function addresses(n: number, family: 4 | 6, seed: number): Uint8Array[] {
  const next = prng(seed);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    if (family === 4) {
      const x = next();
      out.push(new Uint8Array([x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255]));
    } else {
      // Inside 2400::/8 (APNIC space), where the tree is deep.
      const a = new Uint8Array(16);
      for (let j = 0; j < 16; j++) a[j] = next() & 255;
      a[0] = 0x24;
      out.push(a);
    }
  }
  return out;
}

/** ns per call of fn over addrs, best of `rounds` timed passes after a warm-up pass. */
function nsPerOp(addrs: Uint8Array[], passes: number, fn: (a: Uint8Array) => number, rounds = 5): number {
  let sink = 0;
  for (const a of addrs) sink += fn(a);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < passes; p++) for (let i = 0; i < addrs.length; i++) sink += fn(addrs[i]);
    const ns = Number(process.hrtime.bigint() - t0) / (passes * addrs.length);
    if (ns < best) best = ns;
  }
  if (sink === 0.5) console.log('unreachable');
  return best;
}

function main(): void {
  const mapPath = join(__dirname, '../../geodata/map.yaml');
  const rules = loadMapFile(mapPath).rules;
  const db = GeoDatabase.open(GeoDatabase.defaultPaths());
  console.log(`database: ${db.description}; map: ${mapPath} (${rules.regions.length} regions, ${rules.cidrs.length} cidrs)`);
  if (!gc) console.log('(run with --expose-gc for exact memory numbers)');

  const before = memMB();
  const builds: number[] = [];
  let trie = RegionTrie.build(db, rules);
  builds.push(trie.buildMs);
  const afterFirst = memMB();
  for (let i = 0; i < 4; i++) {
    trie = RegionTrie.build(db, rules);
    builds.push(trie.buildMs);
  }
  const after = memMB();
  const sorted = [...builds].sort((a, b) => a - b);

  const gc0 = new GeoClassifier(db, rules, { trie, cacheSize: 0 });
  const gcCached = new GeoClassifier(db, rules, { trie, cacheSize: 1 << 17 });
  const v4 = addresses(1 << 16, 4, 1);
  const v6 = addresses(1 << 16, 6, 2);
  const few = v4.slice(0, 1 << 12);
  // Chinese /8s, where networks are small and the trie goes below the jump table.
  const cn = addresses(1 << 16, 4, 3).map((a, i) => ((a[0] = [113, 183, 223, 59][i & 3]), a));

  const rows: [string, string][] = [
    ['build ms (first / median of 5)', `${builds[0].toFixed(0)} / ${sorted[2].toFixed(0)}`],
    ['MMDB records decoded', String(trie.recordCount)],
    ['trie nodes', String(trie.nodeCount)],
    ['trie size MB', (trie.byteLength / 1e6).toFixed(2)],
    ['retained MB after 1st build (heap+arrayBuffers)', (afterFirst.heap + afterFirst.ab - before.heap - before.ab).toFixed(1)],
    ['retained MB after 5 builds (heap+arrayBuffers)', (after.heap + after.ab - before.heap - before.ab).toFixed(1)],
    ['rss growth MB over 5 builds (incl. transient peak)', (after.rss - before.rss).toFixed(1)],
    ['trie.locate IPv4 random ns/op', nsPerOp(v4, 20, (a) => trie.locate(a)).toFixed(1)],
    ['trie.locate IPv4 in 113/8 183/8 223/8 59/8 ns/op', nsPerOp(cn, 20, (a) => trie.locate(a)).toFixed(1)],
    ['trie.locate IPv6 2400::/8 ns/op', nsPerOp(v6, 20, (a) => trie.locate(a)).toFixed(1)],
    ['classifier.locate IPv4 ns/op', nsPerOp(v4, 20, (a) => gcCached.locate(a)).toFixed(1)],
    ['classify IPv4 cached (64k addrs, all hits) ns/op', nsPerOp(v4, 5, (a) => gcCached.classify(a).region).toFixed(1)],
    ['classify IPv4 cached (4k addrs, hot) ns/op', nsPerOp(few, 50, (a) => gcCached.classify(a).region).toFixed(1)],
    ['classify IPv4 uncached ns/op', nsPerOp(v4.slice(0, 1 << 14), 1, (a) => gc0.classify(a).region, 3).toFixed(0)],
    ['classify IPv6 uncached ns/op', nsPerOp(v6.slice(0, 1 << 14), 1, (a) => gc0.classify(a).region, 3).toFixed(0)],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const [k, v] of rows) console.log(`${k.padEnd(w)}  ${v}`);

  console.log('\nGuangdong check (sample map rules): locate vs classify (GeoIP network)');
  for (const a of ['183.6.0.1', '113.108.0.1', '202.96.0.1', '8.8.8.8', '240e::1']) {
    const b = parseIp(a) as Uint8Array;
    const p = trie.locate(b);
    const c = gc0.classify(b);
    console.log(`  ${a.padEnd(16)} ${rules.regions[packedRegion(p)].padEnd(9)} /${packedScope(p)}   (classify: /${c.scope} ${c.rule})`);
  }
}

/**
 * Exhaustive check (no overrides): every terminal block of the MMDB tree, its record decoded in full by
 * mmdb-lib (not by the trie's field decoder), must lie inside one trie leaf of the same region. Since the
 * trie leaves are unions of MMDB blocks, this proves the scope property for the whole address space.
 */
function verify(path: string, rules: RegionRules): void {
  const buf = readFileSync(path);
  // mmdb-lib internals (walker, decoder): private in its typings, stable in 3.x.
  type Internals = { walker: { left(o: number): number; right(o: number): number }; decoder: { decode(o: number): { value: unknown } }; ipv4StartNodeNumber: number };
  const mm = new Reader(buf);
  const reader = mm as unknown as Internals;
  const md = mm.metadata;
  const nc = md.nodeCount;
  const trie = RegionTrie.build(GeoDatabase.fromBuffer(buf, path), { ...rules, cidrs: [] });
  const regionOf = new Map<number, number>();
  const regionFor = (v: number): number => {
    if (v === nc) return rules.defaultRegion;
    let r = regionOf.get(v);
    if (r === undefined) {
      const rec = reader.decoder.decode(v - nc + md.searchTreeSize).value as Parameters<typeof buildMatch>[0];
      r = rec ? decide(rules, buildMatch(rec, '')).region : rules.defaultRegion;
      regionOf.set(v, r);
    }
    return r;
  };
  const v4start = md.ipVersion === 6 ? reader.ipv4StartNodeNumber : 0;
  const addr = new Uint8Array(16);
  let blocks = 0;
  let bad = 0;
  const walk = (v: number, depth: number, bits: number, off: number): void => {
    if (v >= nc || depth >= bits) {
      const region = v > nc ? regionFor(v) : rules.defaultRegion;
      const a = bits === 32 ? addr.subarray(12) : addr;
      const p = trie.locate(a);
      blocks++;
      if (packedRegion(p) !== region || packedScope(p) > depth) {
        if (++bad <= 10) console.log(`  MISMATCH block ${Buffer.from(a).toString('hex')}/${depth}: region ${region}, trie ${packedRegion(p)}/${packedScope(p)}`);
      }
      return;
    }
    if (bits === 128 && v === v4start && depth !== 96) return; // 2002::/16 and Teredo: aliases of the IPv4 subtree
    const o = v * md.nodeByteSize;
    const i = (off + depth) >> 3;
    const m = 0x80 >> ((off + depth) & 7);
    walk(reader.walker.left(o), depth + 1, bits, off);
    addr[i] |= m;
    walk(reader.walker.right(o), depth + 1, bits, off);
    addr[i] &= ~m;
  };
  const t0 = performance.now();
  addr.fill(0);
  walk(v4start, 0, 32, 96);
  const v4blocks = blocks;
  if (md.ipVersion === 6) walk(0, 0, 128, 0);
  console.log(`\nverify ${path}: ${v4blocks} IPv4 + ${blocks - v4blocks} IPv6 blocks, ${regionOf.size} records, ${bad} mismatches (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  if (bad > 0) process.exitCode = 1;
}

main();
const vi = process.argv.indexOf('--verify');
if (vi >= 0) verify(process.argv[vi + 1] ?? GeoDatabase.defaultPaths(), loadMapFile(join(__dirname, '../../geodata/map.yaml')).rules);
