import { readFileSync } from 'node:fs';
import type { Quorum } from './verdict';

/** Where the shared table is: one Redis URL, or Sentinels plus a master name. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  sentinels: Array<{ host: string; port: number }>;
  masterName: string;
  /** Key prefix, so several deployments can share one Redis. @default 'geosteer:' */
  prefix: string;
  /** A command that has no reply by then fails (a frozen Redis must not stall anyone). @default 1000 */
  commandTimeoutMs: number;
}

/** The health part's map-file slice (`health:`). */
export interface HealthOptions {
  /** Down votes needed: 'majority' of the fresh votes, or a fixed count. @default 'majority' */
  quorum: Quorum;
  /** Full re-read of the table even when pub/sub is quiet. @default 10000 */
  resyncMs: number;
  /** After a failed read, retry this often (converges within ~2 s of Redis returning). @default 500 */
  retryMs: number;
}

export const DEFAULT_HEALTH_OPTIONS: HealthOptions = { quorum: 'majority', resyncMs: 10_000, retryMs: 500 };

export interface RedisCliInput {
  redis?: string;
  sentinels?: string;
  master?: string;
  prefix?: string;
}

/**
 * Builds connection options from `--redis redis[s]://[user:pass@]host:port/db`
 * (or REDIS_URL), or `--redis-sentinels h:p,h:p --redis-master NAME`. The
 * password may also come from REDIS_PASSWORD or the file named by
 * REDIS_PASSWORD_FILE, so it never has to sit on a command line. Returns
 * null when no Redis is configured (embedded mode).
 */
export function redisOptionsFrom(input: RedisCliInput, env: NodeJS.ProcessEnv = process.env): RedisConnectionOptions | null {
  const url = input.redis ?? env.REDIS_URL;
  const sentinelText = input.sentinels ?? env.REDIS_SENTINELS;
  if (!url && !sentinelText) return null;
  const password = env.REDIS_PASSWORD ?? (env.REDIS_PASSWORD_FILE ? readFileSync(env.REDIS_PASSWORD_FILE, 'utf8').trim() : undefined);
  const base: RedisConnectionOptions = {
    host: '127.0.0.1',
    port: 6379,
    db: 0,
    password,
    tls: false,
    sentinels: [],
    masterName: input.master ?? env.REDIS_MASTER ?? 'mymaster',
    prefix: input.prefix ?? env.GEOSTEER_REDIS_PREFIX ?? 'geosteer:',
    commandTimeoutMs: 1000,
  };
  if (sentinelText) {
    base.sentinels = sentinelText.split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      const port = Number(hp.slice(i + 1));
      if (i < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`--redis-sentinels: "${hp}" is not HOST:PORT`);
      return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port };
    });
    if (!input.master && !env.REDIS_MASTER) throw new Error('--redis-sentinels needs --redis-master NAME');
    return base;
  }
  let u: URL;
  try {
    u = new URL(url as string);
  } catch {
    throw new Error(`--redis: "${url}" is not a URL like redis://127.0.0.1:6379/0`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`--redis: scheme must be redis:// or rediss://, not ${u.protocol}`);
  base.host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
  base.port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.length > 1 ? u.pathname.slice(1) : '0';
  // A non-numeric path would become NaN, which ioredis silently treats as db 0.
  if (!/^\d+$/.test(dbText)) throw new Error(`--redis: database "${dbText}" is not a number (redis://HOST:PORT/DB)`);
  base.db = Number(dbText);
  if (u.username) base.username = decodeURIComponent(u.username);
  if (u.password) base.password = decodeURIComponent(u.password);
  base.tls = u.protocol === 'rediss:';
  return base;
}

/** For logs: the connection without secrets. */
export function describeRedis(o: RedisConnectionOptions): string {
  if (o.sentinels.length) return `sentinel ${o.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} master ${o.masterName}`;
  return `${o.tls ? 'rediss' : 'redis'}://${o.host}:${o.port}/${o.db}`;
}
