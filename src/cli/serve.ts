import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { keyEventDelayMs, resignDelayMs } from '../dnssec';
import { ConfigError, formatIssue, PublishedMapError } from '../common/errors';
import { Spawner } from '../common/worker';
import { MapWatcher, type MapConfig } from '../config';
import { statusRoutes, statusSourceFrom, type ReloadStats, type StatusSource } from '../observability/status-page';
import { DnsServer, type BoundAddress, type DnsOptions } from '../dns';
import { buildRegionTrieInWorker, GeoClassifier, GeoDatabase, GeoDbWatcher, staleReason, type RegionTrie } from '../geo';
import { describeRedis, FleetStore, HealthMirror, MemoryStore, RedisStore, START_TIMEOUT_MS, type PublishedMap, type HealthStore, type InvalidKeyStatus, type LostState, type MirrorOptions, type StateDoc, type PairStatus, type RedisConnectionOptions } from '../health';
import {
  createLogger,
  healthEvents,
  controlRoutes,
  healthRoutes,
  metricsRoute,
  ProbeMetrics,
  queryLogger,
  rateLimited,
  registerFleetMetrics,
  Registry,
  ServeMetrics,
  startAdmin,
  WebhookSender,
  type AdminHttp,
  type HealthEventInput,
  type Logger,
  type Route,
} from '../observability';
import { PrimaryLeader, Prober, type CheckEvent, type PromotionEvent } from '../probe';
import { buildInWorker, describeSpill, releaseTablesLater, Router, type BuildSource, type Prebuilt } from '../routing';
import { sameRegionRules } from '../routing/diff';
import { startEarlyTrie } from './early-trie';
import { embeddedControl } from './control-target';
import { FleetMember, type HostFacts } from './fleet-member';

/**
 * `geosteer serve`: the order in which the parts are wired lives here and
 * only here. config -> geo -> health (store, mirror[, probes]) -> routing -> dns.
 */
export interface ServeOptions {
  /** The map file (ignored with mapSource 'published'). */
  config: string;
  /**
   * 'published': run the map published in Redis (`geosteer publish`), follow
   * its changes, keep a disk copy for restarts while Redis is unreachable.
   * Needs `redis`. @default 'file'
   */
  mapSource?: 'file' | 'published';
  /** Fleet registration beat and re-read of the published map (tests shorten it). @default 5000 */
  fleetIntervalMs?: number;
  listen?: string[];
  dns?: Partial<DnsOptions>;
  /** Shared table in Redis; absent = embedded (in-memory table, probes in-process). */
  redis?: RedisConnectionOptions | null;
  /** Use this store instead (tests). */
  store?: HealthStore;
  /** Run the map's checks in this process. Default: true when embedded, false with Redis. */
  probe?: boolean;
  proberId?: string;
  /** Last-known health state for restarts during a Redis outage; null = none. */
  snapshotPath?: string | null;
  logger?: Logger;
  /** MMDB stat-poll interval for hot replacement. */
  geoPollMs?: number;
  /** Leader lease for primary failover when probing in-process. */
  leaseMs?: number;
  /**
   * This process speaks for its cluster: it logs verdict flips and store
   * outages and writes the state file. Exactly one worker of a cluster does;
   * the others stay quiet and only read the state file. @default true
   */
  leadWorker?: boolean;
  /** Map file stat-poll interval. @default 250 */
  mapPollMs?: number;
  /** Reload the map on SIGHUP (the CLI sets it; tests call reload()). */
  handleSignals?: boolean;
  /** Admin HTTP for /metrics, /healthz and /readyz: HOST:PORT (port 0: any free one); null or absent: none. */
  metricsListen?: string | null;
  /** When metricsListen cannot be bound, log it and serve DNS anyway (the CLI's default address) instead of failing. */
  metricsListenOptional?: boolean;
  /**
   * Where this host's admin port answers, as the fleet registry shows it (recover
   * reads /api/state there). @default the admin server's own HOST:PORT (a cluster
   * worker is told the primary's)
   */
  adminAddress?: string | null;
  /** Host names the admin port answers to besides IP literals and localhost (`--admin-host`); others get 421. @default [] */
  adminHosts?: readonly string[];
  /** Where this server's metrics go. @default a new Registry (the CLI passes prom-client's global one, which cluster workers report to the primary) */
  registry?: Registry;
  /** Log one query in N (client, name, type, rcode, region, datacenter); 0 or absent: off. */
  queryLogSample?: number;
  /** Time one query in N for geosteer_dns_request_duration_seconds (0: off). @default 64 */
  timingSample?: number;
  /** The mirror's full-read intervals (tests shorten them). @default 10 s, 500 ms after a failure */
  healthTiming?: Pick<MirrorOptions, 'resyncMs' | 'retryMs'>;
}

export interface RunningServer {
  addresses: BoundAddress[];
  /** The map, router and prober of the version now serving (they change on reload). */
  readonly map: MapConfig;
  readonly router: Router;
  readonly prober: Prober | null;
  dns: DnsServer;
  store: HealthStore;
  mirror: HealthMirror;
  reloads: ReloadStats;
  /** This server in the fleet registry (with Redis), following the published map when it runs from it; else null. */
  fleet: FleetMember | null;
  /** Re-reads the map file (or the published map) now; resolves false (and keeps serving the old map) when it is rejected. */
  reload(reason: string): Promise<boolean>;
  /** The admin HTTP server (/metrics, /healthz, /readyz; more routes can be added), null when metricsListen is off. */
  admin: AdminHttp | null;
  metrics: ServeMetrics;
  /** null when ready (map and GeoIP loaded, health table synced or warmed from the snapshot), else why not. */
  notReady(): string | null;
  close(): Promise<void>;
}

/** Logs health state changes: one line each, with the reason (never per query). */
export function logHealth(log: Logger, mirror: HealthMirror, prober: Prober | null, leader: PrimaryLeader | null): void {
  mirror.on('verdict', (s: PairStatus) => {
    const msg = `${s.service} in ${s.dc} is now ${s.verdict.up ? 'UP' : 'DOWN'} (${s.verdict.down}/${s.verdict.fresh} fresh votes down)`;
    const votes = s.votes.map((v) => ({ prober: v.prober, up: v.up, detail: v.detail }));
    if (s.verdict.up) log.info({ service: s.service, dc: s.dc, votes }, msg);
    else log.warn({ service: s.service, dc: s.dc, votes }, msg);
  });
  mirror.on('store-down', (err: Error) => log.error({ err: err.message }, 'health store unreachable: answering from the last known state'));
  mirror.on('store-up', () => log.info('health store reachable again: resynced'));
  mirror.on('store-emptied', (lost: { drains: number; primaries: number }) =>
    log.error(lost, 'health store lost its data (Redis restarted without persistence, or flushed): this host keeps the drains and primary pointers it held in effect; run `geosteer recover` to write them back from what the fleet still holds, and run Redis with appendonly yes'));
  // Once per key while it holds unreadable entries, with its name and what is wrong; once more when it is clean.
  mirror.on('store-invalid', (k: InvalidKeyStatus) => {
    const first = k.entries[0];
    const what = first ? ` (${first.field === null ? '' : `field "${first.field}": `}${first.reason})` : '';
    const entries = k.entries.slice(0, 5).map((e) => ({ field: e.field, kind: e.kind, reason: e.reason }));
    log.warn({ key: k.key, count: k.current, entries }, `health store key ${k.key}: ${k.current} unreadable ${k.current === 1 ? 'entry' : 'entries'} skipped${what}; everything else applies`);
  });
  mirror.on('store-valid', (k: InvalidKeyStatus) => log.info({ key: k.key }, `health store key ${k.key} is readable again`));
  mirror.on('sync-error', (err: Error) => log.error({ err: err.message }, 'health store answered the full read with an error (it is reachable): answering from the last known state'));
  mirror.on('sync-ok', () => log.info('health store full reads work again'));
  mirror.on('snapshot-loaded', (path: string) => log.warn({ path }, 'health store unreachable at start: warmed from the local snapshot'));
  mirror.on('snapshot-error', (err: Error) => log.error({ err: err.message }, 'health snapshot could not be read or written'));
  healthEvents(mirror).on('event', (e: HealthEventInput) => {
    const what = e.service === '*' ? `every service in ${e.dc}` : `${e.service} in ${e.dc}`;
    if (e.kind === 'drain') log.warn({ service: e.service, dc: e.dc, drain: e.detail }, `${what} drained: ${e.reason}`);
    else if (e.kind === 'undrain') log.info({ service: e.service, dc: e.dc }, `${what} no longer drained: ${e.reason}`);
    else if (e.kind === 'failover') log.warn({ service: e.service, from: e.from, to: e.dc, pointer: e.detail }, `primary of ${e.service} is now ${e.dc} (was ${e.from ?? 'unknown'}): ${e.reason}`);
  });
  if (prober || leader) logProbes(log, prober, leader);
}

/** Logs a prober's vote flips and the leader's actions. */
export function logProbes(log: Logger, prober: Prober | null, leader: PrimaryLeader | null): void {
  prober?.on('check', (e: CheckEvent) => {
    if (e.flipped) log.info({ service: e.service, dc: e.dc, result: e.result }, `probe: ${e.service} in ${e.dc} votes ${e.up ? 'up' : 'down'} (${e.result.detail})`);
  });
  let voteErrors = 0;
  prober?.on('vote-error', (err: Error) => {
    if (voteErrors++ === 0) log.error({ err: err.message }, 'probe: votes cannot be written (store unreachable); probing goes on');
  });
  prober?.on('check', (e: CheckEvent) => {
    if (e.result.outcome === 'success') voteErrors = 0;
  });
  leader?.on('leader', (epoch: number) => log.info({ epoch }, 'primary failover: this prober holds the leader lease'));
  leader?.on('promoted', (e: PromotionEvent) => log.warn(e, `primary failover: ${e.service} moved ${e.from} -> ${e.to} (${e.reason})`));
}

/** Everything built from one map version; a reload builds the next and swaps it in. */
interface Generation {
  map: MapConfig;
  dbPath: string[];
  classifier: GeoClassifier;
  router: Router;
  /** Bytes of the router's tables (released to V8 when a reload retires them). */
  tableBytes: number;
  prober: Prober | null;
  leader: PrimaryLeader | null;
  /** The published version it came from; null when from a file. */
  published: number | null;
}

/** The state file's sibling holding the last published map loaded here: /tmp/geosteer-ns1-health.json -> /tmp/geosteer-ns1-map.json. */
export const mapCopyPath = (snapshot: string): string => `${snapshot.replace(/(-health)?\.json$/, '')}-map.json`;

const mmdbPath = (map: MapConfig): string[] => GeoDatabase.pathsFor(map.geoDatabase, map.geoDatabaseIpv6);
// The ASN database given by path is watched with the map: a new file is a map reload (which re-reads it).
const mapFiles = (map: MapConfig): string[] => [
  resolve(map.file),
  ...map.zones.map((z) => z.file).filter((f): f is string => f !== null),
  ...(map.asn && map.asn.database !== 'default' ? [map.asn.database] : []),
];

/**
 * Zone records from which reloads fork their build from a Spawner. fork() cost grows with the tables' ArrayBuffers
 * (measured here: idle node 2-7 ms, +40 MB of buffers (about 100,000 records) 5-10 ms, +200 MB 17-22 ms, +600 MB 32-45 ms).
 */
const SPAWNER_RECORDS = 100_000;

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const log = options.logger ?? createLogger();
  const id = options.proberId ?? hostname();
  const published = options.mapSource === 'published';
  if (published && !options.redis) throw new PublishedMapError('serving the published map needs the shared table: give --redis URL (or --config FILE)');
  const lead = options.leadWorker !== false;
  const stateFor = (serverId: string): string | null =>
    options.snapshotPath !== undefined ? options.snapshotPath : options.redis || options.store?.kind === 'redis' ? join(tmpdir(), `geosteer-${serverId}-health.json`) : null;
  // The health store connects while the map loads: a start during a Redis outage then waits for
  // both at once (the published map's 3 s, the table's 2 s), not one after the other.
  const store = options.store ?? (options.redis ? new RedisStore(options.redis) : new MemoryStore());
  const storeSince = Date.now();
  const closeStore = async (): Promise<void> => {
    if (!options.store) await store.close();
  };
  let member: FleetMember | null = null;
  let map: MapConfig;
  let db: GeoDatabase;
  let prebuilt: Prebuilt;
  let startTrie: RegionTrie | undefined;
  let startVersion: number | null = null;
  // A big map's reloads fork their build process from a helper made now, before answering: fork() from a process
  // holding a million records' tables blocked answers 32-45 ms (common/worker.ts Spawner). A small
  // map forks from here as before and has no helper process (about 40 MB) to pay for.
  let spawner: Spawner | null = null;
  const keepSpawner = (records: number): void => {
    if (records >= SPAWNER_RECORDS && !spawner) spawner = new Spawner();
  };
  let startRecords = 0;
  const fleetStore = options.redis ? new FleetStore(options.redis, { subscribe: published }) : null;
  const apply = { fn: async (_p: PublishedMap, _reason: string): Promise<string | null> => 'starting' };
  if (fleetStore) {
    const state = stateFor(id);
    member = new FleetMember({
      store: fleetStore,
      id,
      follow: published,
      copyPath: published && state ? mapCopyPath(state) : null,
      lead,
      intervalMs: options.fleetIntervalMs,
      log,
      facts: () => facts(),
      apply: (p, reason) => apply.fn(p, reason),
    });
  }
  if (published && member) {
    // Redis's current version first, else this host's disk copy (a restart during an outage).
    const c = await member.candidates();
    const why: string[] = [];
    let refused: { version: number; message: string } | undefined;
    let chosen: { p: PublishedMap; from: 'redis' | 'disk'; map: MapConfig; db: GeoDatabase; prebuilt: Prebuilt } | null = null;
    for (const [p, from] of [[c.redis, 'redis'], [c.disk, 'disk']] as const) {
      if (!p) {
        why.push(from === 'redis' ? `Redis: ${c.why}` : 'disk copy: none');
        continue;
      }
      try {
        const b = await buildInWorker({ kind: 'bundle', bundle: p.bundle, id });
        chosen = { p, from, map: b.map, db: GeoDatabase.open(mmdbPath(b.map)), prebuilt: b.prebuilt };
        startRecords = b.records;
        break;
      } catch (err) {
        const msg = err instanceof ConfigError ? err.issues.map(formatIssue).join('; ') : (err as Error).message;
        if (from === 'redis') refused = { version: p.version, message: msg };
        why.push(`${from === 'redis' ? 'Redis' : 'disk copy'} version ${p.version}: ${msg}`);
      }
    }
    if (!chosen) {
      await member.close();
      await closeStore();
      throw new PublishedMapError(`cannot start from the published map (${why.join('; ')}); geosteer publish FILE, or start with --config FILE`);
    }
    if (chosen.from === 'disk') log.warn({ version: chosen.p.version, why }, `serving the disk copy of published map version ${chosen.p.version}: ${why[0]}`);
    member.started(chosen.p, chosen.from, refused);
    ({ map, db, prebuilt } = chosen);
    startVersion = chosen.p.version;
  } else {
    try {
      // Start takes the reload's path: the answering thread's heap never holds the zone records.
      // Meanwhile a worker thread builds the region trie (early-trie.ts), begun once the build process is forked.
      const building = buildInWorker({ kind: 'file', path: options.config });
      const early = startEarlyTrie(options.config);
      const b = await building;
      ({ map, prebuilt } = b);
      startRecords = b.records;
      const got = await early.take(map);
      db = got?.db ?? GeoDatabase.open(mmdbPath(map));
      startTrie = got?.trie;
    } catch (err) {
      await member?.close(); // its Redis connections would keep a failed start alive
      await closeStore();
      throw err;
    }
  }
  const dbPath = mmdbPath(map);
  keepSpawner(startRecords); // before the server answers: this fork blocks nobody

  const snapshotPath = published ? stateFor(id) : stateFor(map.serverId);
  const startTimeoutMs = Math.max(0, START_TIMEOUT_MS - (Date.now() - storeSince));
  const mirror = new HealthMirror(store, { ...options.healthTiming, startTimeoutMs, quorum: map.health.quorum, snapshotPath, snapshotWrite: options.leadWorker !== false });
  const runProbes = options.probe ?? store.kind === 'memory';
  const registry = options.registry ?? new Registry();
  const probeMetrics = runProbes ? new ProbeMetrics(registry) : null;
  const makeProbes = (m: MapConfig, carry?: Prober | null): Pick<Generation, 'prober' | 'leader'> => {
    if (!runProbes) return { prober: null, leader: null };
    const prober = new Prober({ id, store, map: m, initialState: carry?.state() });
    const leader = new PrimaryLeader({ id, store, mirror, map: m, leaseMs: options.leaseMs });
    if (options.leadWorker !== false) logProbes(log, prober, leader);
    probeMetrics?.watch(prober, leader);
    leader.on('promoted', (e: PromotionEvent) => healthEvents(mirror).promoted(e));
    return { prober, leader };
  };
  if (options.leadWorker !== false) logHealth(log, mirror, null, null);
  // Admin HTTP first, so /healthz and /readyz answer while the health table loads.
  let started = false;
  const notReady = (): string | null => {
    if (!started) return 'starting: map, GeoIP and health table loading';
    if (mirror.source === 'none' && store.kind !== 'memory') return 'health table neither synced from the store nor warmed from a snapshot';
    return null;
  };
  const admin = await startAdmin({
    listen: options.metricsListen ?? null,
    optional: options.metricsListenOptional,
    hosts: options.adminHosts,
    log,
    routes: [metricsRoute(registry), ...healthRoutes(notReady)],
  });
  await mirror.start();

  const classifier = new GeoClassifier(db, map.rules, { trie: startTrie });
  // Once per cluster (the lead worker) and again whenever another database comes in.
  const warnIfStale = (d: GeoDatabase, m: MapConfig): void => {
    const why = options.leadWorker !== false ? staleReason(d, m.geoMaxAgeMs) : null;
    if (why) log.warn({ geoip: d.description, path: d.path, maxAgeDays: Math.round(m.geoMaxAgeMs / 86_400_000) }, why);
  };
  warnIfStale(db, map);
  let gen: Generation = { map, dbPath, classifier, router: new Router(map, classifier, mirror, prebuilt), tableBytes: prebuilt.bytes, published: startVersion, ...makeProbes(map) };
  const dns = new DnsServer(gen.router, { ...options.dns, ...(options.listen ? { listen: options.listen } : {}) }, rateLimited(log));
  const reloads: ReloadStats = { ok: 0, failed: 0, lastError: null, lastAt: 0 };
  // Metrics read the live generation at scrape time; state changes go to the log (logHealth) and the webhook.
  const events = healthEvents(mirror).useMap(() => gen.map);
  const metrics = new ServeMetrics(registry, { dns, get router() { return gen.router; }, get map() { return gen.map; }, get geoip() { return gen.classifier.database; }, mirror, reloads }, events);
  // Capacity spill (routing/spill.ts): logged when a service's split changes, as an error when the fleet is short.
  // Registered after the Router's own listener, so the plan read here is the one just applied.
  const spillSeen = new Map<string, string>();
  mirror.on('change', () => {
    for (const s of gen.router.tables.services) {
      if (!s.a.spill) continue;
      const plan = s.a.spill.plan;
      const split = plan ? describeSpill(plan, gen.map.regions.map((g) => g.name), gen.map.datacenters.map((d) => d.name)) : [];
      const sig = split.join('; ') + (plan?.short ? ' short' : '');
      if ((spillSeen.get(s.config.name) ?? '') === sig) continue;
      spillSeen.set(s.config.name, sig);
      const fields = { service: s.config.name, spill: split };
      if (plan?.short) log.error(fields, `capacity: ${s.config.name} is short: spilled traffic exceeds the spare capacity of its lists; the rest goes to the first live datacenter (${split.join('; ')})`);
      else if (split.length) log.warn(fields, `capacity spill: ${s.config.name}: ${split.join('; ')}`);
      else log.info(fields, `capacity spill: ${s.config.name}: every region back on its first choice`);
    }
  });
  dns.onRateLimit = (client, qname, qtype, rcode) =>
    log.warn({ client, qname, qtype, rcode, dropped: dns.stats.rrlDropped, slipped: dns.stats.rrlSlipped }, 'rate limiting responses (server.rrl); logged at most every 10 s');
  dns.stats.setTiming(options.timingSample ?? 64);
  if (options.queryLogSample) dns.stats.setSampler(queryLogger(log, () => gen.router, options.queryLogSample));
  const webhook = options.leadWorker !== false ? new WebhookSender(map.alerts, { registry, log }) : null;
  if (webhook) events.on('event', (e: HealthEventInput) => webhook.send({ ...e, at: new Date().toISOString(), server: gen.map.server.id }));

  // GeoIP database replaced in place: new trie (worker thread), same map.
  let geoWatcher: GeoDbWatcher | null = null;
  const watchGeo = (paths: string[]): void => {
    const path = paths.join(' + ');
    geoWatcher?.close();
    geoWatcher = new GeoDbWatcher(paths, { intervalMs: options.geoPollMs ?? 2000 });
    geoWatcher.on('reload', (next: GeoDatabase) => {
      const g = gen;
      buildRegionTrieInWorker(next, g.map.rules).then(
        (trie) => {
          if (gen !== g) return; // a map reload replaced everything meanwhile
          g.classifier.setDatabase(next, trie);
          g.router.geoChanged(g.classifier);
          log.info({ geoip: next.description, path, trieNodes: trie.nodeCount }, 'GeoIP database reloaded');
          warnIfStale(next, g.map);
        },
        (err: Error) => log.error({ err, path }, `GeoIP database rejected, keeping ${g.classifier.database.description}: ${err.message}`),
      );
    });
    geoWatcher.on('error', (err: Error) => log.error({ err, path }, `GeoIP database rejected, keeping ${gen.classifier.database.description}: ${err.message}`));
  };
  watchGeo(dbPath);

  // Map reload: parse and validate, build the next generation beside the live one
  // (the trie in a worker thread), then swap the resolver in one assignment.
  let reloading: Promise<boolean> | null = null;
  let again = false;
  // An operator's SIGHUP re-signs a signed map even when nothing changed (a stuck re-sign, a clock fixed).
  const reloadOnce = async (reason: string, source: BuildSource = { kind: 'file', path: options.config }, version: number | null = null, force = reason === 'SIGHUP' && gen.router.signing !== null): Promise<boolean> => {
    const cur = gen;
    try {
      // Parse, validate and build every answer in a worker thread: the answering thread only wires the result in.
      // `force` (a re-sign) builds even an unchanged map: what changes is the signatures' validity.
      const built = await buildInWorker(source, force ? null : { version: cur.map.version, asnDigest: cur.map.asn?.digest ?? null }, spawner ?? undefined);
      if (built.unchanged) {
        // An operator's SIGHUP deserves an answer even when there is nothing to do; the file watcher's touches do not.
        if (reason === 'SIGHUP' && options.leadWorker !== false) log.info({ reason, version: built.version }, `map unchanged (version ${built.version}): nothing reloaded`);
        else log.debug({ reason, version: built.version }, 'map unchanged');
        cur.published = version;
        return true;
      }
      const next = built.map;
      const nextPath = mmdbPath(next);
      const nextDb = nextPath.join('\n') === cur.dbPath.join('\n') ? cur.classifier.database : GeoDatabase.open(nextPath);
      // Same database, same regions and rules (a list or service edit): the live trie serves the next map too.
      const trie = nextDb === cur.classifier.database && sameRegionRules(cur.map, next) ? cur.classifier.regionTrie : await buildRegionTrieInWorker(nextDb, next.rules);
      const nextClassifier = new GeoClassifier(nextDb, next.rules, { trie });
      const nextRouter = new Router(next, nextClassifier, mirror, built.prebuilt);
      cur.leader?.removeAllListeners();
      await cur.leader?.stop();
      await cur.prober?.stop();
      const probes = makeProbes(next, cur.prober);
      gen = { map: next, dbPath: nextPath, classifier: nextClassifier, router: nextRouter, tableBytes: built.prebuilt.bytes, published: version, ...probes };
      dns.setResolver(nextRouter);
      metrics.routerReplaced(cur.router);
      webhook?.configure(next.alerts);
      cur.router.detach();
      releaseTablesLater(cur.tableBytes);
      mirror.setQuorum(next.health.quorum);
      mapWatcher?.setFiles(mapFiles(next));
      if (nextPath.join('\n') !== cur.dbPath.join('\n')) watchGeo(nextPath);
      if (nextDb !== cur.classifier.database || next.geoMaxAgeMs !== cur.map.geoMaxAgeMs) warnIfStale(nextDb, next);
      probes.prober?.start();
      probes.leader?.start();
      scheduleResign();
      // A map grown big by reloads gets its helper now: one fork from here, then none at each reload.
      keepSpawner(built.records);
      reloads.ok++;
      reloads.lastError = null;
      reloads.lastAt = Date.now();
      log.info({ reason, version: next.version, previous: cur.map.version, published: version, trieNodes: trie.nodeCount }, `map reloaded (${reason})`);
      return true;
    } catch (err) {
      reloads.failed++;
      reloads.lastAt = Date.now();
      const issues = err instanceof ConfigError ? err.issues.map(formatIssue) : [(err as Error).message];
      reloads.lastError = issues.join('\n');
      log.error({ reason, issues, keeping: cur.map.version }, `map rejected, still serving version ${cur.map.version}: ${issues[0]}`);
      return false;
    }
  };
  // Signed zones: rebuild (re-sign) halfway through the signatures' validity, jittered so a fleet
  // does not re-sign in the same second, or when a key's Publish/Activate/Inactive/Delete time comes;
  // a failed re-sign keeps the old answers and tries again.
  let resignTimer: NodeJS.Timeout | null = null;
  const scheduleResign = (): void => {
    if (resignTimer) clearTimeout(resignTimer);
    resignTimer = null;
    const signing = gen.router.signing;
    if (!signing || published) return;
    resignTimer = setTimeout(() => {
      void reloadOnce('re-sign', undefined, null, true).then((ok) => {
        if (!ok) resignTimer = setTimeout(scheduleResign, 60_000).unref();
      });
    }, Math.min(resignDelayMs(signing.validity, Date.now()), keyEventDelayMs(signing.nextKeyEvent, Date.now()))).unref();
  };
  scheduleResign();
  /** Reload now; a reload asked for while one runs is done once more after it. */
  const reload = async (reason: string): Promise<boolean> => {
    if (member && published) {
      // The published map: re-read current now (its apply runs reloadOnce).
      const failedBefore = reloads.failed;
      await member.check(reason);
      return reloads.failed === failedBefore;
    }
    if (reloading) {
      again = true;
      return reloading;
    }
    reloading = reloadOnce(reason).finally(() => {
      reloading = null;
      if (again) {
        again = false;
        void reload('changed during reload');
      }
    });
    return reloading;
  };
  // From a file: watch it and its zone files. From the published map: Redis says when it changes.
  const mapWatcher = published ? null : new MapWatcher(mapFiles(map), { intervalMs: options.mapPollMs });
  mapWatcher?.on('change', () => void reload('file changed'));
  apply.fn = async (p, reason) => ((await reloadOnce(reason, { kind: 'bundle', bundle: p.bundle, id }, p.version)) ? null : (reloads.lastError ?? 'rejected'));
  const onHup = (): void => void reload('SIGHUP');
  if (options.handleSignals) process.on('SIGHUP', onHup);

  const addresses = await dns.listen();
  started = true;
  // One line naming the UDP path (per process: with --workers, each worker says which it runs).
  if (dns.udpFallback !== null) log.warn({ udp: dns.udpPath, reason: dns.udpFallback }, `UDP path: dgram (batched path unavailable: ${dns.udpFallback})`);
  else if (dns.udpPath === 'batched') log.info({ udp: 'batched' }, `UDP path: batched (recvmmsg/sendmmsg, ${options.dns?.udpReusePort ? 'own SO_REUSEPORT socket on the shared port' : 'exclusive socket'})`);
  else log.info({ udp: 'dgram' }, 'UDP path: dgram (--udp dgram)');
  // Said once per server (by worker 0), not once per worker: every worker's port is the same.
  if (dns.udpPortWarning !== null && (process.env.GEOSTEER_WORKER_INDEX ?? '0') === '0') log.warn({ udp: dns.udpPath }, dns.udpPortWarning);
  const facts = (): HostFacts => ({
    addresses: addresses.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`),
    admin: options.adminAddress !== undefined ? options.adminAddress : admin && options.metricsListen ? options.metricsListen.replace(/:\d+$/, `:${admin.port}`) : null,
    mapHash: gen.map.version,
    geoip: gen.classifier.database.description,
    ready: notReady() === null,
  });
  if (member) registerFleetMetrics(registry, () => member.view());
  member?.start();
  gen.prober?.start();
  gen.leader?.start();
  log.info(
    {
      listen: addresses.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`),
      map: published ? `published version ${startVersion}` : map.file,
      version: map.version,
      geoip: db.description,
      zones: map.zones.map((z) => z.name),
      health: options.redis ? describeRedis(options.redis) : store.kind,
      probes: gen.prober ? gen.prober.targetCount : 0,
      startupMs: Math.round(performance.now()),
    },
    'geosteer serving',
  );
  let status: StatusSource | null = null;
  const running: RunningServer = {
    addresses,
    get map() {
      return gen.map;
    },
    get router() {
      return gen.router;
    },
    get prober() {
      return gen.prober;
    },
    dns,
    store,
    mirror,
    reloads,
    fleet: member,
    reload,
    admin,
    metrics,
    notReady,
    async close() {
      process.off('SIGHUP', onHup);
      status?.close();
      webhook?.close();
      await admin?.close();
      mapWatcher?.close();
      if (resignTimer) clearTimeout(resignTimer);
      await member?.close();
      geoWatcher?.close();
      await gen.leader?.stop();
      await gen.prober?.stop();
      gen.router.detach();
      mirror.stop();
      await dns.close();
      spawner?.close();
      if (!options.store) await store.close();
    },
  };
  // The status page (`/`, `/api/status`, `/api/explain`) and this host's state (`/api/state`, for recover) on the admin port.
  if (admin) {
    status = statusSourceFrom(running);
    for (const r of statusRoutes(status)) admin.add(r);
    admin.add(stateRoute(() => (published ? id : gen.map.serverId), mirror, member));
    // The embedded table is steered through this port (geosteer drain/undrain/promote/status without REDIS).
    if (store instanceof MemoryStore) for (const r of controlRoutes(embeddedControl(store, () => gen.map))) admin.add(r);
  }
  return running;
}

/**
 * GET /api/state: what this host holds of the shared state, as a state
 * document (drains and pointers of its mirror, those Redis lost included; the
 * published map it serves), so `geosteer recover` can rebuild an emptied Redis.
 */
function stateRoute(id: () => string, mirror: HealthMirror, member: FleetMember | null): Route {
  return {
    path: '/api/state',
    async handler(_req, res) {
      const t = mirror.tableState();
      const pub = member ? await member.published() : { current: null, map: null };
      const doc: StateDoc & { lost: LostState | null } = {
        geosteer: 'state',
        format: 1,
        source: `serve ${id()}`,
        at: t.now,
        drains: t.drains,
        primaries: t.primaries,
        epoch: 0,
        audit: [],
        maps: { current: pub.current, versions: pub.map ? [pub.map] : [] },
        lost: mirror.lostState(),
      };
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(doc));
    },
  };
}
