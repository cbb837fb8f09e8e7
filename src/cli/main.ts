#!/usr/bin/env node
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, GeosteerError } from '../common/errors';
import { adminHostsFrom, collectProcessMetrics, createLogger, globalRegistry, metricsListenFrom, reportToClusterPrimary, type Logger } from '../observability';
import { loadMapFile } from '../config';
import { IpcStore } from '../health';
import { checkCommand } from './check';
import { runPrimary } from './cluster';
import { DNS_ARGS, DNS_USAGE, dnsOptionsFromArgs } from './dns-args';
import { drainCommand } from './drain';
import { explainCommand } from './explain';
import { probeCommand } from './probe';
import { promoteCommand } from './promote';
import { REDIS_ARGS, REDIS_USAGE, redisFromArgs, UsageError } from './redis-args';
import { serve } from './serve';
import { statusCommand } from './status';

const DEFAULT_CONFIG = resolve(__dirname, '../../../geodata/map.yaml');

const USAGE = `usage:
  geosteer serve [--config FILE] [--listen HOST:PORT]... [--workers N] [REDIS] [--probe|--no-probe] [--id ID] [--state-file PATH]
                 [--metrics-listen HOST:PORT|off] [--admin-host NAME]... [--log-level LEVEL] [--query-log-sample N] [TCP LIMITS]
        run the DNS server (default geodata/map.yaml on 127.0.0.1:5300, one worker per CPU;
        without REDIS: in-memory table, probes in-process); /metrics, /healthz, /readyz on
        127.0.0.1:9253 by default, for Host: an IP, localhost or an --admin-host NAME;
        LEVEL: fatal error warn info debug trace silent (or LOG_LEVEL);
        --query-log-sample N logs one query in N
  geosteer check FILE [--against OLD] [--json]
        validate a map file and print its routing table; with --against, what changes from OLD
        (region lists, rules, services, /24s of IPv4 that move, per datacenter pair)
  geosteer explain IP [NAME] [--config FILE] [--subnet PREFIXLEN] [--json]
        the full decision for a client offline (map and its GeoIP DB, every datacenter up);
        NAME defaults to every service; --subnet: as an ECS subnet of that length
  geosteer probe [--config FILE] [--id ID] [--lease 10s] [--metrics-listen HOST:PORT|off] [--admin-host NAME]... REDIS
        run the map's health checks and vote in the shared table (/metrics on 127.0.0.1:9254)
  geosteer drain DC [--service NAME] --for DURATION --reason TEXT REDIS
  geosteer undrain DC [--service NAME] REDIS
  geosteer promote SERVICE DC [--reason TEXT] [--config FILE] REDIS
  geosteer status [--config FILE] [--json] REDIS
REDIS:
${REDIS_USAGE}
TCP LIMITS (serve):
${DNS_USAGE}`;

async function serveCommand(rest: string[]): Promise<number> {
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      listen: { type: 'string', short: 'l', multiple: true },
      probe: { type: 'boolean' },
      'no-probe': { type: 'boolean' },
      id: { type: 'string' },
      'state-file': { type: 'string' },
      workers: { type: 'string', short: 'w' },
      'metrics-listen': { type: 'string' },
      'admin-host': { type: 'string', multiple: true },
      'log-level': { type: 'string' },
      'query-log-sample': { type: 'string' },
      ...DNS_ARGS,
      ...REDIS_ARGS,
    },
  });
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
  const config = values.config ?? DEFAULT_CONFIG;
  if (workers > 1 && cluster.isPrimary) {
    loadMapFile(config); // fail here, once, with the map's errors, rather than in every worker
    return runPrimary(workers, config, !redis, values.id, log, { ...admin, hosts: adminHosts });
  }
  const worker = cluster.isWorker;
  // Metrics go to the default registry; a worker's are merged by the primary's /metrics.
  collectProcessMetrics(globalRegistry);
  if (worker) reportToClusterPrimary(globalRegistry);
  const running = await serve({
    config,
    listen: values.listen,
    dns,
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
  try {
    switch (verb) {
      case 'serve':
        return await serveCommand(rest);
      case 'check':
        return checkCommand(rest, out, err);
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
      case 'help':
      case '--help':
      case '-h':
        out(USAGE);
        return 0;
      default:
        err(`${verb ? `unknown command "${verb}"\n` : ''}${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      err(e.message);
      return 1;
    }
    if (e instanceof UsageError || (e as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      err((e as Error).message);
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
    process.stderr.write(`geosteer: ${e.stack ?? e.message}\n`);
    process.exitCode = 1;
  },
);
