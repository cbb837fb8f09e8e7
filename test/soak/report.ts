/**
 * The soak's arithmetic and its report (no I/O): series summaries, the pass
 * criteria, RESULTS.md. Kept apart from soak.ts so the slice test can check
 * the verdict logic without a server.
 */

/** One sample, taken every --sample-every (5 s) while the load runs. */
export interface Sample {
  /** Seconds since the load started. */
  t: number;
  /** VmRSS of serve (all its processes), MB. */
  rssMb: number;
  /** Open fds of serve (all its processes). */
  fds: number;
  /** Open fds and RSS of the probe process (watched, judged on fds only). */
  probeFds: number;
  probeRssMb: number;
  /** nodejs_eventloop_lag_p99_seconds / _max_seconds in ms over the last interval (prom-client resets its histogram per scrape); null when the scrape failed. */
  loopP99Ms: number | null;
  loopMaxMs: number | null;
  /** serve's CPU over the last interval, % of one core (null for the first sample). */
  cpuPct: number | null;
  /** The server's core over the last interval, % busy (everything on it: other users too). */
  coreBusyPct: number | null;
  reloadsOk: number | null;
  reloadsFailed: number | null;
  /** From serve's /metrics (null when the scrape failed): V8 heap used, external memory (MB), active handles. */
  heapUsedMb: number | null;
  externalMb: number | null;
  handles: number | null;
}

export interface Spread {
  n: number;
  min: number;
  median: number;
  max: number;
}

export function spread(xs: number[]): Spread {
  if (!xs.length) return { n: 0, min: NaN, median: NaN, max: NaN };
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { n: s.length, min: s[0], median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, max: s[s.length - 1] };
}

/** Least-squares slope of v over t, per minute (t in seconds); NaN with fewer than 2 distinct t. */
export function slopePerMinute(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 2) return NaN;
  const mt = points.reduce((a, p) => a + p[0], 0) / n;
  const mv = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  return den === 0 ? NaN : (num / den) * 60;
}

/** A series summarised: first, second and last window, and the slope over the whole run. */
export interface SeriesSummary {
  first: Spread;
  second: Spread;
  last: Spread;
  slopePerMin: number;
  start: number;
  end: number;
}

/**
 * Windows are a minute long, or a third of the run when it is shorter than
 * three minutes (so a short run still has three of them).
 */
export function windowSeconds(durationS: number): number {
  return Math.min(60, durationS / 3);
}

export function summarise(samples: Sample[], pick: (s: Sample) => number | null, durationS: number): SeriesSummary {
  const w = windowSeconds(durationS);
  const pts = samples.map((s) => [s.t, pick(s)] as [number, number | null]).filter((p): p is [number, number] => p[1] !== null && Number.isFinite(p[1]));
  const within = (a: number, b: number): number[] => pts.filter(([t]) => t >= a && t < b).map(([, v]) => v);
  return {
    first: spread(within(0, w)),
    second: spread(within(w, 2 * w)),
    last: spread(within(durationS - w, Infinity)),
    slopePerMin: slopePerMinute(pts),
    start: pts.length ? pts[0][1] : NaN,
    end: pts.length ? pts[pts.length - 1][1] : NaN,
  };
}

export interface LoadResult {
  /** 'dnsperf' or 'node' (the built-in UDP sender). */
  sender: string;
  command: string;
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  rcodes: Record<string, number>;
  /** Achieved QPS per interval (dnsperf -S, or the Node sender's own count). */
  qpsSeries: number[];
  avgLatencyMs: number | null;
  maxLatencyMs: number | null;
}

export interface FlipRecord {
  /** Seconds since the load started. */
  at: number;
  /** The state commanded for the flipped datacenter. */
  up: boolean;
  /** Seconds from the command to the first answer in that state; null: never seen before the next flip or the end. */
  seenAfter: number | null;
}

export interface ReloadRecord {
  at: number;
  serial: number;
  /** Seconds until the TXT answer carried the new serial; null: never. */
  seenAfter: number | null;
  /** geosteer_config_reloads_total{result="ok"} had counted it by the next sample taken after it was seen. */
  counted: boolean;
}

export interface Criteria {
  fdSlack: number;
  rssTolerance: number;
  /** Event-loop p99: last-window median may exceed the second window's by this factor plus loopSlackMs. */
  loopFactor: number;
  loopSlackMs: number;
}

export const DEFAULT_CRITERIA: Criteria = { fdSlack: 5, rssTolerance: 0.1, loopFactor: 1.5, loopSlackMs: 5 };

/** Flatness of RSS and event-loop delay is judged only on runs of 3 minutes or more (warm-up minute, reference minute, last minute). */
export const MIN_FLAT_SECONDS = 180;

export interface Verdict {
  pass: boolean;
  /** One line per criterion: [ok, text]; ok null = not judged. */
  checks: Array<[boolean | null, string]>;
}

export interface SoakReport {
  startedAt: string;
  machine: string;
  commit: string;
  durationS: number;
  rate: number;
  flipEveryS: number;
  reloadEveryS: number;
  sampleEveryS: number;
  serveCommand: string;
  probeCommand: string;
  load: LoadResult;
  flips: FlipRecord[];
  reloads: ReloadRecord[];
  /** Answer changes for the flipped region that no flip command asked for. */
  unexpectedTransitions: number;
  /** Reload counters at the end (from the last sample). */
  reloadsOk: number;
  reloadsFailed: number;
  samples: Sample[];
  serverLogNotes: string[];
}

export function judge(r: SoakReport, c: Criteria = DEFAULT_CRITERIA): Verdict {
  const checks: Verdict['checks'] = [];
  checks.push([r.load.lost === 0 && r.load.completed > 0, `lost queries: ${r.load.lost} of ${r.load.sent} sent (must be 0)`]);
  const flipsSeen = r.flips.filter((f) => f.seenAfter !== null).length;
  checks.push([r.flips.length > 0 && flipsSeen === r.flips.length, `verdict flips observed: ${flipsSeen} of ${r.flips.length}`]);
  const reloadsSeen = r.reloads.filter((x) => x.seenAfter !== null && x.counted).length;
  checks.push([
    r.reloads.length > 0 && reloadsSeen === r.reloads.length && r.reloadsOk === r.reloads.length && r.reloadsFailed === 0,
    `reloads observed: ${reloadsSeen} of ${r.reloads.length} (reloads_total ok ${r.reloadsOk}, failed ${r.reloadsFailed})`,
  ]);
  const fds = summarise(r.samples, (s) => s.fds, r.durationS);
  checks.push([fds.end <= fds.start + c.fdSlack, `serve fds: ${fds.start} at start, ${fds.end} at end (max ${fds.first.max >= fds.last.max ? fds.first.max : fds.last.max}; allowed end <= start + ${c.fdSlack})`]);
  const pfds = summarise(r.samples, (s) => s.probeFds, r.durationS);
  checks.push([pfds.end <= pfds.start + c.fdSlack, `probe fds: ${pfds.start} at start, ${pfds.end} at end (allowed end <= start + ${c.fdSlack})`]);
  const flat = r.durationS >= MIN_FLAT_SECONDS;
  const rss = summarise(r.samples, (s) => s.rssMb, r.durationS);
  const rssDrift = rss.last.median / rss.second.median - 1;
  checks.push([
    flat ? Math.abs(rssDrift) <= c.rssTolerance : null,
    flat
      ? `serve RSS: last-minute median ${fmt(rss.last.median)} MB vs second minute ${fmt(rss.second.median)} MB (${pct(rssDrift)}; allowed ±${c.rssTolerance * 100}%)`
      : `serve RSS flatness not judged (run shorter than ${MIN_FLAT_SECONDS} s)`,
  ]);
  const loop = summarise(r.samples, (s) => s.loopP99Ms, r.durationS);
  const loopLimit = loop.second.median * c.loopFactor + c.loopSlackMs;
  checks.push([
    flat ? loop.last.median <= loopLimit : null,
    flat
      ? `event-loop p99: last-minute median ${fmt(loop.last.median)} ms vs second minute ${fmt(loop.second.median)} ms (allowed <= ${fmt(loopLimit)} ms)`
      : `event-loop flatness not judged (run shorter than ${MIN_FLAT_SECONDS} s)`,
  ]);
  return { pass: checks.every(([ok]) => ok !== false), checks };
}

const fmt = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const pct = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%` : '-');
const int = (x: number): string => Math.round(x).toLocaleString('en-US');

function seriesRow(name: string, s: SeriesSummary, unit: string, digits = 1): string {
  const sp = (x: Spread): string => (x.n ? `${fmt(x.min, digits)} / ${fmt(x.median, digits)} / ${fmt(x.max, digits)}` : '-');
  return `| ${name} | ${unit} | ${sp(s.first)} | ${sp(s.second)} | ${sp(s.last)} | ${fmt(s.slopePerMin, digits + 1)} |`;
}

function latencies(xs: Array<number | null>): string {
  const seen = xs.filter((x): x is number => x !== null);
  const s = spread(seen);
  return s.n ? `${fmt(s.min)} / ${fmt(s.median)} / ${fmt(s.max)} s` : '-';
}

/** The whole report as Markdown (printed and written to RESULTS.md). */
export function renderReport(r: SoakReport, v: Verdict): string {
  const l = r.load;
  const w = windowSeconds(r.durationS);
  const rcodes = Object.entries(l.rcodes).map(([k, n]) => `${k} ${int(n)}`).join(', ') || '-';
  const qps = spread(l.qpsSeries);
  const flipsSeen = r.flips.filter((f) => f.seenAfter !== null).length;
  const reloadsSeen = r.reloads.filter((x) => x.seenAfter !== null && x.counted).length;
  const out = [
    `# Soak results`,
    '',
    `${r.startedAt}, ${r.machine}, commit ${r.commit}.`,
    '',
    `- serve: \`${r.serveCommand}\``,
    `- probe: \`${r.probeCommand}\``,
    `- load: \`${l.command}\``,
    `- ${r.durationS} s at ${int(r.rate)} QPS; the south datacenter's health endpoint flips every ${r.flipEveryS} s; the map is rewritten (write + rename) every ${r.reloadEveryS} s; samples every ${r.sampleEveryS} s.`,
    '',
    '| metric | value |',
    '|---|---|',
    `| queries sent / completed / lost | ${int(l.sent)} / ${int(l.completed)} / ${int(l.lost)} |`,
    `| QPS (completed / run time) | ${int(l.qps)} (per interval: min ${int(qps.min)}, median ${int(qps.median)}, max ${int(qps.max)}) |`,
    `| latency avg / max (${l.sender}) | ${l.avgLatencyMs === null ? '-' : `${fmt(l.avgLatencyMs, 3)} ms`} / ${l.maxLatencyMs === null ? '-' : `${fmt(l.maxLatencyMs, 1)} ms`} |`,
    `| response codes | ${rcodes} |`,
    `| verdict flips observed / expected | ${flipsSeen} / ${r.flips.length} (unexpected answer changes: ${r.unexpectedTransitions}) |`,
    `| flip seen after (min / median / max) | ${latencies(r.flips.map((f) => f.seenAfter))} |`,
    `| reloads observed / expected | ${reloadsSeen} / ${r.reloads.length} (reloads_total ok ${r.reloadsOk}, failed ${r.reloadsFailed}) |`,
    `| reload seen after (min / median / max) | ${latencies(r.reloads.map((x) => x.seenAfter))} |`,
    '',
    `Series (min / median / max over each window; window = ${fmt(w, 0)} s; slope by least squares over the whole run):`,
    '',
    '| series | unit | first window | second window | last window | slope per minute |',
    '|---|---|---|---|---|---|',
    seriesRow('serve RSS', summarise(r.samples, (s) => s.rssMb, r.durationS), 'MB'),
    seriesRow('serve open fds', summarise(r.samples, (s) => s.fds, r.durationS), 'fds', 0),
    seriesRow('serve V8 heap used', summarise(r.samples, (s) => s.heapUsedMb, r.durationS), 'MB'),
    seriesRow('serve external memory', summarise(r.samples, (s) => s.externalMb, r.durationS), 'MB'),
    seriesRow('serve active handles', summarise(r.samples, (s) => s.handles, r.durationS), 'handles', 0),
    seriesRow('event-loop delay p99', summarise(r.samples, (s) => s.loopP99Ms, r.durationS), 'ms'),
    seriesRow('event-loop delay max', summarise(r.samples, (s) => s.loopMaxMs, r.durationS), 'ms'),
    seriesRow('serve CPU', summarise(r.samples, (s) => s.cpuPct, r.durationS), '% of a core', 0),
    seriesRow('server core busy (all users)', summarise(r.samples, (s) => s.coreBusyPct, r.durationS), '%', 0),
    seriesRow('probe RSS', summarise(r.samples, (s) => s.probeRssMb, r.durationS), 'MB'),
    seriesRow('probe open fds', summarise(r.samples, (s) => s.probeFds, r.durationS), 'fds', 0),
    '',
    'Criteria:',
    '',
    ...v.checks.map(([ok, text]) => `- ${ok === null ? 'n/a' : ok ? 'ok' : 'FAIL'}: ${text}`),
    '',
    `**${v.pass ? 'PASS' : 'FAIL'}**`,
  ];
  if (r.serverLogNotes.length) out.push('', 'Server log (warnings and errors):', '', ...r.serverLogNotes.map((x) => `    ${x}`));
  out.push('', '<details><summary>Samples</summary>', '', '| t s | RSS MB | heap MB | fds | handles | loop p99 ms | loop max ms | CPU % | core busy % | reloads ok | probe fds |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const s of r.samples) {
    const opt = (x: number | null, d = 1): string => (x === null ? '-' : fmt(x, d));
    out.push(`| ${s.t} | ${fmt(s.rssMb)} | ${opt(s.heapUsedMb)} | ${s.fds} | ${opt(s.handles, 0)} | ${opt(s.loopP99Ms)} | ${opt(s.loopMaxMs)} | ${opt(s.cpuPct, 0)} | ${opt(s.coreBusyPct, 0)} | ${s.reloadsOk ?? '-'} | ${s.probeFds} |`);
  }
  out.push('', '</details>', '');
  return out.join('\n');
}
