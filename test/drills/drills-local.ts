import { execFile } from 'node:child_process';
import { copyFileSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { dirname, join } from 'node:path';
import { GeoDatabase } from '../../src/geo';
import { Endpoint } from '../helpers/endpoint';
import { freePort } from '../helpers/redis';
import { sleep } from '../helpers/wait';
import { ADDR, drillMap, Expect, Scope, settledAt, startServe, waitAnswer, waitFor, type Dc, type Proc } from './harness';
import { emptyResult, secs, startLoad, type DrillContext, type DrillResult } from './result';

// Drills on one machine without Redis (embedded mode: in-memory table,
// probes in serve): the GeoIP database and the map replaced by broken files,
// and a cluster worker killed.

interface LocalRig {
  map: string;
  port: number;
  serve: Proc;
  endpoints: Record<Dc, Endpoint>;
  ports: Record<Dc, number>;
}

async function startLocal(scope: Scope, mapOpts: Parameters<typeof drillMap>[1] = {}, serveArgs: string[] = [], workers = 1): Promise<LocalRig> {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of [gz, bj, sg]) scope.later(e, (x) => x.close());
  const ports = { gz: gz.port, bj: bj.port, sg: sg.port };
  const map = join(scope.dir, 'map.yaml');
  writeFileSync(map, drillMap(ports, mapOpts));
  const { proc: serve, port } = await startServe(['--config', map, ...serveArgs], workers);
  scope.later(serve, (p) => p.stop());
  return { map, port, serve, endpoints: { gz, bj, sg }, ports };
}

/** Writes `data` beside `path` and renames it over `path`, as deploy tools replace files. */
function replaceByRename(path: string, data: Buffer | string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** (e) The MMDB the map points at is replaced by a truncated copy; later a good (different) one arrives. */
export async function mmdbTruncated(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('e', 'mmdb-truncated', 'MMDB replaced by a truncated copy');
  const scope = new Scope();
  try {
    const db = join(scope.dir, 'geo.mmdb');
    copyFileSync(GeoDatabase.defaultPath(), db);
    const rig = await startLocal(scope, { geoip: db }, ['--metrics-listen', 'off']);
    const exp = new Expect();
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    const full = readFileSync(db);
    r.faultAt = Date.now();
    replaceByRename(db, full.subarray(0, full.length >> 1));
    r.events.push({ at: 0, what: `geo.mmdb replaced (rename) by its first ${full.length >> 1} of ${full.length} bytes` });
    const rejected = await waitFor('serve to reject the truncated MMDB', () => rig.serve.loggedAt(/GeoIP database rejected/, r.faultAt), 15_000, 50).catch(() => null);
    r.events.push({ at: rejected ?? NaN, what: 'serve logged "GeoIP database rejected, keeping ..."' });
    await sleep(ctx.dwellMs);
    // A good database after the bad one is still picked up: the Country DB has no subdivisions, so Guangdong -> north -> bj.
    const goodAt = Date.now();
    exp.add('www/south', ADDR.www.bj);
    exp.add('www6/south', ADDR.www6.bj);
    copyFileSync(join(dirname(GeoDatabase.defaultPath()), 'GeoLite2-Country.mmdb'), `${db}.next`);
    renameSync(`${db}.next`, db);
    r.events.push({ at: goodAt - r.faultAt, what: 'geo.mmdb replaced by GeoLite2-Country (Guangdong loses its subdivision: south -> north)' });
    const picked = await waitAnswer(rig.port, 'www/south', ADDR.www.bj, 20_000);
    if (picked !== null) {
      exp.set('www/south', ADDR.www.bj);
      exp.set('www6/south', ADDR.www6.bj);
    }
    r.events.push({ at: Date.now() - r.faultAt, what: 'Guangdong answered bj' });
    await sleep(ctx.dwellMs);
    r.traffic = await traffic.stop();
    r.converged = rejected !== null && picked !== null;
    r.convergence = `bad file rejected after ${secs(rejected)} (stat poll 2 s), old DB kept; next good DB serving after ${secs(picked === null ? null : settledAt(r.traffic, 'www/south', ADDR.www.bj, goodAt))}`;
    r.dataChecked = 'answers identical to the old DB until the good file came';
    r.notes.push('Embedded mode (no Redis).');
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    await scope.close();
  }
  return r;
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
export async function mapGarbage(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('f', 'map-garbage', 'map file replaced by garbage');
  const scope = new Scope();
  try {
    const rig = await startLocal(scope, {}, ['--metrics-listen', 'off']);
    const exp = new Expect();
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    replaceByRename(rig.map, garbage(4096));
    r.events.push({ at: 0, what: 'map.yaml replaced (rename) by 4 KiB of junk' });
    const rejected = await waitFor('serve to reject the map', () => rig.serve.loggedAt(/map rejected/, r.faultAt), 15_000, 50).catch(() => null);
    r.events.push({ at: rejected ?? NaN, what: 'serve logged "map rejected, still serving version ..."' });
    await sleep(ctx.dwellMs);
    // A valid edit afterwards still goes live: overseas now prefers gz.
    const goodAt = Date.now();
    exp.add('www/overseas', ADDR.www.gz);
    replaceByRename(rig.map, drillMap(rig.ports, { overseas: ['gz', 'sg', 'bj'] }));
    r.events.push({ at: goodAt - r.faultAt, what: 'a valid map (overseas: gz, sg, bj) renamed in' });
    const picked = await waitAnswer(rig.port, 'www/overseas', ADDR.www.gz, 20_000);
    if (picked !== null) exp.set('www/overseas', ADDR.www.gz);
    r.events.push({ at: Date.now() - r.faultAt, what: 'overseas answered gz' });
    await sleep(ctx.dwellMs);
    r.traffic = await traffic.stop();
    r.converged = rejected !== null && picked !== null;
    r.convergence = `garbage rejected after ${secs(rejected)} (poll 250 ms + 300 ms quiet), old map kept; next valid map serving after ${secs(picked === null ? null : settledAt(r.traffic, 'www/overseas', ADDR.www.gz, goodAt))}`;
    r.dataChecked = 'answers identical to the old map until the valid edit came';
    r.notes.push('Embedded mode (no Redis); the in-process probes keep their state across the reload.');
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    await scope.close();
  }
  return r;
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
export async function workerKill(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('g', 'worker-kill', 'serve --workers 2, one worker SIGKILLed');
  const scope = new Scope();
  try {
    const mport = await freePort();
    const rig = await startLocal(scope, {}, ['--metrics-listen', `127.0.0.1:${mport}`], 2);
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
  } catch (e) {
    r.error = (e as Error).message;
  } finally {
    await scope.close();
  }
  return r;
}
