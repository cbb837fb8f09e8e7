import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { computeVerdict, FleetStore, pairKey, RedisStore, type RedisConnectionOptions, type Vote } from '../../src/health';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { parseAnswer, Traffic, type QueryKind, type TrafficReport } from '../load/traffic';

// What the netns drill runs *inside* a namespace (`ip netns exec NS node
// dist/test/drills/netns-agent.js MODE ...`), where the drill's own process
// cannot reach:
//   endpoints PORT,...   HTTP 200 health endpoints on the namespace's 127.0.0.1 (until SIGTERM)
//   load JSON            a Traffic against one serve host on the namespace's 127.0.0.1; every answer
//                        checked against the allowed set (changed by `allow` lines on stdin), and
//                        against the map version it shows (no v1 answer after a v2 one was seen).
//   status HOST:PORT     the shared table and the fleet registry, read from Redis once per stdin line
//                        (one reader kept open: a `geosteer status` per poll costs a Node start each).
// Output: one JSON line per event on stdout, the report last.

/** The load's settings (argv[3], JSON). */
export interface LoadSpec {
  port: number;
  rate: number;
  /** Hard stop, so a lost parent never leaves load running. */
  durationMs: number;
  kinds: QueryKind[];
  /** label -> the addresses right now. */
  allow: Record<string, string[]>;
  /** label -> address -> the map version it belongs to (only labels the versions differ on). */
  versions: Record<string, Record<string, number>>;
  /** Poll (one query each 20 ms) until the host answers before the load starts, then say "ready". */
  waitReady?: boolean;
}

/** Commands on stdin, one JSON per line. */
export type AgentCommand = { op: 'allow'; label: string; addrs: string[] } | { op: 'stop' } | { op: 'status' };

/** What `status` reads: as `geosteer status --json` would show it, reduced to what the drill checks. */
export interface TableRead {
  /** Redis TIME, ms. */
  now: number;
  leader: string | null;
  epoch: number;
  /** "dc/service(reason)". */
  drains: string[];
  /** "service->dc". */
  primaries: string[];
  /** prober -> [votes, fresh votes]. */
  votes: Record<string, [number, number]>;
  /** "service/dc" -> up | down | unknown (no fresh vote: the last known state holds). */
  verdicts: Record<string, string>;
  hosts: Record<string, { mapVersion: number | null; lastSeen: number; alive: boolean }>;
  current: number | null;
}

/** What the agent prints (one JSON per line). */
export type AgentEvent =
  | { event: 'ready'; at: number }
  | { event: 'started'; at: number }
  | { event: 'version'; version: number; at: number; sentAt: number }
  | { event: 'report'; report: TrafficReport; mixed: number; mixedSamples: string[]; byVersion: Record<string, number> }
  | { event: 'status'; read: TableRead | null; error?: string };

const emit = (e: AgentEvent): void => void process.stdout.write(`${JSON.stringify(e)}\n`);

async function endpoints(ports: number[]): Promise<void> {
  const servers: Server[] = [];
  for (const port of ports) {
    const s = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
      res.end('ok\n');
    });
    await new Promise<void>((r) => s.listen(port, '127.0.0.1', r));
    servers.push(s);
  }
  emit({ event: 'ready', at: Date.now() });
  await new Promise<void>((r) => {
    process.once('SIGTERM', r);
    process.once('SIGINT', r);
  });
  for (const s of servers) s.closeAllConnections();
}

async function status(where: string): Promise<void> {
  const [host, port] = where.split(':');
  const o: RedisConnectionOptions = { host, port: Number(port), db: 0, tls: false, sentinels: [], masterName: 'mymaster', prefix: 'geosteer:', commandTimeoutMs: 1000 };
  const store = new RedisStore(o);
  const fleet = new FleetStore(o);
  const read = async (): Promise<TableRead> => {
    await Promise.all([store.whenReady(2000), fleet.whenReady(2000)]);
    const [snap, leader, reg, hist] = await Promise.all([store.loadAll(), store.leader(), fleet.hosts(), fleet.history()]);
    const votes: Record<string, [number, number]> = {};
    const pairs = new Map<string, Vote[]>();
    for (const v of snap.votes) {
      const n = (votes[v.prober] ??= [0, 0]);
      n[0]++;
      if (snap.now - v.at <= v.ttlMs) n[1]++;
      const k = pairKey(v.service, v.dc);
      pairs.set(k, [...(pairs.get(k) ?? []), v]);
    }
    const verdicts: Record<string, string> = {};
    for (const vs of pairs.values()) {
      const v = computeVerdict(vs, snap.now, 'majority', true);
      verdicts[`${vs[0].service}/${vs[0].dc}`] = v.basis === 'last-known' ? 'unknown' : v.up ? 'up' : 'down';
    }
    return {
      now: snap.now,
      leader: leader.holder,
      epoch: leader.epoch,
      drains: snap.drains.filter((d) => d.until > snap.now).map((d) => `${d.dc}/${d.service}(${d.reason})`).sort(),
      primaries: snap.primaries.map((p) => `${p.service}->${p.dc}`).sort(),
      votes,
      verdicts,
      hosts: Object.fromEntries(reg.hosts.map((h) => [h.id, { mapVersion: h.mapVersion, lastSeen: h.lastSeen, alive: reg.now - h.lastSeen <= h.ttlMs }])),
      current: hist.current,
    };
  };
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    if ((JSON.parse(line) as AgentCommand).op !== 'status') continue;
    try {
      emit({ event: 'status', read: await read() });
    } catch (e) {
      emit({ event: 'status', read: null, error: (e as Error).message });
    }
  }
  await Promise.all([store.close(), fleet.close()]);
}

async function load(spec: LoadSpec): Promise<void> {
  const allowed = new Map(Object.entries(spec.allow).map(([k, v]) => [k, new Set(v)]));
  // The highest version seen so far and when its reply arrived: any query sent after that
  // moment was answered after the swap, so an older version's answer means a half-applied map.
  let newest = 0;
  let newestAt = Infinity;
  let mixed = 0;
  const mixedSamples: string[] = [];
  const byVersion: Record<string, number> = {};
  if (spec.waitReady) {
    const k = spec.kinds[spec.kinds.length - 1];
    const [addr, len] = (k.subnet ?? '').split('/');
    const q = buildQuery({ id: 9, name: k.name, type: k.type ?? 1, edns: { options: k.subnet ? [ecsOption(addr, Number(len))] : [] } });
    const end = Date.now() + spec.durationMs;
    while (Date.now() < end) {
      const r = await udpExchange(spec.port, q, 20);
      if (r && parseAnswer(r)?.rcode === 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    emit({ event: 'ready', at: Date.now() });
  }
  const traffic = new Traffic({
    port: spec.port,
    rate: spec.rate,
    durationMs: spec.durationMs,
    kinds: spec.kinds,
    timeoutMs: 1000,
    validate: (k, a, sentAt) => {
      const ok = allowed.get(k.label);
      const right = ok !== undefined && a.addrs.every((x) => ok.has(x));
      const vmap = spec.versions[k.label];
      const v = vmap ? vmap[a.addrs[0]] : undefined;
      if (v !== undefined) {
        byVersion[v] = (byVersion[v] ?? 0) + 1;
        if (v > newest) {
          newest = v;
          newestAt = Date.now();
          emit({ event: 'version', version: v, at: newestAt, sentAt });
        } else if (v < newest && sentAt > newestAt) {
          mixed++;
          if (mixedSamples.length < 10) mixedSamples.push(`${k.label}=${a.addrs.join(',')} (v${v}) sent ${sentAt - newestAt} ms after v${newest} was seen`);
          return false;
        }
      }
      return right;
    },
  });
  emit({ event: 'started', at: Date.now() });
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const c = JSON.parse(line) as AgentCommand;
    if (c.op === 'allow') allowed.set(c.label, new Set(c.addrs));
    else void traffic.stop();
  });
  rl.on('close', () => void traffic.stop()); // the drill went away
  const report = await traffic.done;
  rl.close();
  emit({ event: 'report', report, mixed, mixedSamples, byVersion });
}

if (require.main === module) {
  const [mode, arg] = process.argv.slice(2);
  const run =
    mode === 'endpoints' ? endpoints(arg.split(',').map(Number)) : mode === 'load' ? load(JSON.parse(arg) as LoadSpec) : mode === 'status' ? status(arg) : Promise.reject(new Error(`unknown mode ${mode}`));
  run.then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`netns-agent: ${e.stack ?? e.message}\n`);
      process.exit(2);
    },
  );
}
