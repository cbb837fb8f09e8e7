import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { RedisStore, type PrimaryPointer } from '../../src/health';
import { dig } from '../helpers/dig';
import { redisAvailable, TestRedis } from '../helpers/redis';
import { DEFAULT_MAP, startServer, writeTemp, type TestServer } from '../helpers/server';
import { sleep, until } from '../helpers/wait';
import { Endpoint } from '../helpers/endpoint';
import { stopChild } from '../helpers/process';
import { CLI, runCli, type CliRun } from '../helpers/cli';

// Primary failover end to end: a `policy: primary` service, real HTTP
// endpoints, real Redis, the leader lease between real `geosteer probe`
// processes, and the fencing that stops a stale leader.

const DB = 'db.example.com';
const ADDR = { gz: '192.0.2.20', bj: '198.51.100.20', sg: '203.0.113.20' };
const REGIONS = { south: '183.6.0.0/24', north: '202.96.0.0/24', overseas: '8.8.8.0/24' };
const HOLD_DOWN = 500;
const INTERVAL = 200;

const skip = redisAvailable() ? false : 'redis-server not installed';


/** The sample map plus a `policy: primary` service (primary bj) checked at local endpoints. */
function primaryMap(ports: { gz: number; bj: number; sg: number }): string {
  const sample = readFileSync(DEFAULT_MAP, 'utf8').trimEnd();
  return `${sample}
  ${DB}:
    policy: primary
    primary: bj
    standbys: [gz, sg]
    hold_down: ${HOLD_DOWN}ms
    datacenters:
      gz: { a: [${ADDR.gz}] }
      bj: { a: [${ADDR.bj}] }
      sg: { a: [${ADDR.sg}] }
    check:
      type: http
      path: /health
      interval: ${INTERVAL}ms
      timeout: 150ms
      fall: 3
      rise: 2
      targets: { gz: "127.0.0.1:${ports.gz}", bj: "127.0.0.1:${ports.bj}", sg: "127.0.0.1:${ports.sg}" }
`;
}

/** Runs the compiled CLI to completion (killed after `timeoutMs`). */
const cli = (args: string[], timeoutMs?: number): Promise<CliRun> => runCli(args, { timeoutMs });

/** A long-running child (geosteer probe) whose stdout JSON log lines are kept. */
class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<void>;
  constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    proc.stderr?.on('data', (d: Buffer) => this.lines.push(`stderr: ${d.toString()}`));
    this.exited = new Promise((r) => proc.once('exit', () => r()));
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  logged(msg: RegExp): boolean {
    return this.lines.some((l) => msg.test(l));
  }

  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void> {
    return stopChild(this.proc, this.exited);
  }
}

let redis: TestRedis;
const cleanups: Array<() => Promise<unknown> | unknown> = [];
function later<T>(value: T, fn: (v: T) => Promise<unknown> | unknown): T {
  cleanups.push(() => fn(value));
  return value;
}

async function newStore(prefix: string): Promise<RedisStore> {
  const s = later(new RedisStore(redis.options(prefix)), (x) => x.close());
  await s.whenReady();
  return s;
}

async function endpoints(): Promise<{ gz: Endpoint; bj: Endpoint; sg: Endpoint }> {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of [gz, bj, sg]) later(e, (x) => x.close());
  return { gz, bj, sg };
}

/** `ADDRESS/TTL` that every region gets for db.example.com, or null when the regions disagree. */
async function everyRegion(port: number): Promise<string | null> {
  const seen = new Set<string>();
  for (const subnet of Object.values(REGIONS)) {
    const r = await dig(port, [DB, 'A', `+subnet=${subnet}`]);
    seen.add(r.answer.map((x) => `${x[4]}/${x[1]}`).join(','));
  }
  return seen.size === 1 ? [...seen][0] : null;
}

async function pointer(store: RedisStore): Promise<PrimaryPointer | undefined> {
  return (await store.loadAll()).primaries.find((p) => p.service === DB);
}

before(async () => {
  if (skip) return;
  redis = await TestRedis.start();
});

after(async () => {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
  await redis?.stop();
});

test('primary failover: bj fails -> gz after hold-down for every region; bj recovering does not move it back; promote does', { skip }, async (t) => {
  const prefix = 'ld1:';
  const ep = await endpoints();
  const mapFile = writeTemp('map.yaml', primaryMap({ gz: ep.gz.port, bj: ep.bj.port, sg: ep.sg.port }));
  const s: TestServer = later(
    await startServer({ config: mapFile, redis: redis.options(prefix), probe: true, proberId: 'serve-ld', leaseMs: 1000, snapshotPath: null }),
    (x) => x.close(),
  );
  const store = await newStore(prefix);

  assert.equal(await everyRegion(s.port), `${ADDR.bj}/60`, 'every region gets the configured primary');
  await until('serve to take the leader lease', async () => (await store.leader()).holder === 'serve-ld', 3000);

  const failedAt = Date.now();
  ep.bj.status = 503;
  await until('the bj verdict to go down', () => !s.mirror.verdictUp(DB, 'bj'), 3000, 20);
  const downAt = Date.now();
  assert.equal(await everyRegion(s.port), `${ADDR.bj}/60`, 'inside the hold-down the pointer stays on bj');
  await until('every region to answer gz', async () => (await everyRegion(s.port)) === `${ADDR.gz}/30`, 5000);
  const movedAt = Date.now();
  t.diagnostic(`bj failing -> verdict down ${downAt - failedAt} ms -> pointer on gz ${movedAt - failedAt} ms (hold_down ${HOLD_DOWN} ms)`);
  assert.ok(movedAt - downAt >= HOLD_DOWN - 100, `moved ${movedAt - downAt} ms after the verdict: hold-down not honoured`);
  const p = await pointer(store);
  assert.equal(p?.dc, 'gz');
  assert.equal(p?.by, 'serve-ld');
  assert.ok((p?.epoch ?? 0) >= 1, 'a leader write carries its epoch');
  const audit = await store.auditLog(5);
  assert.ok(audit.some((a) => a.action === 'failover' && a.from === 'bj' && a.to === 'gz'), JSON.stringify(audit));

  // bj recovers: failback is never automatic.
  ep.bj.status = 200;
  await until('the bj verdict to come back up', () => s.mirror.verdictUp(DB, 'bj'), 3000, 20);
  const watchEnd = Date.now() + HOLD_DOWN + 1000; // > hold-down + three leader ticks
  while (Date.now() < watchEnd) {
    assert.equal(await everyRegion(s.port), `${ADDR.gz}/30`, 'bj recovering must not move the pointer back');
    await sleep(100);
  }
  assert.equal((await pointer(store))?.dc, 'gz');

  // The operator moves it back.
  const run = await cli(['promote', DB, 'bj', '--reason', 'bj repaired', '--redis', redis.url, '--redis-prefix', prefix, '--config', mapFile]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /primary is now bj/);
  await until('every region to answer bj again', async () => (await everyRegion(s.port)) === `${ADDR.bj}/60`, 2000);
  const back = await pointer(store);
  assert.deepEqual([back?.dc, back?.epoch, back?.reason], ['bj', 0, 'bj repaired']);
});

test('leader lease between two probe processes: SIGKILL the leader, the other takes over and fails over', { skip }, async (t) => {
  const prefix = 'ld2:';
  const ep = await endpoints();
  const mapFile = writeTemp('map.yaml', primaryMap({ gz: ep.gz.port, bj: ep.bj.port, sg: ep.sg.port }));
  const store = await newStore(prefix);
  const s: TestServer = later(await startServer({ config: mapFile, redis: redis.options(prefix), probe: false, snapshotPath: null }), (x) => x.close());

  const probes: Record<string, Child> = {};
  for (const id of ['p1', 'p2']) {
    const proc = spawn(process.execPath, [CLI, 'probe', '--config', mapFile, '--redis', redis.url, '--redis-prefix', prefix, '--id', id, '--lease', '1s'], {
      env: { ...process.env, LOG_LEVEL: 'info', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    probes[id] = later(new Child(proc), (c) => c.stop());
  }

  const logs = (): string => Object.entries(probes).map(([id, c]) => `--- ${id} (exit ${c.proc.exitCode ?? c.proc.signalCode ?? 'running'}):\n${c.lines.slice(-20).join('\n')}`).join('\n');
  const first = await until('one probe to hold the lease', async () => (await store.leader()).holder, 8000).catch((e: Error) => {
    throw new Error(`${e.message}\n${logs()}`);
  });
  assert.ok(first === 'p1' || first === 'p2', `holder ${first}`);
  const other = first === 'p1' ? 'p2' : 'p1';
  const { epoch: firstEpoch } = await store.leader();
  await until('both probes to vote', async () => new Set((await store.loadAll()).votes.map((v) => v.prober)).size === 2, 5000);

  const status = await cli(['status', '--json', '--redis', redis.url, '--redis-prefix', prefix, '--config', mapFile]);
  assert.equal(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as { leader: { holder: string; epoch: number }; pairs: Array<{ service: string; dc: string; verdict: string }> };
  assert.deepEqual(json.leader, { holder: first, epoch: firstEpoch });
  assert.equal(json.pairs.find((r) => r.service === DB && r.dc === 'bj')?.verdict, 'up');
  await until(`${first} to log that it leads`, () => probes[first].logged(/holds the leader lease/), 3000);

  const killedAt = Date.now();
  probes[first].proc.kill('SIGKILL');
  await probes[first].exited;
  const next = await until(`${other} to take the lease`, async () => {
    const l = await store.leader();
    return l.holder === other ? l : null;
  }, 15_000, 20);
  const tookOver = Date.now() - killedAt;
  t.diagnostic(`leader ${first} SIGKILLed -> ${other} leads after ${tookOver} ms (lease 1000 ms), epoch ${firstEpoch} -> ${next.epoch}`);
  assert.ok(next.epoch > firstEpoch, 'a new holder gets a new epoch');

  // The new leader acts: bj fails -> gz.
  const failedAt = Date.now();
  ep.bj.status = 503;
  const p = await until('the new leader to move the pointer', async () => {
    const x = await pointer(store);
    return x?.dc === 'gz' ? x : null;
  }, 6000);
  t.diagnostic(`bj failing -> ${other} moved the pointer to gz after ${Date.now() - failedAt} ms`);
  assert.equal(p.by, other);
  assert.equal(p.epoch, next.epoch);
  await until('every region to answer gz', async () => (await everyRegion(s.port)) === `${ADDR.gz}/30`, 2000);
  assert.ok(probes[other].alive);
});

test('fencing: a leader whose lease expired cannot move the pointer, even with its old epoch', { skip }, async () => {
  const store = await newStore('ld3:');
  assert.equal(await store.setPrimary({ service: DB, dc: 'bj', epoch: 0, by: 'operator', reason: 'initial' }), true, 'an operator write is not fenced');

  const oldEpoch = await store.acquireLease('old', 300);
  assert.ok(oldEpoch !== null && oldEpoch >= 1);
  assert.equal(await store.acquireLease('new', 5000), null, 'the lease is held');
  await until('the old lease to expire', async () => (await store.leader()).holder === null, 3000, 20);
  const newEpoch = await store.acquireLease('new', 5000);
  assert.equal(newEpoch, oldEpoch + 1);

  const stale = await store.setPrimary({ service: DB, dc: 'sg', epoch: oldEpoch, by: 'old', reason: 'stale leader' }, { holder: 'old', epoch: oldEpoch });
  assert.equal(stale, false, 'the ex-leader is fenced off');
  const wrongEpoch = await store.setPrimary({ service: DB, dc: 'sg', epoch: oldEpoch, by: 'new', reason: 'old epoch' }, { holder: 'new', epoch: oldEpoch });
  assert.equal(wrongEpoch, false, 'the holder with an old epoch is fenced off too');
  let p = await pointer(store);
  assert.deepEqual([p?.dc, p?.by], ['bj', 'operator'], 'the pointer is unchanged');
  assert.equal(await store.acquireLease('old', 300), null, 'the ex-leader cannot take the lease back while it is held');

  assert.equal(await store.setPrimary({ service: DB, dc: 'gz', epoch: newEpoch, by: 'new', reason: 'current leader' }, { holder: 'new', epoch: newEpoch }), true);
  p = await pointer(store);
  assert.deepEqual([p?.dc, p?.by, p?.epoch], ['gz', 'new', newEpoch]);
});
