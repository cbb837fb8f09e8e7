import { redisOptionsFrom, type RedisConnectionOptions } from '../health';

/** The options every command that touches the shared table takes (serve, probe, drain, undrain, promote, status). */
export const REDIS_ARGS = {
  redis: { type: 'string' },
  'redis-sentinels': { type: 'string' },
  'redis-master': { type: 'string' },
  'redis-prefix': { type: 'string' },
} as const;

export const REDIS_USAGE = `  --redis redis[s]://[USER:PASS@]HOST:PORT[/DB]   shared health table (or REDIS_URL)
  --redis-sentinels HOST:PORT,...  --redis-master NAME   the same through Redis Sentinel
  --redis-prefix PREFIX            key prefix (default geosteer:)
  password: in the URL, or REDIS_PASSWORD, or a file named by REDIS_PASSWORD_FILE`;

export function redisFromArgs(values: { redis?: string; 'redis-sentinels'?: string; 'redis-master'?: string; 'redis-prefix'?: string }): RedisConnectionOptions | null {
  return redisOptionsFrom({ redis: values.redis, sentinels: values['redis-sentinels'], master: values['redis-master'], prefix: values['redis-prefix'] });
}

/** For commands that only make sense against the shared table. */
export function requireRedis(values: Parameters<typeof redisFromArgs>[0], verb: string): RedisConnectionOptions {
  const r = redisFromArgs(values);
  if (!r) throw new UsageError(`${verb} needs the shared table: give --redis URL (or REDIS_URL), or --redis-sentinels and --redis-master`);
  return r;
}

export class UsageError extends Error {}
