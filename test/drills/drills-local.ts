import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { GeoDatabase } from '../../src/geo';
import { freePort } from '../helpers/redis';
import { sleep } from '../helpers/wait';
import { ADDR, drillMap, Expect, settledAt, startRig, waitAnswer, waitFor, type Rig, type Scope } from './harness';
import { emptyResult, scoped, secs, startLoad, type DrillContext, type DrillResult } from './result';

// Drills on one machine without Redis (embedded mode: in-memory table,
// probes in serve): the GeoIP database and the map replaced by broken files,
// and a cluster worker killed.

/** Writes `data` beside `path` and renames it over `path`, as deploy tools replace files. */
function replaceByRename(path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** A file serve watches is replaced by a broken one, then (after a while) by a good one that changes some answers. */
interface FileFault {
  /** The watched file, its broken replacement, and what to call it. */
  path: string;
  bad: Buffer;
  badWhat: string;
  /** serve's log line for the rejection. */
  rejected: RegExp;
  good: Buffer | string;
  goodWhat: string;
  /** The answers the good file changes: label -> new address. */
  moves: Array<[string, string]>;
  /** How the server finds the file (for the convergence cell). */
  how: string;
}

async function fileFault(ctx: DrillContext, r: DrillResult, rig: Rig, scope: Scope, f: FileFault): Promise<void> {
  const exp = new Expect();
  const traffic = startLoad(scope, ctx, rig.port, exp);
  await sleep(ctx.dwellMs);
  r.faultAt = Date.now();
  replaceByRename(f.path, f.bad);
  r.events.push({ at: 0, what: f.badWhat });
  const rejected = await waitFor('serve to reject the file', () => rig.serve.loggedAt(f.rejected, r.faultAt), 15_000, 50).catch(() => null);
  r.events.push({ at: rejected ?? NaN, what: `serve logged ${f.rejected.source}` });
  await sleep(ctx.dwellMs);
  // A good file after the bad one is still picked up.
  const goodAt = Date.now();
  for (const [label, addr] of f.moves) exp.add(label, addr);
  replaceByRename(f.path, f.good);
  r.events.push({ at: goodAt - r.faultAt, what: f.goodWhat });
  const [label, addr] = f.moves[0];
  const picked = await waitAnswer(rig.port, label, addr, 20_000);
  if (picked !== null) for (const [l, a] of f.moves) exp.set(l, a);
  r.events.push({ at: Date.now() - r.faultAt, what: `${label} answered ${addr}` });
  await sleep(ctx.dwellMs);
  r.traffic = await traffic.stop();
  r.converged = rejected !== null && picked !== null;
  r.convergence = `broken file rejected after ${secs(rejected)} (${f.how}), old one kept; next good file serving after ${secs(picked === null ? null : settledAt(r.traffic, label, addr, goodAt))}`;
}

/** (e) The MMDB the map points at is replaced by a truncated copy; later a good (different) one arrives. */
export function mmdbTruncated(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('e', 'mmdb-truncated', 'MMDB replaced by a truncated copy');
  return scoped(r, async (scope) => {
    const db = join(scope.dir, 'geo.mmdb');
    copyFileSync(GeoDatabase.geoLite2Path(), db);
    const rig = await startRig(scope, { mapOpts: { geoip: db }, serveArgs: ['--metrics-listen', 'off'] });
    const full = readFileSync(db);
    await fileFault(ctx, r, rig, scope, {
      path: db,
      bad: full.subarray(0, full.length >> 1),
      badWhat: `geo.mmdb replaced (rename) by its first ${full.length >> 1} of ${full.length} bytes`,
      rejected: /GeoIP database rejected/,
      // The Country DB has no subdivisions: Guangdong becomes plain CN -> north -> bj.
      good: readFileSync(join(dirname(GeoDatabase.geoLite2Path()), 'GeoLite2-Country.mmdb')),
      goodWhat: 'geo.mmdb replaced by GeoLite2-Country (Guangdong loses its subdivision: south -> north)',
      moves: [
        ['www/south', ADDR.www.bj],
        ['www6/south', ADDR.www6.bj],
      ],
      how: 'stat poll 2 s',
    });
    r.dataChecked = 'answers identical to the old DB until the good file came';
    r.notes.push('Embedded mode (no Redis).');
  });
}

/** Deterministic junk (an LCG), so every run replaces the map with the same bytes. */
function garbage(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** (f) The map file is replaced by garbage; later by a valid map with one change. */
export function mapGarbage(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('f', 'map-garbage', 'map file replaced by garbage');
  return scoped(r, async (scope) => {
    const rig = await startRig(scope, { serveArgs: ['--metrics-listen', 'off'] });
    await fileFault(ctx, r, rig, scope, {
      path: rig.map,
      bad: garbage(4096),
      badWhat: 'map.yaml replaced (rename) by 4 KiB of junk',
      rejected: /map rejected/,
      good: drillMap(rig.ports, { overseas: ['gz', 'sg', 'bj'] }),
      goodWhat: 'a valid map (overseas: gz, sg, bj) renamed in',
      moves: [['www/overseas', ADDR.www.gz]],
      how: 'poll 250 ms + 300 ms quiet',
    });
    r.dataChecked = 'answers identical to the old map until the valid edit came';
    r.notes.push('Embedded mode (no Redis); the in-process probes keep their state across the reload.');
  });
}

/** Pids of the processes whose parent is `pid` (the cluster primary's workers). */
function childrenOf(pid: number): Promise<number[]> {
  return new Promise((done) => {
    execFile('ps', ['-o', 'pid=', '--ppid', String(pid)], (_err, stdout) => done(stdout.split(/\s+/).filter(Boolean).map(Number)));
  });
}

/** The primary's merged /metrics value of `name`, or null. */
function metric(port: number, name: string): Promise<number | null> {
  return new Promise((done) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(body);
        done(m ? Number(m[1]) : null);
      });
    });
    req.on('error', () => done(null));
    req.on('timeout', () => req.destroy());
  });
}

/** (g) `serve --workers 2`; one worker is SIGKILLed while gz is down; the cluster restarts it. */
export function workerKill(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('g', 'worker-kill', 'serve --workers 2, one worker SIGKILLed');
  return scoped(r, async (scope) => {
    const mport = await freePort();
    const rig = await startRig(scope, { serveArgs: ['--metrics-listen', `127.0.0.1:${mport}`], workers: 2 });
    await waitFor('2 workers ready', async () => (await metric(mport, 'geosteer_cluster_workers')) === 2, 20_000, 100);
    // gz fails first: the restarted worker must start with that verdict, not "everything up".
    rig.endpoints.gz.status = 503;
    let streak = 0;
    await waitFor('every worker to answer south with bj', async () => {
      const ok = (await waitAnswer(rig.port, 'www/south', ADDR.www.bj, 0)) !== null;
      streak = ok ? streak + 1 : 0;
      return streak >= 20;
    }, 15_000, 10);
    const exp = new Expect();
    exp.set('www/south', ADDR.www.bj);
    exp.set('www6/south', ADDR.www6.bj);
    const workers = await childrenOf(rig.serve.pid);
    if (workers.length !== 2) throw new Error(`expected 2 workers under pid ${rig.serve.pid}, found ${workers.join(',')}`);
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    process.kill(workers[0], 'SIGKILL');
    r.events.push({ at: 0, what: `worker pid ${workers[0]} SIGKILLed (other: ${workers[1]})` });
    const forked = await waitFor('a new worker process', async () => (await childrenOf(rig.serve.pid)).some((p) => !workers.includes(p)), 15_000, 20).catch(() => null);
    r.events.push({ at: forked ?? NaN, what: 'the primary forked a new worker' });
    const ready = await waitFor('2 workers ready again', async () => (await metric(mport, 'geosteer_cluster_workers')) === 2, 20_000, 50)
      .then(() => Date.now() - r.faultAt)
      .catch(() => null);
    r.events.push({ at: ready ?? NaN, what: 'geosteer_cluster_workers back to 2 (new worker ready)' });
    await sleep(Math.max(ctx.dwellMs, 1200)); // the "answers resumed" check reads the last second
    r.traffic = await traffic.stop();
    const t = r.traffic;
    // Answers resumed: the last second of the load is clean.
    const tail = t.timeline.slice(-10);
    const resumed = tail.length > 0 && tail.every((b) => b.wrong + b.lost === 0);
    r.converged = forked !== null && ready !== null && resumed;
    r.lostAllowed = Math.max(10, Math.ceil(t.sent * 0.02));
    r.convergence = `kill -> new worker forked ${secs(forked)}, ready (serving) ${secs(ready)}; answers clean in the last second: ${resumed ? 'yes' : 'NO'}`;
    r.dataChecked = 'the new worker answered with the health state (gz down) from its first reply';
    r.notes.push(`Lost answers are the datagrams the killed worker had already read; allowed here: ${r.lostAllowed}.`);
  });
}
