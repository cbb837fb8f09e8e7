import { loadMapFile, type MapConfig } from '../config';
import { DnsServer, type BoundAddress, type DnsOptions } from '../dns';
import { GeoClassifier, GeoDatabase, GeoDbWatcher } from '../geo';
import { MemoryHealthTable, type HealthView } from '../health';
import { createLogger, rateLimited, type Logger } from '../observability';
import { Router } from '../routing';

/**
 * `geosteer serve`: the order in which the parts are wired lives here and
 * only here. config -> geo -> health -> routing -> dns.
 */
export interface ServeOptions {
  config: string;
  listen?: string[];
  dns?: Partial<DnsOptions>;
  /** Health source; defaults to an in-memory table (embedded mode). */
  health?: HealthView;
  logger?: Logger;
  /** MMDB stat-poll interval for hot replacement. */
  geoPollMs?: number;
}

export interface RunningServer {
  addresses: BoundAddress[];
  map: MapConfig;
  router: Router;
  dns: DnsServer;
  health: HealthView;
  close(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const log = options.logger ?? createLogger();
  const map = loadMapFile(options.config);
  const dbPath = map.geoDatabase === 'default' ? GeoDatabase.defaultPath() : map.geoDatabase;
  const db = GeoDatabase.open(dbPath);
  const classifier = new GeoClassifier(db, map.rules);
  const health = options.health ?? new MemoryHealthTable();
  const router = new Router(map, classifier, health);
  const dns = new DnsServer(router, { ...options.dns, ...(options.listen ? { listen: options.listen } : {}) }, rateLimited(log));

  const watcher = new GeoDbWatcher(dbPath, { intervalMs: options.geoPollMs ?? 2000 });
  watcher.on('reload', (next: GeoDatabase) => {
    classifier.setDatabase(next);
    router.geoChanged(classifier);
    log.info({ geoip: next.description, path: dbPath }, 'GeoIP database reloaded');
  });
  watcher.on('error', (err: Error) => {
    log.error({ err, path: dbPath }, `GeoIP database rejected, keeping ${classifier.database.description}: ${err.message}`);
  });

  const addresses = await dns.listen();
  log.info(
    {
      listen: addresses.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`),
      map: map.file,
      version: map.version,
      geoip: db.description,
      zones: map.zones.map((z) => z.name),
    },
    'geosteer serving',
  );
  return {
    addresses,
    map,
    router,
    dns,
    health,
    async close() {
      watcher.close();
      router.detach();
      await dns.close();
    },
  };
}
