#!/usr/bin/env node
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ConfigError, GeosteerError } from '../common/errors';
import { adminHostsFrom, collectProcessMetrics, createLogger, globalRegistry, metricsListenFrom, reportToClusterPrimary, type Logger } from '../observability';
import { loadMapFile } from '../config';
import { defaultServerVersion } from '../config/map-file';
import { IpcStore } from '../health';
import { checkCommand } from './check';
import { runPrimary } from './cluster';
import { dnsOptionsFromArgs } from './dns-args';
import { drainCommand } from './drain';
import { dsCommand, keygenCommand } from './dnssec';
import { explainCommand } from './explain';
import { probeCommand } from './probe';
import { promoteCommand } from './promote';
import { historyCommand, publishCommand, rollbackCommand } from './publish';
import { recoverCommand, stateCommand } from './state';
import { redisFromArgs, UsageError } from './redis-args';
import { reportCommand } from './report';
import { serve } from './serve';
import { endQuietlyOnClosedOutput } from './closed-output';
import { mapErrorText } from './map-error';
import { statusCommand } from './status';
import { isVerb, mainHelp, parseVerbArgs, verbHelp, verbUsage, wantsHelp } from './verbs';

const DEFAULT_CONFIG = resolve(__dirname, '../../../geodata/map.yaml');

async function serveCommand(rest: string[]): Promise<number> {
  const { values } = parseVerbArgs('serve', rest);
  const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError('--workers must be a number from 1 to 256');
  const log = loggerFrom(values['log-level']);
  const admin = metricsListenFrom(values['metrics-listen']);
  if (typeof admin === 'string') throw new UsageError(admin);
  const adminHosts = adminHostsFrom(values['admin-host']);
  if (typeof adminHosts === 'string') throw new UsageError(adminHosts);
  const querySample = values['query-log-sample'] === undefined ? 0 : Number(values['query-log-sample']);
  if (!Number.isInteger(querySample) || querySample < 0) throw new UsageError('--query-log-sample must be a whole number (1 logs every query, 0 none)');
  const redis = redisFromArgs(values);
  const dns = dnsOptionsFromArgs(values);
  // With the shared table and no map file named, run the map published there (geosteer publish).
  const published = values.config === 'redis' || (values.config === undefined && redis !== null);
  if (published && !redis) throw new UsageError('--config redis runs the published map: give --redis URL (or REDIS_URL) too');
  const config = published ? 'redis' : (values.config ?? DEFAULT_CONFIG);
  if (workers > 1 && cluster.isPrimary) {
    if (!published) loadMapFile(config); // fail here, once, with the map's errors, rather than in every worker
    return runPrimary(workers, config, !redis, values.id, log, { ...admin, hosts: adminHosts });
  }
  const worker = cluster.isWorker;
  // Metrics go to the default registry; a worker's are merged by the primary's /metrics.
  collectProcessMetrics(globalRegistry);
  if (worker) reportToClusterPrimary(globalRegistry);
  const running = await serve({
    config,
    mapSource: published ? 'published' : 'file',
    listen: values.listen,
    // Workers each open their own UDP socket on the one port: only they share it (SO_REUSEPORT).
    dns: { ...dns, udpReusePort: worker },
    logger: log,
    redis,
    // In a cluster the primary probes (embedded) or the dedicated probers do (Redis).
    store: worker && !redis ? new IpcStore(process as unknown as ConstructorParameters<typeof IpcStore>[0]) : undefined,
    probe: worker ? false : values['no-probe'] ? false : values.probe,
    // Embedded: the primary speaks for the cluster; with Redis, worker 0 does.
    leadWorker: !worker || (redis !== null && process.env.GEOSTEER_WORKER_INDEX === '0'),
    proberId: values.id,
    snapshotPath: values['state-file'],
    handleSignals: true,
    registry: globalRegistry,
    // Worker 0 serves the status page on a private loopback port; the primary proxies to it.
    metricsListen: worker ? (process.env.GEOSTEER_WORKER_INDEX === '0' && admin.listen !== null ? '127.0.0.1:0' : null) : admin.listen,
    // A worker's own admin port is private (the primary proxies it): the fleet registry shows the primary's.
    ...(worker ? { adminAddress: admin.listen } : {}),
    metricsListenOptional: admin.optional,
    adminHosts,
    queryLogSample: querySample,
  });
  if (worker) {
    // The primary's /readyz waits for every worker to say so.
    const tellReady = (): void => {
      if (running.notReady() === null) process.send?.({ geosteer: 'ready', statusPort: running.admin?.port ?? null });
      else setTimeout(tellReady, 200).unref();
    };
    tellReady();
  }
  await new Promise<void>((done) => {
    const stop = (signal: string): void => {
      log.info({ signal }, 'shutting down');
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await running.close();
  return 0;
}

/** --log-level (else LOG_LEVEL, else info); an unknown level is a usage error. */
function loggerFrom(level: string | undefined): Logger {
  try {
    return createLogger(level ?? process.env.LOG_LEVEL ?? 'info');
  } catch (e) {
    throw new UsageError(`${level === undefined ? 'LOG_LEVEL' : '--log-level'}: ${(e as Error).message}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const out = (s: string): void => void process.stdout.write(s + '\n');
  const err = (s: string): void => void process.stderr.write(s + '\n');
  endQuietlyOnClosedOutput();
  if (verb === '--version' || verb === '-V' || verb === 'version') {
    out(defaultServerVersion());
    return 0;
  }
  if (verb === undefined || verb === '--help' || verb === '-h' || verb === 'help') {
    const about = rest[0];
    if (about === undefined) (verb === undefined ? err : out)(mainHelp());
    else if (isVerb(about)) out(verbHelp(about));
    else {
      err(`geosteer help: unknown command "${about}"\n${mainHelp()}`);
      return 2;
    }
    return verb === undefined ? 2 : 0;
  }
  if (!isVerb(verb)) {
    err(`geosteer: unknown command "${verb}"\n${mainHelp()}`);
    return 2;
  }
  if (wantsHelp(rest)) {
    out(verbHelp(verb));
    return 0;
  }
  try {
    switch (verb) {
      case 'serve':
        return await serveCommand(rest);
      case 'check':
        return await checkCommand(rest, out, err);
      case 'publish':
        return await publishCommand(rest, out, err);
      case 'history':
        return await historyCommand(rest, out);
      case 'state':
        return await stateCommand(rest, out, err);
      case 'recover':
        return await recoverCommand(rest, out, err);
      case 'rollback':
        return await rollbackCommand(rest, out);
      case 'explain':
        return explainCommand(rest, DEFAULT_CONFIG, out);
      case 'probe':
        return await probeCommand(rest, DEFAULT_CONFIG);
      case 'drain':
      case 'undrain':
        return await drainCommand(verb, rest, out);
      case 'promote':
        return await promoteCommand(rest, DEFAULT_CONFIG, out);
      case 'status':
        return await statusCommand(rest, out);
      case 'report':
        return await reportCommand(rest, out);
      case 'keygen':
        return keygenCommand(rest, out);
      case 'ds':
        return dsCommand(rest, out);
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      err(mapErrorText(e));
      return 1;
    }
    if (e instanceof UsageError) {
      err(`geosteer ${verb}: ${e.message}\n${verbUsage(verb)}`);
      return 2;
    }
    if (e instanceof GeosteerError) {
      err(`geosteer ${verb}: ${e.message}`);
      return 1;
    }
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // A cluster worker's IPC channel would keep it alive after its sockets closed.
    if (cluster.isWorker) process.exit(code);
  },
  (e: Error) => {
    if (cluster.isWorker && process.send) {
      // A worker that cannot start (bind EADDRINUSE/EACCES...) tells the primary,
      // which prints one line for the whole server and exits non-zero.
      process.send({ geosteer: 'failed', error: e.message }, () => process.exit(1));
      return;
    }
    process.stderr.write(`geosteer: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
