import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { redisAvailable } from '../helpers/redis';
import { sentinelUnavailable } from '../helpers/sentinel';
import { mapGarbage, mmdbTruncated, workerKill } from './drills-local';
import { proberKill, redisKill, redisStop, sentinelFailover } from './drills-redis';
import { details, emptyResult, table, verdict, type DrillContext, type DrillResult } from './result';
import { netnsPartition, netnsPublishDuringPartition, netnsRestartCutOff } from './drills-netns';
import { netnsUnavailable } from '../helpers/netns';

// `npm run drills`: every fault drill against real processes under UDP load,
// the table printed and written to test/drills/RESULTS.md (see README.md).

interface Drill {
  id: string;
  name: string;
  /** netns: redis-server and network namespaces (root, `ip`). */
  needs: 'redis' | 'sentinel' | 'netns' | null;
  run(ctx: DrillContext): Promise<DrillResult>;
}

export const DRILLS: Drill[] = [
  { id: 'a', name: 'redis-kill', needs: 'redis', run: (c) => redisKill(c, 'persist') },
  { id: 'a2', name: 'redis-kill-nopersist', needs: 'redis', run: (c) => redisKill(c, 'nopersist') },
  { id: 'a3', name: 'redis-kill-recover', needs: 'redis', run: (c) => redisKill(c, 'recover') },
  { id: 'b', name: 'redis-stop', needs: 'redis', run: redisStop },
  { id: 'c', name: 'sentinel', needs: 'sentinel', run: sentinelFailover },
  { id: 'd', name: 'prober-kill', needs: 'redis', run: proberKill },
  { id: 'e', name: 'mmdb-truncated', needs: null, run: mmdbTruncated },
  { id: 'f', name: 'map-garbage', needs: null, run: mapGarbage },
  { id: 'g', name: 'worker-kill', needs: null, run: workerKill },
  { id: 'n1', name: 'netns-partition', needs: 'netns', run: netnsPartition },
  { id: 'n2', name: 'netns-publish-during-partition', needs: 'netns', run: netnsPublishDuringPartition },
  { id: 'n3', name: 'netns-restart-cut-off', needs: 'netns', run: netnsRestartCutOff },
];

/** Every wait inside a drill is bounded; a drill slower than this is reported as an error (after its cleanup ran). */
const DRILL_LIMIT_MS = 90_000;

/** Runs one drill; a missing redis-server or Sentinel gives an error row, not a crash. */
export async function runDrill(d: Drill, ctx: DrillContext): Promise<DrillResult> {
  if (d.needs && !redisAvailable()) return { ...emptyResult(d.id, d.name, d.name), error: 'redis-server not installed' };
  if (d.needs === 'sentinel') {
    const why = await sentinelUnavailable();
    if (why) return { ...emptyResult(d.id, d.name, d.name), error: why };
  }
  if (d.needs === 'netns') {
    const why = netnsUnavailable();
    if (why) return { ...emptyResult(d.id, d.name, d.name), error: `network namespaces unavailable: ${why}` };
  }
  const start = Date.now();
  const r = await d.run(ctx);
  if (!r.error && Date.now() - start > DRILL_LIMIT_MS) r.error = `took ${Math.round((Date.now() - start) / 1000)} s (limit ${DRILL_LIMIT_MS / 1000} s)`;
  return r;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { only: { type: 'string' }, rate: { type: 'string' }, out: { type: 'string' }, 'no-write': { type: 'boolean' } },
  });
  const rate = values.rate === undefined ? 2000 : Number(values.rate);
  if (!Number.isInteger(rate) || rate < 10 || rate > 20_000) {
    process.stderr.write('--rate must be a whole number of queries per second from 10 to 20000\n');
    return 2;
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const chosen = only ? DRILLS.filter((d) => only.includes(d.id) || only.includes(d.name)) : DRILLS;
  if (!chosen.length) {
    process.stderr.write(`--only: no drill named ${values.only} (names: ${DRILLS.map((d) => `${d.id}=${d.name}`).join(', ')})\n`);
    return 2;
  }
  const log = (s: string): void => void process.stderr.write(`${s}\n`);
  const started = Date.now();
  const results: DrillResult[] = [];
  for (const d of chosen) {
    log(`drill (${d.id}) ${d.name} at ${rate} QPS ...`);
    const r = await runDrill(d, { rate, dwellMs: 1500, log });
    const t = r.traffic;
    log(`  ${verdict(r)}: ${t ? `${t.wrong} wrong + ${t.lost} lost of ${t.sent}` : 'no load'}; ${r.error ?? r.convergence}`);
    results.push(r);
  }
  const took = ((Date.now() - started) / 1000).toFixed(0);
  const md = [
    '# Fault drill results',
    '',
    `Run ${new Date().toISOString()} with \`npm run drills -- --rate ${rate}${values.only ? ` --only ${values.only}` : ''}\` (${took} s in all), Node ${process.version},`,
    `${availableParallelism()} CPUs (${cpus()[0]?.model.trim() ?? 'unknown'}), shared with other work: timings are noisy. Load: UDP from 127.0.0.1,`,
    `${rate} QPS over 4 sockets, 1 s timeout, 7 query kinds (see README.md). "failed" = wrong + lost answers.`,
    '',
    table(results),
    '',
    '## Details (times relative to the fault)',
    '',
    details(results),
  ].join('\n');
  process.stdout.write(`${table(results)}\n`);
  if (!values['no-write']) {
    const out = values.out ?? resolve(__dirname, '../../../test/drills/RESULTS.md');
    writeFileSync(out, md);
    log(`written to ${out}`);
  }
  return results.some((r) => verdict(r) === 'FAIL') ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (e: Error) => {
      process.stderr.write(`drills: ${e.stack ?? e.message}\n`);
      process.exit(2);
    },
  );
}
