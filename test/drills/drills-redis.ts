import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RedisStore, type RedisConnectionOptions } from '../../src/health';
import { cliEnv, runCli } from '../helpers/cli';
import { freePort, TestRedis } from '../helpers/redis';
import { rawClient, SentinelCluster } from '../helpers/sentinel';
import { sleep } from '../helpers/wait';
import type { Traffic } from '../load/traffic';
import { ADDR, cli, Expect, lostBetween, settledAt, startProbe, startRig, tableState, waitAnswer, waitFor, type Proc, type Rig, type Scope, type TableState } from './harness';
import { emptyResult, scoped, secs, startLoad, type DrillContext, type DrillResult } from './result';

// Drills against the shared table: Redis killed (with and without
// persistence), Redis frozen, a Sentinel failover, a prober killed. Each one
// runs one serve (Redis mode, no probes), two `geosteer probe` processes and
// three local HTTP endpoints, and keeps a UDP load on serve throughout.

const WWW = 'www.example.com';
const DB = 'db.example.com';

interface RedisRig extends Rig {
  probes: Record<string, Proc>;
  /** --redis URL, or --redis-sentinels ... --redis-master NAME. */
  redisArgs: string[];
}

/**
 * Endpoints, map, serve (Redis mode, no probes) and two probers on the given
 * table; once both probers voted and one leads, the operator state of
 * `operatorActions` is set, and the table is read as `before`.
 */
async function prepare(scope: Scope, redisArgs: string[], promote = true, adminArgs = ['--metrics-listen', 'off']): Promise<{ rig: RedisRig; exp: Expect; before: TableState }> {
  const base = await startRig(scope, { serveArgs: ['--no-probe', '--state-file', join(scope.dir, 'state.json'), ...adminArgs, ...redisArgs] });
  const probes: Record<string, Proc> = {};
  for (const id of ['p1', 'p2']) probes[id] = scope.later(startProbe(id, redisArgs, base.map), (p) => p.stop());
  const rig = { ...base, probes, redisArgs };
  await waitFor('both probers to vote and one to lead', async () => {
    const s = await tableState(redisArgs, rig.map);
    return s.voters.length === 2 && s.leader !== null;
  }, 20_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}\n${Object.values(probes).map((p) => p.tail()).join('\n')}`);
  });
  const exp = new Expect();
  await operatorActions(rig, exp, promote);
  return { rig, exp, before: await tableState(redisArgs, rig.map) };
}

/**
 * The operator state a fault must not lose: sg drained for www (overseas
 * moves to gz) and, unless told otherwise, db promoted to gz. Waits until
 * serve answers with both, then expects exactly that.
 */
async function operatorActions(rig: RedisRig, exp: Expect, promote = true): Promise<void> {
  const r = rig.redisArgs;
  const d = await cli(['drain', 'sg', '--service', WWW, '--for', '30m', '--reason', 'drill', ...r]);
  if (d.code !== 0) throw new Error(`drain failed: ${d.stderr}`);
  if (promote) {
    const p = await cli(['promote', DB, 'gz', '--reason', 'drill', '--config', rig.map, ...r]);
    if (p.code !== 0) throw new Error(`promote failed: ${p.stderr}`);
  }
  const ok = await waitAnswer(rig.port, 'www/overseas', ADDR.www.gz, 5000);
  const ok2 = promote ? await waitAnswer(rig.port, 'db/south', ADDR.db.gz, 5000) : 0;
  if (ok === null || ok2 === null) throw new Error('serve did not pick up the drain / promotion');
  exp.set('www/overseas', ADDR.www.gz);
  if (promote) {
    exp.set('db/south', ADDR.db.gz);
    exp.set('db/overseas', ADDR.db.gz);
  }
}

/**
 * A change made right after the fault (bj drained for www: north moves to
 * gz), written with a fresh client that retries until the table takes it.
 * Returns when serve answered with it (ms since `from`), or null.
 */
async function changeAfterFault(opts: RedisConnectionOptions, rig: RedisRig, exp: Expect, from: number): Promise<{ writtenMs: number | null; visibleMs: number | null }> {
  exp.add('www/north', ADDR.www.gz);
  let writtenMs: number | null = null;
  const end = Date.now() + 20_000;
  while (writtenMs === null && Date.now() < end) {
    const store = new RedisStore(opts);
    try {
      await store.whenReady(2000);
      await store.setDrain({ dc: 'bj', service: WWW, forMs: 1_800_000, reason: 'after-fault', by: 'drill' });
      writtenMs = Date.now() - from;
    } catch {
      await sleep(100);
    } finally {
      await store.close();
    }
  }
  const seen = await waitAnswer(rig.port, 'www/north', ADDR.www.gz, 15_000);
  if (seen !== null) exp.set('www/north', ADDR.www.gz);
  return { writtenMs, visibleMs: seen === null ? null : Date.now() - from };
}

/** Reads what survived in Redis right after it came back: votes written before the kill, drains, pointers. */
async function survivors(port: number, killAt: number): Promise<string> {
  const c = rawClient(port);
  try {
    const [votes, drains, primary] = await Promise.all([c.hgetall('geosteer:votes'), c.hgetall('geosteer:drains'), c.hgetall('geosteer:primary')]);
    const old = Object.values(votes).filter((v) => (JSON.parse(v) as { at: number }).at < killAt).length;
    return `right after restart Redis held ${old} votes from before the kill, ${Object.keys(drains).length} drains, ${Object.keys(primary).length} primary pointers`;
  } finally {
    c.disconnect();
  }
}

/** Adds serve's own account of the outage (store unreachable / resynced) to the drill's events. */
function serveLogEvents(r: DrillResult, serve: Proc): void {
  const down = serve.loggedAt(/health store unreachable/, r.faultAt);
  const up = serve.loggedAt(/reachable again: resynced/, r.faultAt);
  if (down) r.events.push({ at: down - r.faultAt, what: 'serve logged "health store unreachable: answering from the last known state"' });
  if (up) r.events.push({ at: up - r.faultAt, what: 'serve logged "health store reachable again: resynced"' });
}

/** Stops the load, then compares the table with `before` (the new drain aside). */
async function finish(r: DrillResult, traffic: Traffic, rig: RedisRig, before: TableState): Promise<TableState> {
  r.traffic = await traffic.stop();
  serveLogEvents(r, rig.serve);
  const after = await tableState(rig.redisArgs, rig.map);
  r.dataLost = lostBetween(before, after);
  return after;
}

/** How drill (a) restarts Redis: from its appendonly file, empty, or empty and then `geosteer recover`. */
type KillMode = 'persist' | 'nopersist' | 'recover';

const KILL_TITLES: Record<KillMode, [string, string, string]> = {
  persist: ['a', 'redis-kill', 'Redis SIGKILL 3 s, restart (appendonly yes)'],
  nopersist: ['a2', 'redis-kill-nopersist', 'Redis SIGKILL 3 s, restart WITHOUT persistence'],
  recover: ['a3', 'redis-kill-recover', 'Redis SIGKILL 3 s, restart WITHOUT persistence, then `geosteer recover`'],
};

/**
 * `geosteer recover` as an operator runs it once Redis is back: default
 * sources (the registered serves' /api/state; this host's snapshot files are
 * kept out by an empty TMPDIR), retried until a serve has re-registered and the
 * run wrote something. Returns when it succeeded (ms since `from`) and its output.
 */
async function recoverRun(scope: Scope, redisArgs: string[], from: number): Promise<{ doneMs: number | null; tookMs: number; out: string; tries: number }> {
  const tmp = join(scope.dir, 'recover-tmp');
  mkdirSync(tmp, { recursive: true });
  const end = Date.now() + 20_000;
  let tries = 0;
  let out = '';
  while (Date.now() < end) {
    tries++;
    const t0 = Date.now();
    const r = await runCli(['recover', '--by', 'drill', ...redisArgs], { timeoutMs: 15_000, env: cliEnv({ TMPDIR: tmp }) });
    out = `${r.stdout}${r.stderr}`;
    if (r.code === 0 && /^[1-9]\d* written/m.test(r.stdout)) return { doneMs: Date.now() - from, tookMs: Date.now() - t0, out, tries };
    await sleep(250);
  }
  return { doneMs: null, tookMs: 0, out, tries };
}

/** (a) Redis SIGKILLed for 3 s, restarted: from its appendonly file (fsync always), empty (a2), or empty and then recovered (a3). */
export function redisKill(ctx: DrillContext, mode: KillMode): Promise<DrillResult> {
  const [id, name, title] = KILL_TITLES[mode];
  const persistent = mode === 'persist';
  const r = Object.assign(emptyResult(id, name, title), mode === 'nopersist' ? { informational: true } : {});
  return scoped(r, async (scope) => {
    const redis = scope.later(await TestRedis.start(persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : []), (x) => x.stop());
    // recover reads the serves' admin port (/api/state), so a3's serve has one.
    const admin = mode === 'recover' ? ['--metrics-listen', `127.0.0.1:${await freePort()}`] : undefined;
    const { rig, exp, before } = await prepare(scope, ['--redis', redis.url], true, admin);
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    await redis.kill();
    r.events.push({ at: 0, what: 'redis-server SIGKILLed' });
    await sleep(3000);
    await redis.restart();
    const upAt = Date.now();
    r.events.push({ at: upAt - r.faultAt, what: 'redis-server restarted on the same port and dir, answering PING' });
    r.notes.push(`${await survivors(redis.port, r.faultAt)}.`);
    const change = await changeAfterFault(redis.options(), rig, exp, upAt);
    const resynced = rig.serve.loggedAt(/reachable again: resynced/, upAt);
    r.events.push({ at: upAt + (change.writtenMs ?? NaN) - r.faultAt, what: 'drain bj (www) written' });
    r.events.push({ at: upAt + (change.visibleMs ?? NaN) - r.faultAt, what: 'serve answers north with gz (the new drain)' });
    const emptiedAt = rig.serve.loggedAt(/health store lost its data/, upAt);
    if (emptiedAt) r.events.push({ at: emptiedAt - r.faultAt, what: 'serve logged "health store lost its data ... run `geosteer recover`"' });
    const rec = mode === 'recover' ? await recoverRun(scope, rig.redisArgs, upAt) : null;
    if (rec) {
      r.events.push({ at: upAt + (rec.doneMs ?? NaN) - r.faultAt, what: `geosteer recover wrote the lost state (run ${rec.tries}: ${secs(rec.tookMs)})` });
      if (rec.doneMs === null) r.notes.push(`recover never wrote: ${rec.out.trim().split('\n').slice(-3).join(' / ')}`);
    }
    const votesBack = await waitFor('both probers to vote again', async () => (await tableState(rig.redisArgs, rig.map)).voters.length === 2, 10_000, 100).catch(() => null);
    await sleep(ctx.dwellMs);
    const after = await finish(r, traffic, rig, before);
    const settled = settledAt(r.traffic as NonNullable<typeof r.traffic>, 'www/north', ADDR.www.gz, upAt);
    r.converged = change.visibleMs !== null && (rec === null || rec.doneMs !== null);
    r.convergence = `Redis up -> serve resynced ${secs(resynced === null ? null : resynced - upAt)}; change written after restart visible ${secs(change.visibleMs)} (load timeline: ${secs(settled)}); both probers voting again ${secs(votesBack)}`;
    if (rec) r.convergence += `; Redis up -> recover done ${secs(rec.doneMs)} (the last run took ${secs(rec.tookMs)}, ${rec.tries} ${rec.tries === 1 ? 'run' : 'runs'})`;
    r.dataChecked = `drains ${before.drains.length}, pointer ${before.primaries.join(',')}, voters ${before.voters.join(',')} all present after`;
    if (mode === 'persist') r.notes.push('appendonly yes + appendfsync always: the drain, the pointer and the votes are on disk when the write returns.');
    else if (mode === 'nopersist') {
      r.notes.push(
        `Without persistence the restarted Redis is empty: the probers re-vote within one interval; the drain and the promotion are gone from Redis (table after: drains ${after.drains.join(',') || 'none'}, pointers ${after.primaries.join(',') || 'none'}) but serve keeps them in effect (fail-static: it saw the table's incarnation marker change), so the answers stay right; (a3) then runs \`geosteer recover\`.`,
      );
    } else r.notes.push(`serve kept the lost drain and pointer in effect (fail-static) until recover wrote them back from its /api/state; table after: drains ${after.drains.join(',')}, pointers ${after.primaries.join(',')}.`);
  });
}

/** (b) Redis SIGSTOPped for 3 s, then SIGCONT. */
export function redisStop(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('b', 'redis-stop', 'Redis SIGSTOP 3 s, SIGCONT');
  return scoped(r, async (scope) => {
    const redis = scope.later(await TestRedis.start(), (x) => x.stop());
    const { rig, exp, before } = await prepare(scope, ['--redis', redis.url]);
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    redis.freeze();
    r.events.push({ at: 0, what: 'redis-server SIGSTOPped' });
    await sleep(3000);
    redis.thaw();
    const upAt = Date.now();
    r.events.push({ at: upAt - r.faultAt, what: 'redis-server SIGCONT' });
    const change = await changeAfterFault(redis.options(), rig, exp, upAt);
    const down = rig.serve.loggedAt(/health store unreachable/, r.faultAt);
    r.events.push({ at: upAt + (change.visibleMs ?? NaN) - r.faultAt, what: 'serve answers north with gz (drain written after SIGCONT)' });
    await sleep(ctx.dwellMs);
    await finish(r, traffic, rig, before);
    r.converged = change.visibleMs !== null;
    r.convergence = `SIGCONT -> change written ${secs(change.writtenMs)}, visible in answers ${secs(change.visibleMs)} (load timeline: ${secs(settledAt(r.traffic as NonNullable<typeof r.traffic>, 'www/north', ADDR.www.gz, upAt))})`;
    r.dataChecked = `drains ${before.drains.length}, pointer ${before.primaries.join(',')}, voters ${before.voters.join(',')}`;
    r.notes.push(down ? 'serve noticed the frozen Redis (command timeout) and answered from its mirror.' : 'serve never noticed: its connections stayed open and it sends nothing on the query path.');
  });
}

/** (c) Sentinel: master + replica + 3 sentinels; the master is SIGKILLed. */
export function sentinelFailover(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('c', 'sentinel', 'Sentinel failover (master SIGKILLed)');
  return scoped(r, async (scope) => {
    const cluster = scope.later(await SentinelCluster.start(3, { downAfterMs: 1000, failoverTimeoutMs: 5000 }), (c) => c.stop());
    await cluster.waitReady(30_000);
    const sentinels = cluster.sentinels.map((s) => `127.0.0.1:${s.port}`).join(',');
    const { rig, exp, before } = await prepare(scope, ['--redis-sentinels', sentinels, '--redis-master', cluster.settings.masterName]);
    const master = cluster.master as TestRedis;
    // Replication is asynchronous: let the replica acknowledge everything before the kill.
    const mc = rawClient(master.port);
    const acked = await mc.call('WAIT', '1', '3000').finally(() => mc.disconnect());
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    await master.kill();
    r.events.push({ at: 0, what: `master 127.0.0.1:${master.port} SIGKILLed` });
    const promoted = await cluster.waitPromotion(`127.0.0.1:${master.port}`, 30_000);
    r.events.push({ at: promoted.at - r.faultAt, what: `a sentinel hands out the new master ${promoted.addr}` });
    const change = await changeAfterFault(cluster.options(), rig, exp, r.faultAt);
    r.events.push({ at: change.writtenMs ?? NaN, what: 'drain bj (www) written through Sentinel' });
    r.events.push({ at: change.visibleMs ?? NaN, what: 'serve answers north with gz' });
    await sleep(ctx.dwellMs);
    await finish(r, traffic, rig, before);
    r.converged = change.visibleMs !== null;
    r.convergence = `kill -> promotion ${secs(promoted.at - r.faultAt)}; first write accepted ${secs(change.writtenMs)}; visible in answers ${secs(change.visibleMs)} (load timeline: ${secs(settledAt(r.traffic as NonNullable<typeof r.traffic>, 'www/north', ADDR.www.gz, r.faultAt))})`;
    r.dataChecked = `drains ${before.drains.length}, pointer ${before.primaries.join(',')}, voters ${before.voters.join(',')}, on the promoted replica`;
    r.notes.push(`WAIT before the kill: ${String(acked)} replica had every write. Replication is asynchronous: a write acknowledged in the last moment before a kill can still be lost.`);
  });
}

/** (d) Two probers; the leader is SIGKILLed, then bj fails: the survivor must take the lease and fail db over. */
export function proberKill(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('d', 'prober-kill', 'leader prober SIGKILLed, then bj fails');
  return scoped(r, async (scope) => {
    const redis = scope.later(await TestRedis.start(), (x) => x.stop());
    const { rig, exp, before } = await prepare(scope, ['--redis', redis.url], false);
    const store = scope.later(new RedisStore(redis.options()), (s) => s.close());
    await store.whenReady(5000);
    const first = before.leader as string;
    const other = first === 'p1' ? 'p2' : 'p1';
    const traffic = startLoad(scope, ctx, rig.port, exp);
    await sleep(ctx.dwellMs);
    r.faultAt = Date.now();
    rig.probes[first].proc.kill('SIGKILL');
    await rig.probes[first].exited;
    r.events.push({ at: 0, what: `leader ${first} SIGKILLed (lease 2 s, epoch ${before.epoch})` });
    const takeover = await waitFor(`${other} to take the lease`, async () => (await store.leader()).holder === other, 15_000, 20).catch(() => null);
    const lead = await store.leader();
    r.events.push({ at: takeover ?? NaN, what: `${other} holds the lease (epoch ${lead.epoch})` });
    // Verdicts held while the dead prober's votes aged out; now a real failure.
    const failAt = Date.now();
    for (const label of ['www/north', 'db/south', 'db/overseas'] as const) exp.add(label, label === 'www/north' ? ADDR.www.gz : ADDR.db.gz);
    rig.endpoints.bj.status = 503;
    r.events.push({ at: failAt - r.faultAt, what: 'bj endpoint starts answering 503' });
    const verdictMs = await waitAnswer(rig.port, 'www/north', ADDR.www.gz, 15_000);
    if (verdictMs !== null) exp.set('www/north', ADDR.www.gz);
    r.events.push({ at: Date.now() - r.faultAt, what: 'www north answers gz (bj voted down)' });
    const failoverMs = await waitAnswer(rig.port, 'db/south', ADDR.db.gz, 20_000);
    const movedAt = Date.now();
    if (failoverMs !== null) {
      exp.set('db/south', ADDR.db.gz);
      exp.set('db/overseas', ADDR.db.gz);
    }
    r.events.push({ at: movedAt - r.faultAt, what: 'db answers gz (primary moved)' });
    const pointer = (await store.loadAll()).primaries.find((p) => p.service === DB);
    await sleep(ctx.dwellMs);
    const after = await finish(r, traffic, rig, before);
    r.converged = takeover !== null && verdictMs !== null && failoverMs !== null && pointer?.by === other;
    r.convergence = `kill -> ${other} leads ${secs(takeover)}; bj failing -> north on gz ${secs(verdictMs === null ? null : verdictMs)}, db failed over ${secs(failoverMs === null ? null : movedAt - failAt)} (fall 3 x 500 ms, hold_down 2 s)`;
    r.dataChecked = `drains ${before.drains.length}, voters ${before.voters.join(',')} (${first}'s votes stale, kept)`;
    r.notes.push(`Pointer after: ${pointer ? `${pointer.dc} by ${pointer.by} epoch ${pointer.epoch}` : 'none'}; table has ${after.primaries.join(',')}. No verdict flipped while ${first}'s votes aged out (0 wrong before bj failed).`);
  });
}
