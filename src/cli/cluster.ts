import cluster, { type Worker } from 'node:cluster';
import { hostname } from 'node:os';
import { loadMapFile } from '../config';
import { answerLoads, HealthMirror, MemoryStore, serveStoreOverIpc } from '../health';
import type { Logger } from '../observability';
import { PrimaryLeader, Prober } from '../probe';
import { logHealth } from './serve';

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
export async function runPrimary(workers: number, config: string, embedded: boolean, proberId: string | undefined, log: Logger): Promise<number> {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let stopping = false;
  const restarts: number[] = [];
  let stopHealth = async (): Promise<void> => {};

  if (embedded) {
    const map = loadMapFile(config);
    const store = new MemoryStore();
    const mirror = new HealthMirror(store, { quorum: map.health.quorum });
    const id = proberId ?? hostname();
    const prober = new Prober({ id, store, map });
    const leader = new PrimaryLeader({ id, store, mirror, map });
    logHealth(log, mirror, prober, null);
    serveStoreOverIpc(store, () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w));
    cluster.on('fork', (w) => answerLoads(store, w));
    await mirror.start();
    prober.start();
    leader.start();
    stopHealth = async () => {
      await leader.stop();
      await prober.stop();
      mirror.stop();
    };
  }

  // Each worker keeps its index across restarts; worker 0 alone logs health changes.
  const indexOf = new Map<number, number>();
  const fork = (index: number): void => {
    const w = cluster.fork({ GEOSTEER_WORKER_INDEX: String(index) });
    indexOf.set(w.id, index);
  };
  cluster.on('exit', (w, code, signal) => {
    if (stopping) return;
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
  return 0;
}
