#!/usr/bin/env node
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError } from '../common/errors';
import { createLogger } from '../observability';
import { check } from './check';
import { serve } from './serve';

const DEFAULT_CONFIG = resolve(__dirname, '../../../geodata/map.yaml');

const USAGE = `usage:
  geosteer serve [--config FILE] [--listen HOST:PORT]...   run the DNS server (default ${'geodata/map.yaml'}, 127.0.0.1:5300)
  geosteer check FILE                                      validate a map file and print its routing table
  geosteer help`;

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'serve': {
      const { values } = parseArgs({
        args: rest,
        options: { config: { type: 'string', short: 'c' }, listen: { type: 'string', short: 'l', multiple: true } },
      });
      const log = createLogger();
      try {
        const running = await serve({ config: values.config ?? DEFAULT_CONFIG, listen: values.listen, logger: log });
        const stop = (signal: string): void => {
          log.info({ signal }, 'shutting down');
          void running.close().then(() => process.exit(0));
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
        return -1; // keep running
      } catch (err) {
        if (err instanceof ConfigError) {
          process.stderr.write(err.message + '\n');
          return 1;
        }
        log.fatal({ err }, `cannot start: ${(err as Error).message}`);
        return 1;
      }
    }
    case 'check': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
      if (positionals.length !== 1) {
        process.stderr.write('usage: geosteer check FILE\n');
        return 2;
      }
      return check(positionals[0], (s) => process.stdout.write(s + '\n'), (s) => process.stderr.write(s + '\n'));
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE + '\n');
      return 0;
    default:
      process.stderr.write(`${verb ? `unknown command "${verb}"\n` : ''}${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`geosteer: ${err.stack ?? err.message}\n`);
    process.exitCode = 1;
  },
);
