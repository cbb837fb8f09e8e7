import { failureLines, Traffic, type TrafficReport } from '../load/traffic';
import { KINDS, Scope, type Expect } from './harness';

/** What every drill gets: the query rate, how long to watch before and after each step, a progress logger. */
export interface DrillContext {
  rate: number;
  /** Load before the fault, and after each recovery before the next step (the fault itself lasts what the drill says). */
  dwellMs: number;
  log(line: string): void;
}

/** One drill's outcome, for the table and the slice test. */
export interface DrillResult {
  id: string;
  name: string;
  title: string;
  traffic: TrafficReport | null;
  /** The convergence numbers, readable ("takeover 2.1 s; bj failover visible 4.3 s"). */
  convergence: string;
  /** Every awaited recovery happened within its (generous) bound. */
  converged: boolean;
  /** Data the fault lost ([] = nothing), from the table before and after. */
  dataLost: string[];
  /** What "data" means for this drill (votes, drains, pointer; or the served answers). */
  dataChecked: string;
  notes: string[];
  /** Drill events, ms since the fault (negative: before it). */
  events: Array<{ at: number; what: string }>;
  faultAt: number;
  /** A demonstration of what goes wrong (drill a without persistence): shown, not judged. */
  informational?: boolean;
  /** Lost answers tolerated (the worker drill: the datagrams a killed worker had read). */
  lostAllowed?: number;
  error?: string;
}

export function emptyResult(id: string, name: string, title: string): DrillResult {
  return { id, name, title, traffic: null, convergence: '', converged: false, dataLost: [], dataChecked: '', notes: [], events: [], faultAt: 0 };
}

/** Runs a drill body with its own Scope (always closed); an exception becomes the result's error. */
export async function scoped(r: DrillResult, body: (scope: Scope) => Promise<void>): Promise<DrillResult> {
  const scope = new Scope();
  try {
    await body(scope);
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    await scope.close();
  }
  return r;
}

/** Starts the drill load (bounded at 3 minutes even if the drill forgets to stop it). */
export function startLoad(scope: Scope, ctx: DrillContext, port: number, exp: Expect): Traffic {
  return scope.later(new Traffic({ port, rate: ctx.rate, durationMs: 180_000, kinds: KINDS, validate: exp.validate, timeoutMs: 1000 }), (t) => t.stop());
}

export const secs = (ms: number | null): string => (ms === null ? 'never' : `${(ms / 1000).toFixed(2)} s`);

/** pass: no wrong answers, losses within what the drill allows, converged, nothing lost. */
export function verdict(r: DrillResult): 'pass' | 'FAIL' | 'info' {
  if (r.informational) return 'info';
  const t = r.traffic;
  if (r.error || !t || !r.converged || r.dataLost.length) return 'FAIL';
  return t.wrong === 0 && t.lost <= (r.lostAllowed ?? 0) ? 'pass' : 'FAIL';
}

const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The summary table (markdown). */
export function table(results: DrillResult[]): string {
  const rows = ['| drill | failed answers (wrong+lost) / total | convergence | data lost | result | notes |', '|---|---|---|---|---|---|'];
  for (const r of results) {
    const t = r.traffic;
    const failed = t ? `${t.wrong + t.lost} (${t.wrong}+${t.lost}) / ${t.sent}` : '-';
    const lost = r.error ? '-' : r.dataLost.length ? r.dataLost.join('; ') : `none (${r.dataChecked})`;
    rows.push(`| (${r.id}) ${cell(r.title)} | ${failed} | ${cell(r.error ? `error: ${r.error}` : r.convergence)} | ${cell(lost)} | ${verdict(r)} | ${cell(r.notes.join(' '))} |`);
  }
  return rows.join('\n');
}

/** Per drill: events and the 100 ms buckets that saw failures, relative to the fault. */
export function details(results: DrillResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`### (${r.id}) ${r.name}`, '');
    // An event that never happened carries NaN: listed last, as "never".
    const when = (at: number): number => (Number.isNaN(at) ? Infinity : at);
    for (const e of [...r.events].sort((a, b) => when(a.at) - when(b.at))) {
      out.push(`- ${Number.isNaN(e.at) ? 'never:' : `${e.at >= 0 ? '+' : ''}${(e.at / 1000).toFixed(2)} s`} ${e.what}`);
    }
    const t = r.traffic;
    if (t) {
      const fails = failureLines(t, r.faultAt);
      out.push(`- load: ${t.sent} queries over ${(t.elapsedMs / 1000).toFixed(1)} s, ${t.ok} right, ${t.wrong} wrong, ${t.lost} lost; longest generator tick gap ${t.maxTickGapMs} ms`);
      out.push(fails.length ? `- buckets (100 ms, by send time) with failures: ${fails.join('; ')}` : '- no 100 ms bucket had a wrong or lost answer');
      const rel = (ms: number): string => `+${((t.startedAt + ms - r.faultAt) / 1000).toFixed(2)} s`;
      if (t.wrongSamples.length) out.push(`- first wrong answers (by send time): ${t.wrongSamples.map((w) => `${rel(w.t)} ${w.answer}`).join('; ')}`);
    }
    if (r.error) out.push(`- error: ${r.error}`);
    out.push('');
  }
  return out.join('\n');
}
