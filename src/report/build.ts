import { queryRange, type Grid, type RangeSeries } from './prometheus';

export type Period = 'day' | 'week' | 'month';

/** Length and resolution of each period. The step is the finest a peak is measured at (Prometheus answers at most 11,000 points a series). */
export const PERIODS: Record<Period, { seconds: number; step: number }> = {
  day: { seconds: 86_400, step: 60 },
  week: { seconds: 7 * 86_400, step: 300 },
  month: { seconds: 30 * 86_400, step: 900 },
};

export const isPeriod = (p: string | undefined): p is Period => p !== undefined && Object.hasOwn(PERIODS, p);

/** A count over the period with its busiest step. */
export interface Traffic {
  total: number;
  /** The highest average rate over one step (queries per second). */
  peakQps: number;
  /** When that step ended (ISO 8601, UTC); null without traffic. */
  peakAt: string | null;
}

export interface DatacenterRow extends Traffic {
  datacenter: string;
  /** Its share of all service answers, 0..1. */
  share: number;
  /** Answers it got because a region's first choice could not take them. */
  movedIn: number;
}

export interface RegionRow extends Traffic {
  region: string;
  /** Answers not from the region's first choice. */
  moved: number;
  movedShare: number;
  /** Minutes in which some of its answers were moved. */
  movedMinutes: number;
  /** Answers per datacenter. */
  datacenters: Record<string, number>;
}

export interface CellRow extends Traffic {
  region: string;
  datacenter: string;
}

export interface Report {
  format: 'geosteer-report/1';
  prometheus: string;
  period: Period;
  from: string;
  to: string;
  stepSeconds: number;
  /** Every DNS message answered (all types, rcodes and names), from geosteer_dns_requests_total. */
  queries: Traffic;
  /** Service answers (geosteer_routing_answers_total): what the region and datacenter tables count. */
  serviceAnswers: Traffic;
  datacenters: DatacenterRow[];
  regions: RegionRow[];
  cells: CellRow[];
  /** Per (service, datacenter): minutes the probers' verdict was down, and how often it flipped. */
  failover: Array<{ service: string; dc: string; downMinutes: number; flips: number }>;
  /** Per service: minutes some region had every datacenter down (answered from the fallback). */
  fallback: Array<{ service: string; minutes: number; answers: number }>;
  /** The regions with the most moved answers, most first (at most 10, only those that moved). */
  topMoved: Array<{ region: string; moved: number; movedShare: number }>;
  headroom: { declared: false; note: string };
  /** For the charts: step end times (ISO) and queries per second per datacenter and in all. */
  timeline: { at: string[]; queries: number[]; datacenters: Record<string, number[]> };
}

export interface ReportRequest {
  prometheus: string;
  period: Period;
  /** End of the period. @default now */
  end?: Date;
  timeoutMs?: number;
}

/**
 * Per-step increases of a counter series, resets handled: a drop means the process restarted and
 * counted from 0 again. The grid starts one step before the period: a series there is the baseline;
 * one that first appears later was born in the period and counts from 0 (geosteer exports no zero
 * samples, so a series appears with its first counts).
 */
export function increases(values: Float64Array): Float64Array {
  const out = new Float64Array(values.length);
  let prev = NaN;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v)) continue;
    if (Number.isNaN(prev)) out[i] = i === 0 ? 0 : v;
    else out[i] = v >= prev ? v - prev : v;
    prev = v;
  }
  return out;
}

function traffic(steps: Float64Array, grid: Grid): Traffic {
  let total = 0;
  let peak = 0;
  let at = -1;
  for (let i = 1; i < steps.length; i++) {
    total += steps[i];
    if (steps[i] > peak) [peak, at] = [steps[i], i];
  }
  return { total, peakQps: peak / grid.step, peakAt: at < 0 ? null : new Date((grid.start + at * grid.step) * 1000).toISOString() };
}

/** Sums the increases of every series by the labels `key` picks. */
function byKey(series: RangeSeries[], key: (l: Record<string, string>) => string, n: number): Map<string, Float64Array> {
  const out = new Map<string, Float64Array>();
  for (const s of series) {
    const k = key(s.labels);
    let acc = out.get(k);
    if (!acc) out.set(k, (acc = new Float64Array(n)));
    const inc = increases(s.values);
    for (let i = 0; i < n; i++) acc[i] += inc[i];
  }
  return out;
}

const sumOf = (a: Float64Array): number => a.reduce((x, y) => x + y, 0);
const countWhere = (a: Float64Array, f: (v: number, i: number) => boolean): number => a.reduce((n, v, i) => (i > 0 && f(v, i) ? n + 1 : n), 0);
const byName = <T>(k: (r: T) => string) => (a: T, b: T): number => (k(a) < k(b) ? -1 : k(a) > k(b) ? 1 : 0);

/**
 * Builds the report from raw counters and gauges only (no recording rules needed), one range query
 * each. Counters are summed per instance before Prometheus sends them (a process's series reset
 * together), and their increases are taken here rather than with increase(), which extrapolates.
 */
export async function buildReport(req: ReportRequest): Promise<Report> {
  const { seconds, step } = PERIODS[req.period];
  // Not rounded (not even to the second): the last point is now, so the newest scrape counts.
  const end = (req.end ?? new Date()).getTime() / 1000;
  const grid: Grid = { start: end - seconds - step, step, points: seconds / step + 2 };
  const n = grid.points;
  const q = (query: string): Promise<RangeSeries[]> => queryRange(req.prometheus, query, grid, req.timeoutMs);
  const [requests, answers, verdicts, fallbackRegions, fallbackAnswers] = await Promise.all([
    q('sum by (job, instance) (geosteer_dns_requests_total)'),
    q('sum by (job, instance, region, datacenter, moved) (geosteer_routing_answers_total)'),
    q('min by (service, dc) (geosteer_health_verdict)'),
    q('max by (service) (geosteer_routing_fallback_regions)'),
    q('sum by (job, instance, service) (geosteer_routing_fallback_answers_total)'),
  ]);

  const allQueries = byKey(requests, () => 'all', n).get('all') ?? new Float64Array(n);
  const cellSteps = byKey(answers, (l) => `${l.region}\t${l.datacenter}`, n);
  const dcSteps = byKey(answers, (l) => l.datacenter, n);
  const regionSteps = byKey(answers, (l) => l.region, n);
  const movedRegion = byKey(answers.filter((s) => s.labels.moved === 'true'), (l) => l.region, n);
  const movedDc = byKey(answers.filter((s) => s.labels.moved === 'true'), (l) => l.datacenter, n);
  const allAnswers = byKey(answers, () => 'all', n).get('all') ?? new Float64Array(n);
  const answerTotal = sumOf(allAnswers);

  const datacenters: DatacenterRow[] = [...dcSteps].map(([datacenter, s]) => ({
    datacenter,
    ...traffic(s, grid),
    share: answerTotal ? sumOf(s) / answerTotal : 0,
    movedIn: movedDc.has(datacenter) ? sumOf(movedDc.get(datacenter)!) : 0,
  }));
  datacenters.sort(byName((r) => r.datacenter));
  const cells: CellRow[] = [...cellSteps].map(([k, s]) => {
    const [region, datacenter] = k.split('\t');
    return { region, datacenter, ...traffic(s, grid) };
  });
  cells.sort(byName((r) => `${r.region}\t${r.datacenter}`));
  const regions: RegionRow[] = [...regionSteps].map(([region, s]) => {
    const t = traffic(s, grid);
    const m = movedRegion.get(region) ?? new Float64Array(n);
    const moved = sumOf(m);
    const per: Record<string, number> = {};
    for (const c of cells) if (c.region === region) per[c.datacenter] = c.total;
    return { region, ...t, moved, movedShare: t.total ? moved / t.total : 0, movedMinutes: (countWhere(m, (v) => v > 0) * step) / 60, datacenters: per };
  });
  regions.sort(byName((r) => r.region));

  const failover = verdicts.map((s) => {
    let flips = 0;
    let prev = NaN;
    for (let i = 1; i < n; i++) {
      const v = s.values[i];
      if (Number.isNaN(v)) continue;
      if (!Number.isNaN(prev) && v !== prev) flips++;
      prev = v;
    }
    return { service: s.labels.service ?? '', dc: s.labels.dc ?? '', downMinutes: (countWhere(s.values, (v) => v === 0) * step) / 60, flips };
  });
  failover.sort(byName((r) => `${r.service}\t${r.dc}`));
  const fbAnswers = byKey(fallbackAnswers, (l) => l.service ?? '', n);
  const fallback = fallbackRegions.map((s) => ({
    service: s.labels.service ?? '',
    minutes: (countWhere(s.values, (v) => v > 0) * step) / 60,
    answers: sumOf(fbAnswers.get(s.labels.service ?? '') ?? new Float64Array(n)),
  }));
  fallback.sort(byName((r) => r.service));

  const at: string[] = [];
  for (let i = 1; i < n; i++) at.push(new Date((grid.start + i * step) * 1000).toISOString());
  const qps = (s: Float64Array): number[] => Array.from(s.subarray(1), (v) => v / step);
  return {
    format: 'geosteer-report/1',
    prometheus: req.prometheus,
    period: req.period,
    from: new Date((end - seconds) * 1000).toISOString(),
    to: new Date(end * 1000).toISOString(),
    stepSeconds: step,
    queries: traffic(allQueries, grid),
    serviceAnswers: traffic(allAnswers, grid),
    datacenters,
    regions,
    cells,
    failover,
    fallback,
    topMoved: regions
      .filter((r) => r.moved > 0)
      .sort((a, b) => b.moved - a.moved)
      .slice(0, 10)
      .map((r) => ({ region: r.region, moved: r.moved, movedShare: r.movedShare })),
    headroom: { declared: false, note: 'no capacity declared' },
    timeline: { at, queries: qps(allQueries), datacenters: Object.fromEntries(datacenters.map((d) => [d.datacenter, qps(dcSteps.get(d.datacenter)!)])) },
  };
}
