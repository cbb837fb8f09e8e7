import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { CLI, cliEnv, type CliRun } from '../helpers/cli';
import { NetnsLab, netnsUnavailable, type LinkEnd } from '../helpers/netns';
import { stopChild } from '../helpers/process';
import { sleep } from '../helpers/wait';
import type { TrafficReport } from '../load/traffic';
import { ADDR, drillMap, KINDS, lostBetween, Proc, waitFor, type Scope, type TableState } from './harness';
import type { AgentCommand, AgentEvent, LoadSpec } from './netns-agent';
import { emptyResult, scoped, secs, type DrillContext, type DrillResult } from './result';

// The fleet drill (geosteer issue 10 §3): two datacenters as network
// namespaces joined by one veth pair, Redis in dc1, NS hosts ns1 (dc1), ns2
// and ns3 (dc2), prober p1 in dc1 and p2 in dc2. Each namespace runs its own
// HTTP health endpoints on its loopback (same ports, so one map serves both
// probers and a partition never makes a datacenter look down), and the UDP
// load runs inside the namespaces (netns-agent.ts), one generator per host,
// every answer checked. The partition is the veth going down: dc2 loses
// Redis (and dc1), while its resolvers (the load) still reach its hosts.

const AGENT = resolve(__dirname, 'netns-agent.js');
const DC1_ADDR = '10.250.0.1';
const DC2_ADDR = '10.250.0.2';
const REDIS_PORT = 6379;
const REDIS_URL = `redis://${DC1_ADDR}:${REDIS_PORT}`;
const EP_PORTS = { gz: 8081, bj: 8082, sg: 8083 };
const HOSTS = [
  { id: 'ns1', dc: 'dc1', port: 5301 },
  { id: 'ns2', dc: 'dc2', port: 5302 },
  { id: 'ns3', dc: 'dc2', port: 5303 },
] as const;
type HostId = (typeof HOSTS)[number]['id'];

/** v1 is the drill map; v2 moves north to gz first and mail to .26, so each host's answers tell which map it runs. */
const MAIL_V2 = '192.0.2.26';
const mapV1 = (): string => drillMap(EP_PORTS);
const mapV2 = (): string => {
  let text = mapV1();
  const edits: Array<[string, string]> = [
    ['north: { countries: [CN], datacenters: [bj, gz, sg] }', 'north: { countries: [CN], datacenters: [gz, bj, sg] }'],
    [`mail  A  ${ADDR.mail}`, `mail  A  ${MAIL_V2}`],
    ['serial: 1,', 'serial: 2,'],
  ];
  // A drill map edited elsewhere must not turn v2 silently into v1.
  for (const [from, to] of edits) {
    if (!text.includes(from)) throw new Error(`map v2: the drill map no longer has "${from}"`);
    text = text.replace(from, to);
  }
  return text;
};

/** What each query label answers under v1 / v2 (the labels the versions differ on carry a version). */
const V1: Record<string, string[]> = {
  'www/south': [ADDR.www.gz],
  'www/north': [ADDR.www.bj],
  'www/overseas': [ADDR.www.sg],
  'www6/south': [ADDR.www6.gz],
  'db/south': [ADDR.db.bj],
  'db/overseas': [ADDR.db.bj],
  mail: [ADDR.mail],
};
const V2: Record<string, string[]> = { ...V1, 'www/north': [ADDR.www.gz], mail: [MAIL_V2] };
const VERSIONS: LoadSpec['versions'] = {
  'www/north': { [ADDR.www.bj]: 1, [ADDR.www.gz]: 2 },
  mail: { [ADDR.mail]: 1, [MAIL_V2]: 2 },
};

/** Runs CMD ARGS inside NS to completion (killed after `timeoutMs`). */
function nsRun(ns: string, cmd: string, args: string[], timeoutMs = 15_000): Promise<CliRun> {
  const [c, a] = NetnsLab.wrap(ns, cmd, args);
  return new Promise((done) => {
    execFile(c, a, { env: cliEnv(), timeout: timeoutMs, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null;
      done({ code, stdout, stderr });
    });
  });
}

const geosteer = (ns: string, args: string[], timeoutMs?: number): Promise<CliRun> => nsRun(ns, process.execPath, [CLI, ...args], timeoutMs);

/** A spawned process inside a namespace whose stdout lines are JSON events (netns-agent.ts). */
class Agent {
  readonly events: AgentEvent[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<void>;
  private stderr = '';
  private waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    ns: string,
    args: string[],
  ) {
    const [c, a] = NetnsLab.wrap(ns, process.execPath, [AGENT, ...args]);
    this.proc = spawn(c, a, { stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      try {
        this.events.push(JSON.parse(l) as AgentEvent);
      } catch {
        this.stderr += `${l}\n`;
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.proc.stderr?.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.proc.stdin?.on('error', () => undefined);
    this.exited = new Promise((r) =>
      this.proc.once('exit', () => {
        for (const w of this.waiters.splice(0)) w();
        r();
      }),
    );
  }

  /** The first event matching `pred`, waiting up to `timeoutMs`; null if none came. */
  async next<E extends AgentEvent>(pred: (e: AgentEvent) => e is E, timeoutMs: number, from = 0): Promise<E | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.slice(from).find(pred);
      if (e) return e;
      if (this.proc.exitCode !== null || Date.now() >= end) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, end - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  send(c: AgentCommand): void {
    this.proc.stdin?.write(`${JSON.stringify(c)}\n`);
  }

  /** Sends C and waits for the first event after it that matches. */
  ask<E extends AgentEvent>(c: AgentCommand, pred: (e: AgentEvent) => e is E, timeoutMs: number): Promise<E | null> {
    const from = this.events.length;
    this.send(c);
    return this.next(pred, timeoutMs, from);
  }

  get why(): string {
    return `${this.name}: ${this.stderr.trim() || '(no output)'}`;
  }

  stop(): Promise<void> {
    return stopChild(this.proc, this.exited);
  }
}

const isReady = (e: AgentEvent): e is Extract<AgentEvent, { event: 'ready' }> => e.event === 'ready';
const isReport = (e: AgentEvent): e is Extract<AgentEvent, { event: 'report' }> => e.event === 'report';
const isV2 = (e: AgentEvent): e is Extract<AgentEvent, { event: 'version' }> => e.event === 'version' && e.version === 2;

/** The UDP load on one host, from inside its namespace. */
class HostLoad {
  private readonly agent: Agent;

  constructor(
    readonly host: HostId,
    ns: string,
    port: number,
    rate: number,
    allow: Record<string, string[]>,
    waitReady = false,
  ) {
    const spec: LoadSpec = { port, rate, durationMs: 180_000, kinds: KINDS, allow, versions: VERSIONS, waitReady };
    this.agent = new Agent(`load ${host}`, ns, ['load', JSON.stringify(spec)]);
  }

  /** Accept exactly these answers per label from now on. */
  allow(answers: Record<string, string[]>): void {
    for (const [label, addrs] of Object.entries(answers)) this.agent.send({ op: 'allow', label, addrs });
  }

  /** When it started sending (after the host first answered, with waitReady). */
  started(timeoutMs: number): Promise<number | null> {
    return this.agent.next((e): e is Extract<AgentEvent, { event: 'started' }> => e.event === 'started', timeoutMs).then((e) => e?.at ?? null);
  }

  ready(timeoutMs: number): Promise<number | null> {
    return this.agent.next(isReady, timeoutMs).then((e) => e?.at ?? null);
  }

  /** When the first v2 answer arrived (Date.now()), waiting up to `timeoutMs`. */
  v2(timeoutMs: number): Promise<number | null> {
    return this.agent.next(isV2, timeoutMs).then((e) => e?.at ?? null);
  }

  async stop(): Promise<Extract<AgentEvent, { event: 'report' }>> {
    this.agent.send({ op: 'stop' });
    const r = await this.agent.next(isReport, 5000);
    await this.agent.stop();
    if (!r) throw new Error(`no report from ${this.agent.why}`);
    return r;
  }

  kill(): Promise<void> {
    return this.agent.stop();
  }
}

/** Several hosts' reports as one (timelines aligned on the earliest start, 100 ms buckets). */
export function mergeReports(rs: TrafficReport[]): TrafficReport {
  const start = Math.min(...rs.map((r) => r.startedAt));
  const out: TrafficReport = { sent: 0, ok: 0, wrong: 0, lost: 0, wrongSamples: [], timeline: [], startedAt: start, elapsedMs: 0, maxTickGapMs: 0 };
  for (const r of rs) {
    out.sent += r.sent;
    out.ok += r.ok;
    out.wrong += r.wrong;
    out.lost += r.lost;
    out.maxTickGapMs = Math.max(out.maxTickGapMs, r.maxTickGapMs);
    out.elapsedMs = Math.max(out.elapsedMs, r.startedAt + r.elapsedMs - start);
    const shift = Math.round((r.startedAt - start) / 100);
    for (const w of r.wrongSamples) out.wrongSamples.push({ t: w.t + r.startedAt - start, answer: w.answer });
    r.timeline.forEach((b, i) => {
      const j = i + shift;
      while (out.timeline.length <= j) out.timeline.push({ t: out.timeline.length * 100, sent: 0, ok: 0, wrong: 0, lost: 0, answers: {} });
      const o = out.timeline[j];
      o.sent += b.sent;
      o.ok += b.ok;
      o.wrong += b.wrong;
      o.lost += b.lost;
      for (const [k, n] of Object.entries(b.answers)) o.answers[k] = (o.answers[k] ?? 0) + n;
    });
  }
  out.wrongSamples = out.wrongSamples.sort((a, b) => a.t - b.t).slice(0, 10);
  return out;
}

interface Fleet {
  lab: NetnsLab;
  ns: { dc1: string; dc2: string };
  /** dc2's end of the veth: cut and healed from there. */
  link: LinkEnd;
  map: string;
  v2: string;
  dir: string;
  serves: Record<HostId, Proc>;
  probes: Record<'p1' | 'p2', Proc>;
  /** Reads the table and the registry from inside dc1 (netns-agent.ts status). */
  reader: Agent;
}

/** The status of the table as `geosteer status --json` sees it from dc1. */
interface FleetStatus {
  now: number;
  table: TableState;
  /** prober -> how many of its votes are fresh. */
  freshVotes: Record<string, number>;
  /** Verdict per "service/dc". */
  verdicts: Record<string, string>;
  hosts: Record<string, { alive: boolean; mapVersion: number | null; lastSeenAt: number }>;
  current: number | null;
}

const isStatus = (e: AgentEvent): e is Extract<AgentEvent, { event: 'status' }> => e.event === 'status';

async function fleetStatus(f: Fleet): Promise<FleetStatus> {
  const e = await f.reader.ask({ op: 'status' }, isStatus, 5000);
  if (!e?.read) throw new Error(`table read in dc1 failed: ${e?.error ?? f.reader.why}`);
  const j = e.read;
  return {
    now: j.now,
    table: { drains: j.drains, primaries: j.primaries, voters: Object.keys(j.votes).sort(), votes: Object.values(j.votes).reduce((n, [v]) => n + v, 0), leader: j.leader, epoch: j.epoch },
    freshVotes: Object.fromEntries(Object.entries(j.votes).map(([p, [, fresh]]) => [p, fresh])),
    verdicts: j.verdicts,
    hosts: Object.fromEntries(Object.entries(j.hosts).map(([id, h]) => [id, { alive: h.alive, mapVersion: h.mapVersion, lastSeenAt: h.lastSeen }])),
    current: j.current,
  };
}

function serveArgs(f: Pick<Fleet, 'dir'>, h: (typeof HOSTS)[number]): string[] {
  const addr = h.dc === 'dc1' ? DC1_ADDR : DC2_ADDR;
  return ['serve', '--redis', REDIS_URL, '--no-probe', '--workers', '1', '--id', h.id, '--state-file', join(f.dir, `geosteer-${h.id}-health.json`), '--metrics-listen', 'off', '--listen', `127.0.0.1:${h.port}`, '--listen', `${addr}:${h.port}`];
}

/** Starts a serve host in its namespace; resolves once it logged "geosteer serving". */
async function startHost(f: Pick<Fleet, 'dir' | 'ns'>, h: (typeof HOSTS)[number]): Promise<Proc> {
  const p = new Proc(h.id, serveArgs(f, h), (c, a) => NetnsLab.wrap(f.ns[h.dc], c, a));
  await waitFor(`${h.id} to serve`, () => p.loggedAt(/geosteer serving/) !== null || !p.alive, 20_000, 20);
  if (!p.alive) throw new Error(`${h.id} exited\n${p.tail()}`);
  return p;
}

/** Namespaces, link, Redis, v1 published, endpoints in both, three serve hosts, two probers voting. */
async function startFleet(scope: Scope): Promise<Fleet> {
  NetnsLab.removeStale();
  const lab = scope.later(new NetnsLab(), (l) => l.remove());
  const ns = { dc1: lab.add('dc1'), dc2: lab.add('dc2') };
  const [, link] = lab.link({ ns: ns.dc1, dev: 'to-dc2', cidr: `${DC1_ADDR}/24` }, { ns: ns.dc2, dev: 'to-dc1', cidr: `${DC2_ADDR}/24` });
  const [rc, ra] = NetnsLab.wrap(ns.dc1, 'redis-server', ['--port', String(REDIS_PORT), '--bind', DC1_ADDR, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', scope.dir]);
  const redis = spawn(rc, ra, { stdio: 'ignore' });
  const redisExit = new Promise<void>((r) => redis.once('exit', () => r()));
  scope.later(redis, (p) => stopChild(p, redisExit));
  await waitFor('redis-server in dc1', async () => (await nsRun(ns.dc1, 'redis-cli', ['-h', DC1_ADDR, '-p', String(REDIS_PORT), 'ping'], 2000)).stdout.trim() === 'PONG', 10_000, 50);
  const map = join(scope.dir, 'map-v1.yaml');
  const v2 = join(scope.dir, 'map-v2.yaml');
  writeFileSync(map, mapV1());
  writeFileSync(v2, mapV2());
  const reader = scope.later(new Agent('status reader', ns.dc1, ['status', `${DC1_ADDR}:${REDIS_PORT}`]), (a) => a.stop());
  const f = { lab, ns, link, map, v2, dir: scope.dir, reader };
  const serves = {} as Record<HostId, Proc>;
  const probes = {} as Record<'p1' | 'p2', Proc>;
  // Two chains at once (each Node start costs ~0.5 s of a shared core): v1 published -> the hosts; endpoints -> the probers.
  const hostsUp = (async () => {
    const pub = await geosteer(ns.dc1, ['publish', map, '--reason', 'v1', '--redis', REDIS_URL]);
    if (pub.code !== 0) throw new Error(`publish v1 failed: ${pub.stderr}`);
    await Promise.all(HOSTS.map(async (h) => (serves[h.id] = scope.later(await startHost(f, h), (p) => p.stop()))));
  })();
  const probersUp = (async () => {
    await Promise.all(
      [ns.dc1, ns.dc2].map(async (n) => {
        const ep = scope.later(new Agent(`endpoints ${n}`, n, ['endpoints', Object.values(EP_PORTS).join(',')]), (a) => a.stop());
        if ((await ep.next(isReady, 10_000)) === null) throw new Error(`endpoints did not start: ${ep.why}`);
      }),
    );
    for (const [id, dc] of [['p1', 'dc1'], ['p2', 'dc2']] as const) {
      probes[id] = scope.later(new Proc(id, ['probe', '--config', map, '--id', id, '--lease', '2s', '--metrics-listen', 'off', '--redis', REDIS_URL], (c, a) => NetnsLab.wrap(ns[dc], c, a)), (p) => p.stop());
    }
  })();
  await Promise.all([hostsUp, probersUp]);
  const fleet: Fleet = { ...f, serves, probes };
  await waitFor('both probers to vote, one to lead, every host registered on v1', async () => {
    const s = await fleetStatus(fleet);
    return (s.freshVotes.p1 ?? 0) > 0 && (s.freshVotes.p2 ?? 0) > 0 && s.table.leader !== null && HOSTS.every((h) => s.hosts[h.id]?.alive && s.hosts[h.id].mapVersion === 1);
  }, 20_000, 200).catch((e: Error) => {
    throw new Error(`${e.message}\n${[...Object.values(probes), ...Object.values(serves)].map((p) => p.tail(8)).join('\n')}`);
  });
  return fleet;
}

const hostRate = (ctx: DrillContext): number => Math.max(10, Math.round(ctx.rate / HOSTS.length));

/** One load per host, rate split evenly, all expecting v1. */
function startLoads(scope: Scope, f: Fleet, ctx: DrillContext): Record<HostId, HostLoad> {
  const loads = {} as Record<HostId, HostLoad>;
  for (const h of HOSTS) loads[h.id] = scope.later(new HostLoad(h.id, f.ns[h.dc], h.port, hostRate(ctx), V1), (l) => l.kill());
  return loads;
}

/** Both answers are right while a version spreads. */
const either = (): Record<string, string[]> => Object.fromEntries(Object.keys(V1).map((k) => [k, [...new Set([...V1[k], ...V2[k]])]]));

/** Serve's account of the outage and the recovery, per dc2 host, as drill events. */
function serveLogEvents(r: DrillResult, f: Fleet, ids: HostId[]): void {
  for (const id of ids) {
    const p = f.serves[id];
    const down = p.loggedAt(/health store unreachable/, r.faultAt);
    const up = p.loggedAt(/reachable again: resynced/, r.faultAt);
    const reg = p.loggedAt(/cannot register this host/, r.faultAt);
    const disk = p.loggedAt(/serving the disk copy/, r.faultAt);
    if (down) r.events.push({ at: down - r.faultAt, what: `${id} logged "health store unreachable"` });
    if (reg) r.events.push({ at: reg - r.faultAt, what: `${id} logged "fleet registry: cannot register this host"` });
    if (disk) r.events.push({ at: disk - r.faultAt, what: `${id} logged "serving the disk copy of published map version 1"` });
    if (up) r.events.push({ at: up - r.faultAt, what: `${id} logged "health store reachable again: resynced"` });
  }
}

/** Stops every load and sums them; a half-applied map (an older version after a newer one was seen) is wrong already, and listed. */
async function stopLoads(r: DrillResult, loads: HostLoad[]): Promise<void> {
  const reports = await Promise.all(loads.map((l) => l.stop()));
  r.traffic = mergeReports(reports.map((x) => x.report));
  const mixed = reports.reduce((n, x) => n + x.mixed, 0);
  r.notes.push(`Per host (right/sent): ${loads.map((l, i) => `${l.host} ${reports[i].report.ok}/${reports[i].report.sent}`).join(', ')}. Answers after a newer map was seen on the same host that came from the older one: ${mixed}${mixed ? ` (${reports.flatMap((x) => x.mixedSamples).slice(0, 3).join('; ')})` : ''}.`);
}

/** Waits until both dc2 hosts registered again after `healAt` and p2 votes fresh; ms after heal for each. */
async function dc2Back(f: Fleet, healAt: number, extra: (s: FleetStatus) => boolean = () => true): Promise<{ ns2: number | null; ns3: number | null; p2: number | null; all: number | null; last: FleetStatus | null }> {
  const seen: { ns2: number | null; ns3: number | null; p2: number | null } = { ns2: null, ns3: null, p2: null };
  let last: FleetStatus | null = null;
  const ok = await waitFor('dc2 back in the table', async () => {
    const s = await fleetStatus(f);
    last = s;
    for (const id of ['ns2', 'ns3'] as const) if (seen[id] === null && s.hosts[id] && s.hosts[id].lastSeenAt > healAt) seen[id] = s.hosts[id].lastSeenAt - healAt;
    if (seen.p2 === null && (s.freshVotes.p2 ?? 0) > 0) seen.p2 = Date.now() - healAt;
    return seen.ns2 !== null && seen.ns3 !== null && seen.p2 !== null && extra(s);
  }, 30_000, 100).catch(() => null);
  return { ...seen, all: ok === null ? null : Date.now() - healAt, last };
}

/** Whether dc2 reaches Redis now: redis-cli PING from inside dc2 (2 s at most), and what it said. */
async function dc2Ping(f: Fleet): Promise<{ ok: boolean; said: string }> {
  const r = await nsRun(f.ns.dc2, 'redis-cli', ['-h', DC1_ADDR, '-p', String(REDIS_PORT), 'ping'], 2000);
  const said = `${r.stdout}${r.stderr}`.trim().split('\n')[0] || `exit ${r.code}`;
  return { ok: r.stdout.trim() === 'PONG', said };
}

/** The fault: dc2's end of the veth down; proven by a PING from dc2 that fails. */
async function cut(r: DrillResult, f: Fleet): Promise<void> {
  r.faultAt = Date.now();
  f.lab.cut(f.link);
  r.events.push({ at: 0, what: 'veth dc1<->dc2 down: dc2 cut off from Redis' });
  const p = await dc2Ping(f);
  if (p.ok) throw new Error('the cut did not isolate dc2: redis-cli PING from dc2 still answered');
  r.events.push({ at: Date.now() - r.faultAt, what: `redis-cli PING from dc2 fails: ${p.said}` });
}

/** The link up again; returns when (Date.now()), after a PING from dc2 answered. */
async function heal(r: DrillResult, f: Fleet): Promise<number> {
  const healAt = Date.now();
  f.lab.heal(f.link);
  r.events.push({ at: healAt - r.faultAt, what: 'veth up again' });
  const ms = await waitFor('dc2 to reach Redis again', async () => (await dc2Ping(f)).ok, 10_000, 20).catch(() => null);
  r.events.push({ at: ms === null ? NaN : healAt + ms - r.faultAt, what: 'redis-cli PING from dc2 answers again' });
  return healAt;
}

/** Cut dc2 off and wait until every vote p2 wrote went stale in Redis (ms after the cut), with the verdicts then. */
async function cutAndAge(r: DrillResult, f: Fleet): Promise<{ agedMs: number | null; verdicts: Record<string, string> }> {
  await cut(r, f);
  let verdicts: Record<string, string> = {};
  const agedMs = await waitFor("p2's votes to age out", async () => {
    const s = await fleetStatus(f);
    verdicts = s.verdicts;
    return (s.freshVotes.p2 ?? 0) === 0 && s.table.voters.includes('p2');
  }, 15_000, 100).catch(() => null);
  r.events.push({ at: agedMs ?? NaN, what: "every vote of p2 stale in Redis (p1's alone decide)" });
  return { agedMs, verdicts };
}

const allUp = (v: Record<string, string>): boolean => Object.values(v).length > 0 && Object.values(v).every((x) => x === 'up');

const withNetns = (r: DrillResult, body: (scope: Scope) => Promise<void>): Promise<DrillResult> => {
  const why = netnsUnavailable();
  if (why) return Promise.resolve({ ...r, error: `network namespaces unavailable: ${why}` });
  return scoped(r, body);
};

/** (n1) dc2 cut off from Redis: its hosts keep answering, p2's votes age out without a flip, everything converges after heal. */
export function netnsPartition(ctx: DrillContext, o: { untilNoticed?: boolean } = {}): Promise<DrillResult> {
  const r = emptyResult('n1', 'netns-partition', 'netns fleet: dc2 cut off from Redis, healed');
  const untilNoticed = o.untilNoticed ?? true;
  return withNetns(r, async (scope) => {
    const f = await startFleet(scope);
    const before = await fleetStatus(f);
    const loads = startLoads(scope, f, ctx);
    await sleep(ctx.dwellMs);
    const aged = await cutAndAge(r, f);
    // serve sends Redis nothing between its 10 s full reads: only a partition that outlasts one is noticed
    // (then it retries every 500 ms and logs the recovery). The slice skips this wait.
    const noticed = untilNoticed
      ? await waitFor('ns2 and ns3 to notice', () => (['ns2', 'ns3'] as const).every((id) => f.serves[id].loggedAt(/health store unreachable/, r.faultAt) !== null), 15_000, 50).catch(() => null)
      : 0;
    await sleep(ctx.dwellMs); // the fleet runs on with p2 silent
    const healAt = await heal(r, f);
    const resynced = await waitFor('ns2 and ns3 to resync', () => (['ns2', 'ns3'] as const).every((id) => f.serves[id].loggedAt(/reachable again: resynced/, healAt) !== null), untilNoticed ? 15_000 : 0, 50).catch(() => null);
    const back = await dc2Back(f, healAt);
    r.events.push({ at: healAt + (back.ns2 ?? NaN) - r.faultAt, what: 'ns2 registered again' });
    r.events.push({ at: healAt + (back.ns3 ?? NaN) - r.faultAt, what: 'ns3 registered again' });
    r.events.push({ at: healAt + (back.p2 ?? NaN) - r.faultAt, what: 'p2 voting again (fresh votes in Redis)' });
    await sleep(ctx.dwellMs);
    await stopLoads(r, Object.values(loads));
    serveLogEvents(r, f, ['ns2', 'ns3']);
    const after = await fleetStatus(f);
    r.dataLost = lostBetween(before.table, after.table);
    if (!allUp(aged.verdicts)) r.dataLost.push(`a verdict flipped while p2 was silent: ${JSON.stringify(aged.verdicts)}`);
    const resyncMs = (id: HostId): number | null => {
      const at = f.serves[id].loggedAt(/reachable again: resynced/, healAt);
      return at === null ? null : at - healAt;
    };
    r.converged = aged.agedMs !== null && back.all !== null && noticed !== null && (!untilNoticed || resynced !== null);
    r.convergence = `cut -> p2's votes stale ${secs(aged.agedMs)}, no verdict flipped${untilNoticed ? `, both dc2 hosts noticed ${secs(noticed === null ? null : Math.max(...(['ns2', 'ns3'] as const).map((id) => (f.serves[id].loggedAt(/health store unreachable/, r.faultAt) ?? NaN) - r.faultAt)))}` : ''}; heal -> ${untilNoticed ? `ns2 resynced ${secs(resyncMs('ns2'))}, ns3 ${secs(resyncMs('ns3'))}, ` : ''}registered ${secs(back.ns2)} / ${secs(back.ns3)}, p2 voting ${secs(back.p2)}`;
    r.dataChecked = `voters ${before.table.voters.join(',')}, verdicts all up while p2 was stale, hosts ns1-ns3 on v${after.current}`;
    r.notes.push(`Leader before ${before.table.leader}, after ${after.table.leader}.`);
    r.notes.push(`Partition ${secs(healAt - r.faultAt)}; load inside the namespaces (ns1 from dc1, ns2/ns3 from dc2), every answer strict v1.`);
  });
}

/** (n2) v2 published while dc2 is cut off: dc2 keeps v1 until the heal, then moves; no host ever mixes v1 and v2. */
export function netnsPublishDuringPartition(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('n2', 'netns-publish-during-partition', 'netns fleet: map v2 published while dc2 is cut off');
  return withNetns(r, async (scope) => {
    const f = await startFleet(scope);
    const before = await fleetStatus(f);
    const loads = startLoads(scope, f, ctx);
    await sleep(ctx.dwellMs);
    await cut(r, f);
    await sleep(500);
    loads.ns1.allow(either());
    // Timed from the command's start: v2 becomes current inside it (its Node start and exit take most of its time).
    const pubAt = Date.now();
    const pub = await geosteer(f.ns.dc1, ['publish', f.v2, '--reason', 'v2 during partition', '--redis', REDIS_URL]);
    if (pub.code !== 0) throw new Error(`publish v2 failed: ${pub.stderr}`);
    const pubMs = Date.now() - pubAt;
    r.events.push({ at: pubAt - r.faultAt, what: '`geosteer publish` of v2 started in dc1 (north -> gz first, mail -> .26)' });
    r.events.push({ at: pubAt + pubMs - r.faultAt, what: '`geosteer publish` returned' });
    const ns1v2 = await loads.ns1.v2(10_000);
    if (ns1v2 !== null) loads.ns1.allow(V2);
    r.events.push({ at: (ns1v2 ?? NaN) - r.faultAt, what: 'ns1 (dc1) answers v2' });
    await sleep(ctx.dwellMs); // dc2 must stay on v1 (strict) all along
    loads.ns2.allow(either());
    loads.ns3.allow(either());
    const healAt = await heal(r, f);
    const [ns2v2, ns3v2] = await Promise.all([loads.ns2.v2(30_000), loads.ns3.v2(30_000)]);
    if (ns2v2 !== null) loads.ns2.allow(V2);
    if (ns3v2 !== null) loads.ns3.allow(V2);
    r.events.push({ at: (ns2v2 ?? NaN) - r.faultAt, what: 'ns2 answers v2' });
    r.events.push({ at: (ns3v2 ?? NaN) - r.faultAt, what: 'ns3 answers v2' });
    const back = await dc2Back(f, healAt, (s) => HOSTS.every((h) => s.hosts[h.id]?.mapVersion === 2));
    await sleep(ctx.dwellMs);
    await stopLoads(r, Object.values(loads));
    serveLogEvents(r, f, ['ns2', 'ns3']);
    const after = await fleetStatus(f);
    r.dataLost = lostBetween(before.table, after.table);
    if (after.current !== 2) r.dataLost.push(`current is ${after.current}, not 2`);
    const since = (t: number | null, from: number): number | null => (t === null ? null : t - from);
    r.converged = ns1v2 !== null && ns2v2 !== null && ns3v2 !== null && back.all !== null;
    r.convergence = `publish started -> ns1 on v2 ${secs(since(ns1v2, pubAt))} (the command took ${secs(pubMs)}); heal -> ns2 on v2 ${secs(since(ns2v2, healAt))}, ns3 ${secs(since(ns3v2, healAt))}; every host registered on v2 ${secs(back.all)}`;
    r.dataChecked = `v2 current and served by ns1-ns3; dc2 strict v1 until the heal; voters ${before.table.voters.join(',')}`;
  });
}

/** (n3) an NS host in dc2 killed and restarted while cut off: it serves its disk copy at once, then follows after the heal. */
export function netnsRestartCutOff(ctx: DrillContext): Promise<DrillResult> {
  const r = emptyResult('n3', 'netns-restart-cut-off', 'netns fleet: dc2 host SIGKILLed and restarted while cut off');
  return withNetns(r, async (scope) => {
    const f = await startFleet(scope);
    const before = await fleetStatus(f);
    const loads = startLoads(scope, f, ctx);
    const h3 = HOSTS[2];
    await sleep(ctx.dwellMs);
    await cut(r, f);
    await sleep(500);
    // v2 goes out meanwhile, so "the last published map" ns3 knows (v1) differs from current.
    loads.ns1.allow(either());
    const pub = await geosteer(f.ns.dc1, ['publish', f.v2, '--reason', 'v2 during partition', '--redis', REDIS_URL]);
    if (pub.code !== 0) throw new Error(`publish v2 failed: ${pub.stderr}`);
    r.events.push({ at: Date.now() - r.faultAt, what: 'v2 published from dc1' });
    if ((await loads.ns1.v2(10_000)) !== null) loads.ns1.allow(V2);
    // The load on ns3 ends before the kill: a killed host's datagrams are not the host's answers.
    const old3 = loads.ns3;
    const killAt = Date.now();
    const first = await old3.stop();
    f.serves.ns3.proc.kill('SIGKILL');
    await f.serves.ns3.exited;
    r.events.push({ at: killAt - r.faultAt, what: 'ns3 SIGKILLed (its load stopped first)' });
    const restartAt = Date.now();
    const p = scope.later(new Proc('ns3', serveArgs(f, h3), (c, a) => NetnsLab.wrap(f.ns.dc2, c, a)), (x) => x.stop());
    f.serves.ns3 = p;
    // Strict v1 from the first answer: the restarted host must serve its disk copy, never nothing.
    const load3 = scope.later(new HostLoad('ns3', f.ns.dc2, h3.port, hostRate(ctx), V1, true), (l) => l.kill());
    const ready = await load3.ready(20_000);
    const servingAt = await waitFor('ns3 to log serving', () => p.loggedAt(/geosteer serving/, restartAt), 5000, 20).then(() => p.loggedAt(/geosteer serving/, restartAt)).catch(() => null);
    r.events.push({ at: restartAt - r.faultAt, what: 'ns3 restarted (same --state-file, Redis unreachable)' });
    r.events.push({ at: (servingAt ?? NaN) - r.faultAt, what: 'ns3 logged "geosteer serving"' });
    r.events.push({ at: (ready ?? NaN) - r.faultAt, what: 'ns3 answers (first reply to the load in dc2)' });
    await sleep(ctx.dwellMs);
    for (const l of [loads.ns2, load3]) l.allow(either());
    const healAt = await heal(r, f);
    const [ns2v2, ns3v2] = await Promise.all([loads.ns2.v2(30_000), load3.v2(30_000)]);
    if (ns2v2 !== null) loads.ns2.allow(V2);
    if (ns3v2 !== null) load3.allow(V2);
    r.events.push({ at: (ns2v2 ?? NaN) - r.faultAt, what: 'ns2 answers v2' });
    r.events.push({ at: (ns3v2 ?? NaN) - r.faultAt, what: 'ns3 (restarted) answers v2' });
    const back = await dc2Back(f, healAt, (s) => HOSTS.every((h) => s.hosts[h.id]?.mapVersion === 2));
    await sleep(ctx.dwellMs);
    const rest = await Promise.all([loads.ns1, loads.ns2, load3].map((l) => l.stop()));
    const reports = [first, ...rest];
    r.traffic = mergeReports(reports.map((x) => x.report));
    const mixed = reports.reduce((n, x) => n + x.mixed, 0);
    // The restarted host's own account of its start (where the seconds go).
    for (const l of p.lines.filter((x) => x.at < (ready ?? Infinity) + 50).slice(0, 12)) {
      let msg = l.text;
      try {
        msg = (JSON.parse(l.text) as { msg?: string }).msg ?? l.text;
      } catch {
        // not JSON
      }
      r.events.push({ at: l.at - r.faultAt, what: `ns3 (restarted) log: ${msg.slice(0, 160)}` });
    }
    const diskLogged = p.loggedAt(/serving the disk copy of published map version 1/, restartAt) !== null;
    serveLogEvents(r, f, ['ns2', 'ns3']);
    const after = await fleetStatus(f);
    r.dataLost = lostBetween(before.table, after.table);
    if (!diskLogged) r.dataLost.push('ns3 did not start from its disk copy of v1');
    const rest3 = rest[2].report;
    r.converged = ready !== null && ns2v2 !== null && ns3v2 !== null && back.all !== null;
    r.convergence = `restart -> serving from disk ${secs(servingAt === null ? null : servingAt - restartAt)}, first answer ${secs(ready === null ? null : ready - restartAt)}; heal -> ns2 on v2 ${secs(ns2v2 === null ? null : ns2v2 - healAt)}, ns3 ${secs(ns3v2 === null ? null : ns3v2 - healAt)}; all registered on v2 ${secs(back.all)}`;
    r.dataChecked = `ns3 served v1 from its disk copy (${rest3.ok}/${rest3.sent} right after restart), then v2; voters ${before.table.voters.join(',')}`;
    r.notes.push(`Answers after a newer map was seen that came from the older one: ${mixed}. ns3's first load (before the kill): ${first.report.ok}/${first.report.sent} right.`);
  });
}
