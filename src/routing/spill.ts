import type { ServiceConfig } from '../config';
import { BUCKETS } from './weights';

/**
 * Capacity-aware spill: when a region's first datacenter is down (or
 * drained), its traffic is split over the live datacenters of its list in
 * proportion to their spare capacity, instead of all of it moving to the
 * next one. Loads and spare are in the map's unit: each region's `share:`
 * and each datacenter's `capacity:` for the service (percent, QPS: the same
 * unit everywhere).
 *
 * The plan: every region whose first choice is up loads it with its share;
 * then the displaced regions, in map order, take x_d = share * spare_d /
 * sum(spare) from each live datacenter of their list (spare = capacity -
 * load so far), so no datacenter passes its capacity while another listed
 * one has room. When the spare of a region's list is less than its share,
 * every one of them is filled and the rest goes to the list's first live
 * datacenter (the old behaviour, in list order): the plan says `short`.
 *
 * A region's split is by client block, as weighted answers are: the block's
 * bucket (weights.ts blockBucket) falls into one datacenter's run of the
 * region's 256 buckets, so a resolver gets one stable answer, and a small
 * change of fractions moves few blocks. Computed on the answering thread when
 * health changes (regions x datacenters arithmetic and a 256-slot fill per
 * split region), never per query.
 */

export interface SpillPlan {
  /** Per region: its split (datacenter, fraction of the region's traffic) when its first choice is down; null otherwise. */
  readonly regions: ReadonlyArray<ReadonlyArray<{ readonly dc: number; readonly fraction: number }> | null>;
  /** Planned load per datacenter index (0 where the service is not). */
  readonly load: readonly number[];
  /** Capacity per datacenter index (0 where the service is not). */
  readonly capacity: readonly number[];
  /** Some region's share did not fit its list's spare capacity: the rest went to its first live datacenter. */
  readonly short: boolean;
}

/** True when the service declares capacities (then the config part made sure every datacenter and region has one). */
export function hasCapacity(config: ServiceConfig): boolean {
  return config.policy === 'geo' && config.addresses.some((a) => a !== null && a.capacity !== null);
}

/**
 * The spill plan for `lists` (per region, the datacenters in preference
 * order), `shares` (per region) and the live datacenters; null without
 * capacities.
 */
export function planSpill(config: ServiceConfig, lists: readonly (readonly number[])[], shares: readonly number[], up: (dc: number) => boolean): SpillPlan | null {
  if (!hasCapacity(config)) return null;
  const capacity = config.addresses.map((a) => a?.capacity ?? 0);
  const load = capacity.map(() => 0);
  const regions: Array<Array<{ dc: number; fraction: number }> | null> = lists.map(() => null);
  const displaced: number[] = [];
  lists.forEach((list, r) => {
    if (list.length && up(list[0])) load[list[0]] += shares[r];
    else displaced.push(r);
  });
  let short = false;
  for (const r of displaced) {
    const live = lists[r].filter(up);
    if (live.length === 0) continue; // every one down: the fallback answers, as without capacities
    const share = shares[r];
    const spare = live.map((dc) => Math.max(0, capacity[dc] - load[dc]));
    const room = spare.reduce((x, y) => x + y, 0);
    let amounts: number[];
    if (room <= 0) amounts = live.map((_, i) => (i === 0 ? share : 0));
    else if (room >= share) amounts = spare.map((s) => (share * s) / room);
    else {
      short = true;
      amounts = spare.map((s, i) => s + (i === 0 ? share - room : 0));
    }
    if (share <= 0) {
      // A region expected to send nothing still needs an answer: split it like the spare.
      amounts = room > 0 ? spare.slice() : live.map((_, i) => (i === 0 ? 1 : 0));
    }
    const total = amounts.reduce((x, y) => x + y, 0);
    live.forEach((dc, i) => (load[dc] += share > 0 ? amounts[i] : 0));
    regions[r] = live.map((dc, i) => ({ dc, fraction: amounts[i] / total })).filter((x) => x.fraction > 0);
  }
  return { regions, load, capacity, short };
}

/** Buckets per datacenter for one region's split: largest remainder of fraction * BUCKETS, in the split's order. */
export function bucketCounts(split: ReadonlyArray<{ readonly fraction: number }>): number[] {
  const raw = split.map((x) => x.fraction * BUCKETS);
  const out = raw.map(Math.floor);
  let left = BUCKETS - out.reduce((x, y) => x + y, 0);
  const order = raw.map((v, i) => [v - Math.floor(v), i] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) out[order[k][1]]++;
  return out;
}

/** "south -> bj 43%, sg 57%" lines of a plan's split regions. */
export function describeSpill(plan: SpillPlan, regionNames: readonly string[], dcNames: readonly string[]): string[] {
  const out: string[] = [];
  plan.regions.forEach((split, r) => {
    if (split) out.push(`${regionNames[r]} -> ${split.map((x) => `${dcNames[x.dc]} ${Math.round(100 * x.fraction)}%`).join(', ')}`);
  });
  return out;
}
