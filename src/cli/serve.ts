import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMapFile, type MapConfig } from '../config';
import { DnsServer, type BoundAddress, type DnsOptions } from '../dns';
import { buildRegionTrieInWorker, GeoClassifier, GeoDatabase, GeoDbWatcher } from '../geo';
import { describeRedis, HealthMirror, MemoryStore, RedisStore, type HealthStore, type PairStatus, type RedisConnectionOptions } from '../health';
import { createLogger, rateLimited, type Logger } from '../observability';
import { PrimaryLeader, Prober, type CheckEvent, type PromotionEvent } from '../probe';
import { Router } from '../routing';

/**
 * `geosteer serve`: the order in which the parts are wired lives here and
 * only here. config -> geo -> health (store, mirror[, probes]) -> routing -> dns.
 */
export interface ServeOptions {
  config: string;
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
}

export interface RunningServer {
  addresses: BoundAddress[];
  map: MapConfig;
  router: Router;
  dns: DnsServer;
  store: HealthStore;
  mirror: HealthMirror;
  prober: Prober | null;
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
  mirror.on('snapshot-loaded', (path: string) => log.warn({ path }, 'health store unreachable at start: warmed from the local snapshot'));
  mirror.on('snapshot-error', (err: Error) => log.error({ err: err.message }, 'health snapshot could not be read or written'));
  prober?.on('check', (e: CheckEvent) => {
    if (e.flipped) log.info({ service: e.service, dc: e.dc, result: e.result }, `probe: ${e.service} in ${e.dc} votes ${e.up ? 'up' : 'down'} (${e.result.detail})`);
  });
  let voteErrors = 0;
  prober?.on('vote-error', (err: Error) => {
    if (voteErrors++ === 0) log.error({ err: err.message }, 'probe: votes cannot be written (store unreachable); probing goes on');
  });
  mirror.on('store-up', () => (voteErrors = 0));
  leader?.on('leader', (epoch: number) => log.info({ epoch }, 'primary failover: this prober holds the leader lease'));
  leader?.on('promoted', (e: PromotionEvent) => log.warn(e, `primary failover: ${e.service} moved ${e.from} -> ${e.to} (${e.reason})`));
}

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const log = options.logger ?? createLogger();
  const map = loadMapFile(options.config);
  const dbPath = map.geoDatabase === 'default' ? GeoDatabase.defaultPath() : map.geoDatabase;
  const db = GeoDatabase.open(dbPath);
  const classifier = new GeoClassifier(db, map.rules);

  const store = options.store ?? (options.redis ? new RedisStore(options.redis) : new MemoryStore());
  const snapshotPath =
    options.snapshotPath !== undefined ? options.snapshotPath : store.kind === 'redis' ? join(tmpdir(), `geosteer-${map.serverId}-health.json`) : null;
  const mirror = new HealthMirror(store, { quorum: map.health.quorum, snapshotPath, snapshotWrite: options.leadWorker !== false });
  const runProbes = options.probe ?? store.kind === 'memory';
  const id = options.proberId ?? hostname();
  const prober = runProbes ? new Prober({ id, store, map }) : null;
  const leader = runProbes ? new PrimaryLeader({ id, store, mirror, map, leaseMs: options.leaseMs }) : null;
  if (options.leadWorker !== false) logHealth(log, mirror, prober, leader);
  await mirror.start();

  const router = new Router(map, classifier, mirror);
  const dns = new DnsServer(router, { ...options.dns, ...(options.listen ? { listen: options.listen } : {}) }, rateLimited(log));

  const watcher = new GeoDbWatcher(dbPath, { intervalMs: options.geoPollMs ?? 2000 });
  watcher.on('reload', (next: GeoDatabase) => {
    // The region trie takes ~0.7 s to build: build it in a worker thread, then swap both at once.
    buildRegionTrieInWorker(next, map.rules).then(
      (trie) => {
        classifier.setDatabase(next, trie);
        router.geoChanged(classifier);
        log.info({ geoip: next.description, path: dbPath, trieNodes: trie.nodeCount }, 'GeoIP database reloaded');
      },
      (err: Error) => log.error({ err, path: dbPath }, `GeoIP database rejected, keeping ${classifier.database.description}: ${err.message}`),
    );
  });
  watcher.on('error', (err: Error) => {
    log.error({ err, path: dbPath }, `GeoIP database rejected, keeping ${classifier.database.description}: ${err.message}`);
  });

  const addresses = await dns.listen();
  prober?.start();
  leader?.start();
  log.info(
    {
      listen: addresses.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`),
      map: map.file,
      version: map.version,
      geoip: db.description,
      zones: map.zones.map((z) => z.name),
      health: options.redis ? describeRedis(options.redis) : store.kind,
      probes: prober ? prober.targetCount : 0,
      startupMs: Math.round(performance.now()),
    },
    'geosteer serving',
  );
  return {
    addresses,
    map,
    router,
    dns,
    store,
    mirror,
    prober,
    async close() {
      watcher.close();
      await leader?.stop();
      await prober?.stop();
      router.detach();
      mirror.stop();
      await dns.close();
      if (!options.store) await store.close();
    },
  };
}
