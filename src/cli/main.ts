#!/usr/bin/env node
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, GeosteerError } from '../common/errors';
import { createLogger } from '../observability';
import { loadMapFile } from '../config';
import { IpcStore } from '../health';
import { check } from './check';
import { runPrimary } from './cluster';
import { drainCommand } from './drain';
import { probeCommand } from './probe';
import { promoteCommand } from './promote';
import { REDIS_ARGS, REDIS_USAGE, redisFromArgs, UsageError } from './redis-args';
import { serve } from './serve';
import { statusCommand } from './status';

const DEFAULT_CONFIG = resolve(__dirname, '../../../geodata/map.yaml');

const USAGE = `usage:
  geosteer serve [--config FILE] [--listen HOST:PORT]... [--workers N] [REDIS] [--probe|--no-probe] [--id ID] [--state-file PATH]
        run the DNS server (default geodata/map.yaml on 127.0.0.1:5300, one worker per CPU;
        without REDIS: in-memory table, probes in-process)
  geosteer check FILE                 validate a map file and print its routing table
  geosteer probe [--config FILE] [--id ID] [--lease 10s] REDIS
        run the map's health checks and vote in the shared table
  geosteer drain DC [--service NAME] --for DURATION --reason TEXT REDIS
  geosteer undrain DC [--service NAME] REDIS
  geosteer promote SERVICE DC [--reason TEXT] [--config FILE] REDIS
  geosteer status [--config FILE] [--json] REDIS
REDIS:
${REDIS_USAGE}`;

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
      ...REDIS_ARGS,
    },
  });
  const workers = values.workers === undefined ? availableParallelism() : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new UsageError('--workers must be a number from 1 to 256');
  const log = createLogger();
  const redis = redisFromArgs(values);
  const config = values.config ?? DEFAULT_CONFIG;
  if (workers > 1 && cluster.isPrimary) {
    loadMapFile(config); // fail here, once, with the map's errors, rather than in every worker
    return runPrimary(workers, config, !redis, values.id, log);
  }
  const worker = cluster.isWorker;
  const running = await serve({
    config,
    listen: values.listen,
    logger: log,
    redis,
    // In a cluster the primary probes (embedded) or the dedicated probers do (Redis).
    store: worker && !redis ? new IpcStore(process as unknown as ConstructorParameters<typeof IpcStore>[0]) : undefined,
    probe: worker ? false : values['no-probe'] ? false : values.probe,
    // Embedded: the primary speaks for the cluster; with Redis, worker 0 does.
    leadWorker: !worker || (redis !== null && process.env.GEOSTEER_WORKER_INDEX === '0'),
    proberId: values.id,
    snapshotPath: values['state-file'],
  });
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

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const out = (s: string): void => void process.stdout.write(s + '\n');
  const err = (s: string): void => void process.stderr.write(s + '\n');
  try {
    switch (verb) {
      case 'serve':
        return await serveCommand(rest);
      case 'check': {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
        if (positionals.length !== 1) throw new UsageError('usage: geosteer check FILE');
        return check(positionals[0], out, err);
      }
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
