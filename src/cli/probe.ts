import { hostname } from 'node:os';
import { loadMapFile } from '../config';
import { HealthMirror, RedisStore } from '../health';
import { describeRedis } from '../health';
import { adminHostsFrom, collectProcessMetrics, createLogger, healthEvents, healthRoutes, metricsListenFrom, metricsRoute, ProbeMetrics, Registry, startAdmin, WebhookSender, type HealthEventInput } from '../observability';
import { PrimaryLeader, Prober, type PromotionEvent } from '../probe';
import { parseDurationMs } from '../config/duration';
import { requireRedis, UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';
import { logHealth } from './serve';

/**
 * `geosteer probe`: runs the map's checks and writes this prober's votes to
 * the shared table; takes part in the leader election for primary failover.
 * Runs until SIGINT/SIGTERM.
 */
export async function probeCommand(args: string[], defaultConfig: string): Promise<number> {
  const { values } = parseVerbArgs('probe', args);
  const redis = requireRedis(values, 'probe');
  const lease = values.lease ? parseDurationMs(values.lease) : 10_000;
  if (lease === null || lease < 1000) throw new UsageError('--lease must be a duration of at least 1s (e.g. 10s)');
  const map = loadMapFile(values.config ?? defaultConfig);
  const log = createLogger();
  const id = values.id ?? hostname();
  const store = new RedisStore(redis);
  const mirror = new HealthMirror(store, { quorum: map.health.quorum });
  const prober = new Prober({ id, store, map });
  const leader = new PrimaryLeader({ id, store, mirror, map, leaseMs: lease });
  logHealth(log, mirror, prober, leader);
  // /metrics (checks, leader) on 127.0.0.1:9254 by default, beside a serve's 9253; promotions go to the webhook.
  const admin = metricsListenFrom(values['metrics-listen'], '127.0.0.1:9254');
  if (typeof admin === 'string') throw new UsageError(admin);
  const hosts = adminHostsFrom(values['admin-host']);
  if (typeof hosts === 'string') throw new UsageError(hosts);
  const registry = new Registry();
  collectProcessMetrics(registry);
  new ProbeMetrics(registry).watch(prober, leader);
  const http = await startAdmin({ ...admin, hosts, log, routes: [metricsRoute(registry), ...healthRoutes(() => (mirror.source === 'none' ? 'health store not reached yet' : null))] });
  const webhook = new WebhookSender(map.alerts, { registry, log });
  leader.on('promoted', (e: PromotionEvent) => healthEvents(mirror).promoted(e));
  healthEvents(mirror).on('event', (e: HealthEventInput) => e.kind === 'promotion' && webhook.send({ ...e, at: new Date().toISOString(), server: id }));
  await mirror.start();
  healthEvents(mirror).useMap(() => map);
  prober.start();
  leader.start();
  log.info({ id, redis: describeRedis(redis), targets: prober.targetCount, map: map.file, version: map.version }, 'geosteer probe running');
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'probe shutting down');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await leader.stop();
  await prober.stop();
  mirror.stop();
  webhook.close();
  await http?.close();
  await store.close();
  return 0;
}
