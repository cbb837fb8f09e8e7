import cluster, { type Worker } from 'node:cluster';
import { request as httpRequest } from 'node:http';
import type { Route } from '../observability/http';
import { hostname } from 'node:os';
import { loadMapFile, MapWatcher } from '../config';
import { answerLoads, HealthMirror, MemoryStore, serveStoreOverIpc } from '../health';
import { Counter, Gauge } from 'prom-client';
import { ClusterMetrics, controlRoutes, healthEvents, healthRoutes, metricsRoute, ProbeMetrics, startAdmin, WebhookSender, type HealthEventInput, type Logger } from '../observability';
import { PrimaryLeader, Prober, type PromotionEvent } from '../probe';
import { embeddedControl } from './control-target';
import { logHealth, logProbes } from './serve';

/** More restarts than this within a minute means something is broken: stop instead of looping. */
const MAX_RESTARTS_PER_MINUTE = 10;

/**
 * `serve --workers N`: N worker processes share each UDP and TCP socket
 * (Node 20 dgram has no reusePort; the kernel spreads datagrams over the
 * workers reading the shared socket). TCP is accepted by the workers directly
 * (SCHED_NONE), not handed over by the primary. A worker that dies is
 * restarted. Without Redis the primary owns the in-memory health table and runs
 * the probes once, and the workers mirror it over IPC; with Redis every worker
 * mirrors Redis itself.
 */
export async function runPrimary(
  workers: number,
  config: string,
  embedded: boolean,
  proberId: string | undefined,
  log: Logger,
  admin: { listen: string | null; optional: boolean; hosts?: readonly string[] } = { listen: null, optional: true },
): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const restarts: number[] = [];
  let stopHealth = async (): Promise<void> => {};
  // /metrics: the workers' metrics merged (AggregatorRegistry), plus the primary's own (probes, webhook, restarts).
  const metrics = new ClusterMetrics();
  const ready = new Set<number>();
  let allReady = false;
  const restartCount = new Counter({ name: 'geosteer_cluster_worker_restarts_total', help: 'Workers that died and were restarted', registers: [metrics.own] });
  new Gauge({
    name: 'geosteer_cluster_workers',
    help: 'Workers running and ready to answer',
    registers: [metrics.own],
    collect() {
      this.set(ready.size);
    },
  });
  let statusPort: number | null = null;
  const indexOf = new Map<number, number>();
  // Workers that have said ready at least once: only those are restarted when they die.
  const started = new Set<number>();
  const failStart = (index: number, why: string): void => {
    if (stopping) return;
    stopping = true;
    // One line, then the whole process exits: a server that cannot listen must not look alive
    // (under systemd's Restart=always it is restarted and the failure shows in the journal).
    process.stderr.write(`geosteer serve: worker ${index} could not start: ${why}\n`);
    for (const x of Object.values(cluster.workers ?? {})) x?.process.kill('SIGTERM');
    process.exit(1);
  };
  cluster.on('message', (w, m: unknown) => {
    const msg = m as { geosteer?: string; statusPort?: number | null; error?: string } | null;
    if (msg?.geosteer === 'failed') return failStart(indexOf.get(w.id) ?? 0, msg.error ?? 'unknown error');
    if (msg?.geosteer !== 'ready') return;
    started.add(w.id);
    if (msg.statusPort) statusPort = msg.statusPort;
    ready.add(w.id);
    if (ready.size >= workers) allReady = true;
  });
  const notReady = (): string | null => (!allReady ? `${ready.size} of ${workers} workers ready` : ready.size === 0 ? 'no worker running' : null);
  // The status page needs one server's live state: worker 0 renders it, the primary passes requests through.
  const proxy = (path: string): Route => ({
    path,
    handler: (_req, res, url) =>
      new Promise<void>((done) => {
        if (!statusPort) {
          res.writeHead(503, { 'content-type': 'text/plain' }).end('status page: worker 0 not ready yet\n');
          return done();
        }
        const up = httpRequest({ host: '127.0.0.1', port: statusPort, path: url.pathname + url.search, method: 'GET', timeout: 5000 }, (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res).on('finish', () => done());
        });
        up.on('error', (err) => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end(`status page: ${err.message}\n`);
          done();
        });
        up.end();
      }),
  });
  const adminHttp = await startAdmin({
    listen: admin.listen,
    optional: admin.optional,
    hosts: admin.hosts,
    log,
    routes: [metricsRoute(metrics), ...healthRoutes(notReady), proxy('/'), proxy('/api/status'), proxy('/api/explain'), proxy('/api/state')],
  });
  let webhook: WebhookSender | null = null;

  let reloadProbes = (): void => {};
  if (embedded) {
    let map = loadMapFile(config);
    const store = new MemoryStore();
    const mirror = new HealthMirror(store, { quorum: map.health.quorum });
    const id = proberId ?? hostname();
    let prober = new Prober({ id, store, map });
    let leader = new PrimaryLeader({ id, store, mirror, map });
    logHealth(log, mirror, null, null);
    logProbes(log, prober, leader);
    // The primary speaks for an embedded cluster: probe metrics, and the webhook for state changes.
    const probeMetrics = new ProbeMetrics(metrics.own);
    const events = healthEvents(mirror);
    const hook = (webhook = new WebhookSender(map.alerts, { registry: metrics.own, log }));
    events.on('event', (e: HealthEventInput) => hook.send({ ...e, at: new Date().toISOString(), server: map.server.id }));
    const watchProbes = (): void => {
      probeMetrics.watch(prober, leader);
      leader.on('promoted', (e: PromotionEvent) => events.promoted(e));
    };
    watchProbes();
    // The primary owns the embedded table, so it answers the control routes itself (not proxied).
    for (const r of controlRoutes(embeddedControl(store, () => map))) adminHttp?.add(r);
    serveStoreOverIpc(store, () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w));
    cluster.on('fork', (w) => answerLoads(store, w));
    await mirror.start();
    events.useMap(() => map);
    prober.start();
    leader.start();
    // The probes follow the map too: the workers reload their answers, the primary its checks.
    reloadProbes = () => {
      let next;
      try {
        next = loadMapFile(config);
      } catch {
        return; // the workers log the rejection with every error
      }
      if (next.version === map.version) return;
      const [oldProber, oldLeader] = [prober, leader];
      void Promise.all([oldLeader.stop(), oldProber.stop()]).then(() => {
        map = next;
        prober = new Prober({ id, store, map, initialState: oldProber.state() });
        leader = new PrimaryLeader({ id, store, mirror, map });
        mirror.setQuorum(map.health.quorum);
        logProbes(log, prober, leader);
        watchProbes();
        hook.configure(map.alerts);
        prober.start();
        leader.start();
      });
    };
    const watcher = new MapWatcher([config]);
    watcher.on('change', reloadProbes);
    stopHealth = async () => {
      watcher.close();
      await leader.stop();
      await prober.stop();
      mirror.stop();
    };
  }
  // A worker still starting has no SIGHUP handler yet (the default action would kill it, and a
  // start that fails stops the server): it gets the reload once it says it is ready.
  const hupWaiting = new Set<number>();
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) {
      if (!w) continue;
      if (ready.has(w.id)) w.process.kill('SIGHUP');
      else hupWaiting.add(w.id);
    }
    reloadProbes();
  });
  cluster.on('message', (w, m: unknown) => {
    if ((m as { geosteer?: string } | null)?.geosteer === 'ready' && hupWaiting.delete(w.id)) w.process.kill('SIGHUP');
  });
  cluster.on('exit', (w) => hupWaiting.delete(w.id));

  // Each worker keeps its index across restarts; worker 0 alone logs health changes.
  const fork = (index: number): void => {
    const w = cluster.fork({ GEOSTEER_WORKER_INDEX: String(index) });
    indexOf.set(w.id, index);
  };
  cluster.on('exit', (w, code, signal) => {
    ready.delete(w.id);
    if (stopping) return;
    if (!started.has(w.id)) return failStart(indexOf.get(w.id) ?? 0, `exited (code ${code}, signal ${signal}) before it was ready`);
    restartCount.inc();
    const now = Date.now();
    restarts.push(now);
    while (restarts.length && now - restarts[0] > 60_000) restarts.shift();
    log.error({ worker: w.process.pid, code, signal }, 'worker died: restarting it');
    if (restarts.length > MAX_RESTARTS_PER_MINUTE) {
      log.fatal(`more than ${MAX_RESTARTS_PER_MINUTE} worker restarts in a minute: giving up`);
      process.exit(1);
    }
    setTimeout(() => fork(indexOf.get(w.id) ?? 0), 200);
  });
  for (let i = 0; i < workers; i++) fork(i);
  log.info({ workers }, 'geosteer cluster primary started');

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down workers');
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const alive = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w);
  await Promise.all(
    alive.map(
      (w) =>
        new Promise<void>((resolve) => {
          w.once('exit', () => resolve());
          w.process.kill('SIGTERM');
        }),
    ),
  );
  await stopHealth();
  webhook?.close();
  await adminHttp?.close();
  return 0;
}
