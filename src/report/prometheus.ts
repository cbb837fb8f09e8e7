import { ReportError } from './errors';

/** One series of a range query: its labels and a value per grid step (NaN where Prometheus had none). */
export interface RangeSeries {
  labels: Record<string, string>;
  values: Float64Array;
}

/** The evaluation grid: `points` timestamps start, start + step, ..., end (seconds). */
export interface Grid {
  start: number;
  step: number;
  points: number;
}

interface ApiAnswer {
  status: 'success' | 'error';
  error?: string;
  errorType?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; values: Array<[number, string]> }> };
}

/**
 * `GET /api/v1/query_range` (the Prometheus HTTP API), values placed on the grid. A URL with a path
 * (behind a proxy: https://example.org/prometheus/) keeps it. Times out after `timeoutMs`, because a
 * report run from cron must end.
 */
export async function queryRange(base: string, query: string, grid: Grid, timeoutMs = 60_000): Promise<RangeSeries[]> {
  const url = new URL('api/v1/query_range', base.endsWith('/') ? base : `${base}/`);
  const end = grid.start + (grid.points - 1) * grid.step;
  const body = new URLSearchParams({ query, start: String(grid.start), end: String(end), step: `${grid.step}s` });
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', body, signal: AbortSignal.timeout(timeoutMs) });
  } catch (e) {
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND) is its cause.
    const cause = (e as Error).cause as NodeJS.ErrnoException | undefined;
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    throw new ReportError(`cannot reach Prometheus at ${url.origin}: ${why}`, { cause: e });
  }
  const text = await res.text();
  let answer: ApiAnswer;
  try {
    answer = JSON.parse(text) as ApiAnswer;
  } catch {
    throw new ReportError(`${url.href}: HTTP ${res.status}, not a Prometheus API answer: ${text.slice(0, 200)}`);
  }
  if (answer.status !== 'success' || answer.data?.resultType !== 'matrix') {
    throw new ReportError(`${url.href}: ${answer.errorType ?? `HTTP ${res.status}`}: ${answer.error ?? 'no matrix in the answer'} (query: ${query})`);
  }
  return answer.data.result.map((r) => {
    const values = new Float64Array(grid.points).fill(NaN);
    for (const [t, v] of r.values) {
      const i = Math.round((t - grid.start) / grid.step);
      if (i >= 0 && i < grid.points) values[i] = Number(v);
    }
    return { labels: r.metric, values };
  });
}
