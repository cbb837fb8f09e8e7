import type { ServiceConfig } from '../config';

/**
 * Weighted answers (`answers: weighted N`): a client block (the ECS source
 * block or the resolver address, cut to /24 for IPv4, /56 for IPv6) hashes to
 * one of BUCKETS buckets, and each bucket of a datacenter holds an order of
 * that datacenter's addresses, drawn by weight at load. A client gets the
 * first N live addresses of its bucket's order, in map order. Everything here
 * runs at load or when health changes; the query path reads one Int32Array
 * slot (`pick`) after hashing 3 or 7 address bytes.
 *
 * Why an order per bucket and not a set: an order drawn by weight without
 * replacement, restricted to the live addresses, is an order drawn by weight
 * over just those (the first live one is address i with probability
 * w_i / sum of live weights). So a dead address leaves the draw, the others
 * keep their weights, and a block whose set held no dead address keeps its
 * exact answer (caches stay valid), with no redraw at verdict change.
 *
 * Why stratified and not a PRNG per bucket: 256 independent draws give an
 * address of weight 3:1 between ~70% and ~80% of the buckets; drawing bucket
 * b with u = (sigma(b) + 0.5) / BUCKETS and reusing the residual of u for the
 * next pick gives every address its share within 1/256 (first pick), and the
 * later picks stratified inside each first pick's buckets. sigma is a seeded
 * shuffle of the buckets (seed: service name, family, the datacenter's
 * addresses), so two services or two datacenters do not give the same
 * blocks the same rank. No randomness is per process: every server of a
 * fleet answers a block the same.
 */

/** Buckets per datacenter (a power of two). */
export const BUCKETS = 256;
/** Distinct address sets one service family may need (per-address health prebuilds every set a draw can reach). */
export const MAX_SUBSETS = 4096;

export type Family = 'a' | 'aaaa';

/** One datacenter's draw: for each bucket an order of its addresses (indexes into the map's list). */
export interface DcDraw {
  readonly dc: number;
  readonly addresses: readonly string[];
  readonly weights: readonly number[];
  /** bucket * addresses.length + j: the j-th address of that bucket's order. */
  readonly order: Uint16Array;
}

export interface WeightPlan {
  readonly family: Family;
  /** Addresses per answer. */
  readonly n: number;
  /** Per datacenter index: its draw, or null when it has N addresses or fewer (everyone gets them all). */
  readonly draws: readonly (DcDraw | null)[];
  /** The address sets answers exist for, as sorted address indexes of one datacenter. */
  readonly subsets: ReadonlyArray<{ readonly dc: number; readonly members: readonly number[] }>;
  /** `dc:i,j,...` -> index into subsets. */
  readonly subsetIndex: ReadonlyMap<string, number>;
  /** Answers before the subsets' (the per-datacenter, "all" and failover-TTL answers: 2 * (ndc + 1)). */
  readonly base: number;
  /**
   * (choice * BUCKETS + bucket) -> index into the entry's answers: `choice` itself for the "all" answer and
   * datacenters without a draw, else base + ttl * subsets.length + subset. Rewritten by applyHealth.
   */
  readonly pick: Int32Array;
}

/** mulberry32: a small seeded PRNG (only used to shuffle the buckets at load). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fnv(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The per-bucket orders of one datacenter's addresses (see the file comment). */
export function drawOrders(seed: string, weights: readonly number[], buckets = BUCKETS): Uint16Array {
  const k = weights.length;
  const next = prng(fnv(seed));
  const sigma = Array.from({ length: buckets }, (_, i) => i);
  for (let i = buckets - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [sigma[i], sigma[j]] = [sigma[j], sigma[i]];
  }
  const order = new Uint16Array(buckets * k);
  const left: number[] = [];
  for (let b = 0; b < buckets; b++) {
    left.length = 0;
    for (let i = 0; i < k; i++) left.push(i);
    let total = weights.reduce((s, w) => s + w, 0);
    let u = (sigma[b] + 0.5) / buckets;
    for (let j = 0; j < k; j++) {
      const x = u * total;
      let lo = 0;
      let at = left.length - 1; // float rounding at the top end lands on the last one
      for (let m = 0; m < left.length; m++) {
        if (x < lo + weights[left[m]]) {
          at = m;
          break;
        }
        lo += weights[left[m]];
      }
      const i = left[at];
      order[b * k + j] = i;
      u = Math.min(Math.max((x - lo) / weights[i], 0), 1 - 1e-12);
      total -= weights[i];
      left.splice(at, 1);
    }
  }
  return order;
}

/** The bucket of a client block: the first 3 bytes of an IPv4 address (or an IPv4-mapped one), the first 7 of IPv6. */
export function blockBucket(addr: Uint8Array): number {
  let h = 0x811c9dc5;
  if (addr.length === 4) {
    h = Math.imul(h ^ addr[0], 0x01000193);
    h = Math.imul(h ^ addr[1], 0x01000193);
    h = Math.imul(h ^ addr[2], 0x01000193);
  } else if (addr[10] === 0xff && addr[11] === 0xff && isZero10(addr)) {
    h = Math.imul(h ^ addr[12], 0x01000193);
    h = Math.imul(h ^ addr[13], 0x01000193);
    h = Math.imul(h ^ addr[14], 0x01000193);
  } else {
    for (let i = 0; i < 7; i++) h = Math.imul(h ^ addr[i], 0x01000193);
  }
  // murmur3's finaliser: FNV's low bits alone are poor for 3-byte keys.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & (BUCKETS - 1);
}

function isZero10(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return true;
}

/** The block a draw is made for, in bits: 24 (IPv4), 56 (IPv6), 120 (IPv4-mapped IPv6). */
export function blockBits(addr: Uint8Array): number {
  if (addr.length === 4) return 24;
  return addr[10] === 0xff && addr[11] === 0xff && isZero10(addr) ? 120 : 56;
}

/** How many address sets a per-address-health plan prebuilds for `k` addresses, N per answer: sum of C(k, i), i = 1..N. */
export function subsetCount(k: number, n: number): number {
  let total = 0;
  let c = 1;
  for (let i = 1; i <= Math.min(n, k); i++) {
    c = (c * (k - i + 1)) / i;
    total += c;
  }
  return Math.round(total);
}

/** The first `n` live addresses of bucket b's order, sorted (every address when none is live). */
function setOf(draw: DcDraw, n: number, b: number, alive: (i: number) => boolean): number[] {
  const k = draw.addresses.length;
  const out: number[] = [];
  for (let j = 0; j < k && out.length < n; j++) {
    const i = draw.order[b * k + j];
    if (alive(i)) out.push(i);
  }
  if (out.length === 0) for (let j = 0; j < Math.min(n, k); j++) out.push(draw.order[b * k + j]);
  return out.sort((x, y) => x - y);
}

const keyOf = (dc: number, members: readonly number[]): string => `${dc}:${members.join(',')}`;

/**
 * A service family's weighted plan, or null when the service answers `all` or
 * no datacenter has more than N addresses of the family. Deterministic from
 * the config, so the building worker and the answering thread make the same.
 */
export function buildWeightPlan(config: ServiceConfig, family: Family, ndc: number): WeightPlan | null {
  const n = config.answers;
  if (n === 0) return null;
  const draws = config.addresses.map((a, dc): DcDraw | null => {
    if (!a || a[family].length <= n) return null;
    const weights = a.weight[family];
    return { dc, addresses: a[family], weights, order: drawOrders(`${config.name}|${family}|${a[family].join(',')}`, weights) };
  });
  if (draws.every((d) => d === null)) return null;
  const subsets: Array<{ dc: number; members: number[] }> = [];
  const subsetIndex = new Map<string, number>();
  const add = (dc: number, members: number[]): void => {
    const key = keyOf(dc, members);
    if (subsetIndex.has(key)) return;
    subsetIndex.set(key, subsets.length);
    subsets.push({ dc, members });
  };
  for (const d of draws) {
    if (!d) continue;
    if (config.check?.perAddress) {
      // Every set a draw can reach with some addresses dead: all combinations of 1..N addresses (bounded by the config part).
      const k = d.addresses.length;
      const combo = (start: number, acc: number[]): void => {
        if (acc.length > 0) add(d.dc, [...acc]);
        if (acc.length === n) return;
        for (let i = start; i < k; i++) combo(i + 1, [...acc, i]);
      };
      combo(0, []);
    } else {
      for (let b = 0; b < BUCKETS; b++) add(d.dc, setOf(d, n, b, () => true));
    }
  }
  const base = 2 * (ndc + 1);
  const plan: WeightPlan = { family, n, draws, subsets, subsetIndex, base, pick: new Int32Array(base * BUCKETS).fill(-1) };
  updatePicks(plan, ndc, () => true);
  return plan;
}

/**
 * Rewrites the plan's picks for the live addresses (`alive(dc, i)`: address i
 * of datacenter dc); returns true when any pick moved. Runs at load and when
 * health changes, on the answering thread: BUCKETS x datacenters small loops.
 */
export function updatePicks(plan: WeightPlan, ndc: number, alive: (dc: number, i: number) => boolean): boolean {
  const moved = ndc + 1;
  const nsub = plan.subsets.length;
  let changed = false;
  // One set per (datacenter, bucket), shared by the normal and the failover-TTL choice.
  const sets = new Int32Array(ndc * BUCKETS).fill(-1);
  for (const d of plan.draws) {
    if (!d) continue;
    const live = (i: number): boolean => alive(d.dc, i);
    for (let b = 0; b < BUCKETS; b++) {
      const s = plan.subsetIndex.get(keyOf(d.dc, setOf(d, plan.n, b, live)));
      // Unreachable with a plan built for this config; the full datacenter answer is the safe reading.
      sets[d.dc * BUCKETS + b] = s ?? -1;
    }
  }
  for (let c = 0; c < plan.base; c++) {
    const dc = c % moved;
    const ttl = c >= moved ? 1 : 0;
    for (let b = 0; b < BUCKETS; b++) {
      const s = dc < ndc ? sets[dc * BUCKETS + b] : -1;
      const v = s < 0 ? c : plan.base + ttl * nsub + s;
      const at = c * BUCKETS + b;
      if (plan.pick[at] !== v) {
        plan.pick[at] = v;
        changed = true;
      }
    }
  }
  return changed;
}

/** The addresses a bucket gets from one datacenter with everyone alive (explain). */
export function addressesFor(plan: WeightPlan, dc: number, bucket: number, alive: (i: number) => boolean = () => true): string[] {
  const d = plan.draws[dc];
  if (!d) return [];
  return setOf(d, plan.n, bucket, alive).map((i) => d.addresses[i]);
}
