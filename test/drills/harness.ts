import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Endpoint } from '../helpers/endpoint';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { freePort } from '../helpers/redis';
import { sleep } from '../helpers/wait';
import { parseAnswer, type Answer, type QueryKind, type TrafficReport, type Validator } from '../load/traffic';
import { stopChild } from '../helpers/process';
import { CLI, runCli, type CliRun } from '../helpers/cli';

// The pieces every drill uses: real geosteer processes (spawned from dist),
// the drill map, the query mix with its expected answers, and the shared
// table read back through `geosteer status --json`.


/** Addresses of the drill map (the sample map's). */
export const ADDR = {
  www: { gz: '192.0.2.10', bj: '198.51.100.10', sg: '203.0.113.10' },
  www6: { gz: '2001:db8:10::10', bj: '2001:db8:20::10', sg: '2001:db8:30::10' },
  db: { gz: '192.0.2.20', bj: '198.51.100.20', sg: '203.0.113.20' },
  mail: '192.0.2.25',
} as const;
export type Dc = 'gz' | 'bj' | 'sg';

/** The mix every drill sends: www per region (A, and AAAA for south), the primary-policy db, a static name. */
export const KINDS: QueryKind[] = [
  { label: 'www/south', name: 'www.example.com', subnet: '183.6.0.0/24' },
  { label: 'www/north', name: 'www.example.com', subnet: '202.96.0.0/24' },
  { label: 'www/overseas', name: 'www.example.com', subnet: '8.8.8.0/24' },
  { label: 'www6/south', name: 'www.example.com', type: 28, subnet: '183.6.0.0/24' },
  { label: 'db/south', name: 'db.example.com', subnet: '183.6.0.0/24' },
  { label: 'db/overseas', name: 'db.example.com', subnet: '8.8.8.0/24' },
  { label: 'mail', name: 'mail.example.com' },
];
export const kind = (label: string): QueryKind => KINDS.find((k) => k.label === label) as QueryKind;

/**
 * The answers a drill accepts right now, per query label. A drill widens a
 * label before it causes a change (both answers are right while it spreads)
 * and narrows it once the change is seen, so a later regression is counted.
 */
export class Expect {
  private readonly allowed = new Map<string, Set<string>>();

  constructor() {
    this.set('www/south', ADDR.www.gz);
    this.set('www/north', ADDR.www.bj);
    this.set('www/overseas', ADDR.www.sg);
    this.set('www6/south', ADDR.www6.gz);
    this.set('db/south', ADDR.db.bj);
    this.set('db/overseas', ADDR.db.bj);
    this.set('mail', ADDR.mail);
  }

  set(label: string, ...addrs: string[]): void {
    this.allowed.set(label, new Set(addrs));
  }

  add(label: string, addr: string): void {
    this.allowed.get(label)?.add(addr);
  }

  readonly validate: Validator = (k, a) => {
    const ok = this.allowed.get(k.label);
    return ok !== undefined && a.addrs.every((x) => ok.has(x));
  };
}

/**
 * The drill map: three datacenters checked over HTTP at local endpoints
 * (short intervals so faults play out in seconds), www.example.com by
 * region, db.example.com with `policy: primary` (primary bj).
 */
export function drillMap(ports: Record<Dc, number>, o: { geoip?: string; overseas?: Dc[]; serverId?: string } = {}): string {
  const targets = `{ gz: "127.0.0.1:${ports.gz}", bj: "127.0.0.1:${ports.bj}", sg: "127.0.0.1:${ports.sg}" }`;
  const check = `{ type: http, path: /, interval: 500ms, timeout: 300ms, fall: 3, rise: 2, targets: ${targets} }`;
  return `server: { id: ${o.serverId ?? 'drill.example.com'} }
geoip: { database: ${o.geoip ?? 'default'} }
health: { quorum: majority, failover_ttl: 30s }
datacenters:
  gz: { description: Guangzhou }
  bj: { description: Beijing }
  sg: { description: Singapore }
regions:
  south: { subdivisions: [CN-GD, CN-GX, CN-HI, CN-FJ], datacenters: [gz, bj, sg] }
  north: { countries: [CN], datacenters: [bj, gz, sg] }
  overseas: { default: true, datacenters: [${(o.overseas ?? ['sg', 'gz', 'bj']).join(', ')}] }
zones:
  example.com:
    soa: { mname: ns1.example.com, rname: hostmaster.example.com, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.com]
    records: |
      ns1   A  127.0.0.1
      mail  A  ${ADDR.mail}
services:
  www.example.com:
    datacenters:
      gz: { a: [${ADDR.www.gz}], aaaa: ["${ADDR.www6.gz}"] }
      bj: { a: [${ADDR.www.bj}], aaaa: ["${ADDR.www6.bj}"] }
      sg: { a: [${ADDR.www.sg}], aaaa: ["${ADDR.www6.sg}"] }
    check: ${check}
  db.example.com:
    policy: primary
    primary: bj
    standbys: [gz, sg]
    hold_down: 2s
    datacenters:
      gz: { a: [${ADDR.db.gz}] }
      bj: { a: [${ADDR.db.bj}] }
      sg: { a: [${ADDR.db.sg}] }
    check: ${check}
`;
}

/** A long-running geosteer process (serve or probe) with its last log lines kept. */
export class Proc {
  readonly lines: Array<{ at: number; text: string }> = [];
  readonly exited: Promise<void>;
  readonly proc: ChildProcess;

  /** `wrap` turns the command line into another (the netns drill runs it under `ip netns exec NS`). */
  constructor(
    readonly name: string,
    args: string[],
    wrap: (cmd: string, args: string[]) => [string, string[]] = (c, a) => [c, a],
  ) {
    const [cmd, argv] = wrap(process.execPath, [CLI, ...args]);
    this.proc = spawn(cmd, argv, { env: { ...process.env, REDIS_URL: '', LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const take = (d: Buffer): void => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const text of parts) this.lines.push({ at: Date.now(), text });
      if (this.lines.length > 2000) this.lines.splice(0, this.lines.length - 1000);
    };
    this.proc.stdout?.on('data', take);
    this.proc.stderr?.on('data', take);
    this.exited = new Promise((r) => this.proc.once('exit', () => r()));
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** When a log line matching `re` was first written after `since`, or null. */
  loggedAt(re: RegExp, since = 0): number | null {
    return this.lines.find((l) => l.at >= since && re.test(l.text))?.at ?? null;
  }

  tail(n = 15): string {
    return `--- ${this.name} (pid ${this.pid}, ${this.alive ? 'running' : `exit ${this.proc.exitCode ?? this.proc.signalCode}`}):\n${this.lines
      .slice(-n)
      .map((l) => l.text)
      .join('\n')}`;
  }

  /** SIGTERM, then SIGKILL after 3 s. */
  stop(): Promise<void> {
    return stopChild(this.proc, this.exited);
  }
}

/** Three HTTP endpoints standing in for the datacenters, the drill map checking them, and one serve. */
export interface Rig {
  map: string;
  port: number;
  serve: Proc;
  endpoints: Record<Dc, Endpoint>;
  ports: Record<Dc, number>;
}

export async function startRig(scope: Scope, o: { mapOpts?: Parameters<typeof drillMap>[1]; serveArgs?: string[]; workers?: number } = {}): Promise<Rig> {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  for (const e of [gz, bj, sg]) scope.later(e, (x) => x.close());
  const ports = { gz: gz.port, bj: bj.port, sg: sg.port };
  const map = join(scope.dir, 'map.yaml');
  writeFileSync(map, drillMap(ports, o.mapOpts));
  const { proc: serve, port } = await startServe(['--config', map, ...(o.serveArgs ?? [])], o.workers ?? 1);
  scope.later(serve, (p) => p.stop());
  return { map, port, serve, endpoints: { gz, bj, sg }, ports };
}

/** `geosteer serve` on a free loopback port (one worker unless told), answering once `ready` resolves. */
export async function startServe(args: string[], workers = 1): Promise<{ proc: Proc; port: number }> {
  const port = await freePort();
  const proc = new Proc('serve', ['serve', '--listen', `127.0.0.1:${port}`, '--workers', String(workers), ...args]);
  try {
    await waitFor('serve to answer', async () => (await answer(port, kind('mail')))?.addrs[0] === ADDR.mail, 20_000, 100);
  } catch (e) {
    await proc.stop();
    throw new Error(`${(e as Error).message}\n${proc.tail()}`);
  }
  return { proc, port };
}

export function startProbe(id: string, redisArgs: string[], map: string): Proc {
  return new Proc(id, ['probe', '--config', map, '--id', id, '--lease', '2s', '--metrics-listen', 'off', ...redisArgs]);
}

/** Runs a geosteer command to completion (killed after `timeoutMs`). */
export const cli = (args: string[], timeoutMs = 15_000): Promise<CliRun> => runCli(args, { timeoutMs });

/** One query, one reply (null on timeout). */
export async function answer(port: number, k: QueryKind): Promise<Answer | null> {
  const [addr, len] = (k.subnet ?? '').split('/');
  const q = buildQuery({ id: 7, name: k.name, type: k.type ?? 1, edns: { options: k.subnet ? [ecsOption(addr, Number(len))] : [] } });
  const r = await udpExchange(port, q, 500);
  return r ? parseAnswer(r) : null;
}

/** Polls until `fn` is truthy; returns how long it took (ms). Throws after `timeoutMs`. */
export async function waitFor(what: string, fn: () => Promise<unknown> | unknown, timeoutMs: number, everyMs = 25): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      if (await fn()) return Date.now() - start;
    } catch {
      // not yet
    }
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Waits until `label` answers exactly `addr`; ms from now, or null if it never did within `timeoutMs`. */
export async function waitAnswer(port: number, label: string, addr: string, timeoutMs: number): Promise<number | null> {
  return waitFor(`${label} -> ${addr}`, async () => (await answer(port, kind(label)))?.addrs.join() === addr, timeoutMs).catch(() => null);
}

/**
 * From the load's own timeline: ms after `fromAbs` (a Date.now()) at which
 * `label` started answering only `addr` for the rest of the run (100 ms
 * buckets, counted by send time), or null when it never settled there.
 */
export function settledAt(r: TrafficReport, label: string, addr: string, fromAbs: number): number | null {
  const want = `${label}=${addr}`;
  let first: number | null = null;
  for (const b of r.timeline) {
    const abs = r.startedAt + b.t;
    const keys = Object.keys(b.answers).filter((k) => k.startsWith(`${label}=`));
    if (keys.length === 0) continue;
    const clean = keys.every((k) => k === want);
    if (!clean) first = null;
    else if (first === null && abs + 100 > fromAbs) first = abs;
  }
  return first === null ? null : Math.max(0, first - fromAbs);
}

/** What the drills check for loss, read through `geosteer status --json`. */
export interface TableState {
  drains: string[];
  primaries: string[];
  /** Probers that have at least one vote in the table. */
  voters: string[];
  votes: number;
  leader: string | null;
  epoch: number;
}

export async function tableState(redisArgs: string[], map: string): Promise<TableState> {
  const r = await cli(['status', '--json', '--config', map, ...redisArgs]);
  if (r.code !== 0) throw new Error(`geosteer status failed (${r.code}): ${r.stderr.trim()}`);
  const j = JSON.parse(r.stdout) as {
    leader: { holder: string | null; epoch: number };
    pairs: Array<{ votes: Array<{ prober: string }> }>;
    primaries: Array<{ service: string; dc: string }>;
    drains: Array<{ service: string; dc: string; reason: string }>;
  };
  const votes = j.pairs.flatMap((p) => p.votes);
  return {
    drains: j.drains.map((d) => `${d.dc}/${d.service}(${d.reason})`).sort(),
    primaries: j.primaries.map((p) => `${p.service}->${p.dc}`).sort(),
    voters: [...new Set(votes.map((v) => v.prober))].sort(),
    votes: votes.length,
    leader: j.leader.holder,
    epoch: j.leader.epoch,
  };
}

/** What `before` had that `after` lost (drains, primary pointers, voters), as readable lines; [] = nothing lost. */
export function lostBetween(before: TableState, after: TableState): string[] {
  const out: string[] = [];
  const missing = (a: string[], b: string[]): string[] => a.filter((x) => !b.includes(x));
  for (const d of missing(before.drains, after.drains)) out.push(`drain ${d} lost`);
  for (const p of missing(before.primaries, after.primaries)) out.push(`primary pointer ${p} lost`);
  for (const v of missing(before.voters, after.voters)) out.push(`votes of ${v} lost`);
  return out;
}

/** A temp dir and everything to stop at the end of a drill, in reverse order. */
export class Scope {
  readonly dir = mkdtempSync(join(tmpdir(), 'geosteer-drill-'));
  private readonly cleanups: Array<() => unknown> = [];

  /** Registers `fn(value)` to run at close; returns `value`. */
  later<T>(value: T, fn: (v: T) => unknown): T {
    this.cleanups.push(() => fn(value));
    return value;
  }

  async close(): Promise<void> {
    for (const fn of this.cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
