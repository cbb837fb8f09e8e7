// The memory of a whole `serve` (one process, no workers) on MAP: RSS right after it answers, then heap,
// external memory and RSS after full GCs (what it keeps; RSS stays near its peak, as glibc keeps freed
// pages), and the peak (VmHWM). One JSON line. dnssec.bench.ts runs it once per map, each in its own process.
// Run: node --expose-gc dist/bench/serve-rss.js MAP
import { readFileSync } from 'node:fs';
import { serve } from '../src/cli/serve';
import { createLogger } from '../src/observability';

const mb = (x: number): number => Math.round((x / 2 ** 20) * 10) / 10;
const status = (key: string): number => Number(/(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith(key)) ?? '')?.[1] ?? 0) * 1024;

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const s = await serve({ config: process.argv[2], listen: ['127.0.0.1:0'], logger: createLogger('silent'), mapPollMs: 3_600_000 });
  const started = process.memoryUsage();
  for (let i = 0; i < 4; i++) gc();
  const kept = process.memoryUsage();
  console.log(JSON.stringify({ rssStarted: mb(started.rss), heapKept: mb(kept.heapUsed), externalKept: mb(kept.external), rssAfterGc: mb(kept.rss), rssPeak: mb(status('VmHWM:')) }));
  await s.close();
}

void main();
