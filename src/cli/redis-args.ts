import { redisOptionsFrom, type RedisConnectionOptions } from '../health';

/** The options every command that touches the shared table takes (serve, probe, drain, undrain, promote, status). */
export const REDIS_ARGS = {
  redis: { type: 'string' },
  'redis-sentinels': { type: 'string' },
  'redis-master': { type: 'string' },
  'redis-prefix': { type: 'string' },
  'redis-ca': { type: 'string' },
  'redis-tls': { type: 'boolean' },
} as const;

export const REDIS_USAGE = `  --redis redis[s]://[USER[:PASS]@]HOST:PORT[/DB]   shared health table (or REDIS_URL)
  --redis-sentinels HOST:PORT,...  --redis-master NAME   the same through Redis Sentinel
  --redis-prefix PREFIX            key prefix (default geosteer:)
  --redis-ca FILE                  CA of the server certificate for rediss:// (or REDIS_CA_FILE)
  --redis-tls                      TLS to the sentinels and the master (or REDIS_TLS=1)
  user: in the URL, or REDIS_USERNAME; password: in the URL, or REDIS_PASSWORD, or a file
  named by REDIS_PASSWORD_FILE (first found wins); client certificate: REDIS_TLS_CERT_FILE
  and REDIS_TLS_KEY_FILE; sentinels' own password: REDIS_SENTINEL_PASSWORD[_FILE]`;

export interface RedisArgValues {
  redis?: string;
  'redis-sentinels'?: string;
  'redis-master'?: string;
  'redis-prefix'?: string;
  'redis-ca'?: string;
  'redis-tls'?: boolean;
}

export function redisFromArgs(values: RedisArgValues): RedisConnectionOptions | null {
  return redisOptionsFrom({
    redis: values.redis,
    sentinels: values['redis-sentinels'],
    master: values['redis-master'],
    prefix: values['redis-prefix'],
    ca: values['redis-ca'],
    tls: values['redis-tls'],
  });
}

/** For commands that only make sense against the shared table. */
export function requireRedis(values: RedisArgValues, verb: string): RedisConnectionOptions {
  const r = redisFromArgs(values);
  if (!r) throw new UsageError(`${verb} needs the shared table: give --redis URL (or REDIS_URL), or --redis-sentinels and --redis-master`);
  return r;
}

/**
 * drain, undrain, promote, status: the shared table when REDIS is given, else (null) the
 * embedded table of the server at --server (its admin port). Both at once is a usage error.
 */
export function redisOrServer(values: RedisArgValues & { server?: string }): RedisConnectionOptions | null {
  const r = redisFromArgs(values);
  if (r && values.server !== undefined) throw new UsageError('give REDIS (the shared table) or --server HOST:PORT (one server without Redis), not both');
  return r;
}

export class UsageError extends Error {}
