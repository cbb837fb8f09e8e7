import { buildReport, isPeriod, writeReport } from '../report';
import { UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

/**
 * `geosteer report --prometheus URL --period day|week|month [--out DIR] [--json]`: the traffic report
 * over the period ending now, written to DIR (default .) as report.html, report.md and report.json;
 * prints the Markdown (or with --json the JSON) on stdout. Exit 1 when Prometheus cannot be asked.
 */
export async function reportCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseVerbArgs('report', args);
  if (values.prometheus === undefined) throw new UsageError('--prometheus URL is required');
  if (!/^https?:\/\/[^/]/.test(values.prometheus)) throw new UsageError(`--prometheus must be an http:// or https:// URL, not "${values.prometheus}"`);
  if (!isPeriod(values.period)) throw new UsageError('--period must be day, week or month');
  const report = await buildReport({ prometheus: values.prometheus, period: values.period });
  const files = writeReport(report, values.out ?? '.');
  out(values.json ? JSON.stringify(report, null, 2) : `${files.join('\n')}`);
  return 0;
}
