import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { GeosteerError } from '../common/errors';
import type { Quorum } from './verdict';

/** Where the shared table is: one Redis URL, or Sentinels plus a master name. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  /** ACL user (Redis 6+); absent: the `default` user. */
  username?: string;
  password?: string;
  /** TLS to Redis (and, with sentinels, to the sentinels too). */
  tls: boolean;
  /** PEM read once at start from --redis-ca / REDIS_CA_FILE; absent: Node's default trust store. */
  tlsCa?: string;
  /** Where tlsCa came from, for messages. */
  tlsCaFile?: string;
  /** Client certificate and key (PEM, from REDIS_TLS_CERT_FILE / REDIS_TLS_KEY_FILE), for servers that want one. */
  tlsCert?: string;
  tlsKey?: string;
  /** AUTH for the sentinels themselves (`requirepass` on the sentinels). */
  sentinelPassword?: string;
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
  /** `--redis-ca FILE`: the CA that signs the server certificate (wins over REDIS_CA_FILE). */
  ca?: string;
  /** `--redis-tls`: TLS to the sentinels and the master (Sentinel mode; a URL says it with rediss://). */
  tls?: boolean;
}

/** A Redis setting that cannot work (bad URL, unreadable secret or CA file, TLS files without TLS). */
export class RedisConfigError extends GeosteerError {
  constructor(message: string) {
    super('GS_ERR_REDIS_CONFIG', message);
    this.name = 'RedisConfigError';
  }
}

/** Reads a file named by a flag or variable; the error names the file and the reason, never the content. */
function readNamedFile(source: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new RedisConfigError(`${source}: cannot read "${file}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** NAME from the environment, else the content of the file named by NAME_FILE (one trailing newline dropped). */
function secretFrom(env: NodeJS.ProcessEnv, name: string): string | undefined {
  if (env[name]) return env[name];
  const file = env[`${name}_FILE`];
  if (!file) return undefined;
  const text = readNamedFile(`${name}_FILE`, file).replace(/\r?\n$/, '');
  if (!text) throw new RedisConfigError(`${name}_FILE: "${file}" is empty`);
  return text;
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['', '0', 'false', 'no', 'off'];

function envFlag(env: NodeJS.ProcessEnv, name: string): boolean {
  const v = (env[name] ?? '').toLowerCase();
  if (TRUE.includes(v)) return true;
  if (FALSE.includes(v)) return false;
  throw new RedisConfigError(`${name}: "${env[name]}" is not one of ${[...TRUE, ...FALSE.slice(1)].join(', ')}`);
}

/**
 * Reads the CA (and client certificate and key) once, at start: a reconnect
 * never touches the files again, and a bad file fails now rather than at
 * the first connection.
 */
function loadTls(input: RedisCliInput, env: NodeJS.ProcessEnv, o: RedisConnectionOptions): void {
  const caFrom = input.ca !== undefined ? '--redis-ca' : 'REDIS_CA_FILE';
  const caFile = input.ca ?? env.REDIS_CA_FILE;
  const certFile = env.REDIS_TLS_CERT_FILE;
  const keyFile = env.REDIS_TLS_KEY_FILE;
  const given = [caFile && caFrom, certFile && 'REDIS_TLS_CERT_FILE', keyFile && 'REDIS_TLS_KEY_FILE'].filter(Boolean);
  if (!o.tls) {
    // Silently ignoring them would send the password in clear to a server the operator meant to verify.
    if (given.length) throw new RedisConfigError(`${given.join(', ')} given, but the connection is not TLS: ${o.sentinels.length ? 'add --redis-tls (or REDIS_TLS=1)' : 'use a rediss:// URL'}`);
    return;
  }
  if (!certFile !== !keyFile) throw new RedisConfigError('REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together (client certificate and its key)');
  if (caFile) {
    o.tlsCa = readNamedFile(caFrom, caFile);
    o.tlsCaFile = caFile;
    if (!o.tlsCa.includes('-----BEGIN CERTIFICATE-----')) throw new RedisConfigError(`${caFrom}: "${caFile}" holds no PEM certificate`);
  }
  if (certFile && keyFile) {
    o.tlsCert = readNamedFile('REDIS_TLS_CERT_FILE', certFile);
    o.tlsKey = readNamedFile('REDIS_TLS_KEY_FILE', keyFile);
  }
  try {
    createSecureContext({ ca: o.tlsCa, cert: o.tlsCert, key: o.tlsKey });
  } catch (e) {
    throw new RedisConfigError(`TLS files (${given.join(', ')}) are not usable: ${(e as Error).message}`);
  }
}

/**
 * Builds connection options from `--redis redis[s]://[user:pass@]host:port/db`
 * (or REDIS_URL), or `--redis-sentinels h:p,h:p --redis-master NAME`.
 *
 * Precedence, first wins: flag, then URL, then environment variable, then a
 * file named by a variable.
 *   username  URL user, REDIS_USERNAME
 *   password  URL password, REDIS_PASSWORD, REDIS_PASSWORD_FILE (one trailing
 *             newline dropped), so it never has to sit on a command line
 *   TLS       rediss:// (or --redis-tls / REDIS_TLS=1 with sentinels);
 *             CA: --redis-ca, REDIS_CA_FILE; client certificate:
 *             REDIS_TLS_CERT_FILE + REDIS_TLS_KEY_FILE
 *   sentinel  REDIS_SENTINEL_PASSWORD, REDIS_SENTINEL_PASSWORD_FILE (the
 *             sentinels' own AUTH; the master gets username/password above)
 * Files are read here, once. Throws RedisConfigError (naming the setting and
 * the file, never a secret). Returns null when no Redis is configured
 * (embedded mode).
 */
export function redisOptionsFrom(input: RedisCliInput, env: NodeJS.ProcessEnv = process.env): RedisConnectionOptions | null {
  const url = input.redis ?? env.REDIS_URL;
  const sentinelText = input.sentinels ?? env.REDIS_SENTINELS;
  if (!url && !sentinelText) return null;
  const base: RedisConnectionOptions = {
    host: '127.0.0.1',
    port: 6379,
    db: 0,
    tls: false,
    sentinels: [],
    masterName: input.master ?? env.REDIS_MASTER ?? 'mymaster',
    prefix: input.prefix ?? env.GEOSTEER_REDIS_PREFIX ?? 'geosteer:',
    commandTimeoutMs: 1000,
  };
  const tlsWanted = input.tls || envFlag(env, 'REDIS_TLS');
  if (sentinelText) {
    base.sentinels = sentinelText.split(',').map((hp) => {
      const i = hp.lastIndexOf(':');
      const port = Number(hp.slice(i + 1));
      if (i < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new RedisConfigError(`--redis-sentinels: "${hp}" is not HOST:PORT`);
      return { host: hp.slice(0, i).replace(/^\[|\]$/g, ''), port };
    });
    if (!input.master && !env.REDIS_MASTER) throw new RedisConfigError('--redis-sentinels needs --redis-master NAME');
    base.tls = tlsWanted;
    base.sentinelPassword = secretFrom(env, 'REDIS_SENTINEL_PASSWORD');
  } else {
    let u: URL;
    try {
      u = new URL(url as string);
    } catch {
      // The text is not echoed: it may hold a password.
      throw new RedisConfigError('--redis: the value given is not a URL like redis://127.0.0.1:6379/0');
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new RedisConfigError(`--redis: scheme must be redis:// or rediss://, not ${u.protocol}`);
    base.host = u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1';
    base.port = u.port ? Number(u.port) : 6379;
    const dbText = u.pathname.length > 1 ? u.pathname.slice(1) : '0';
    // A non-numeric path would become NaN, which ioredis silently treats as db 0.
    if (!/^\d+$/.test(dbText)) throw new RedisConfigError(`--redis: database "${dbText}" is not a number (redis://HOST:PORT/DB)`);
    base.db = Number(dbText);
    if (u.username) base.username = decodeURIComponent(u.username);
    if (u.password) base.password = decodeURIComponent(u.password);
    base.tls = u.protocol === 'rediss:';
    if (tlsWanted && !base.tls) throw new RedisConfigError('--redis-tls / REDIS_TLS: the URL says redis://; use rediss:// for TLS');
  }
  base.username ??= env.REDIS_USERNAME || undefined;
  base.password ??= secretFrom(env, 'REDIS_PASSWORD');
  loadTls(input, env, base);
  return base;
}

/**
 * The one way to print where Redis is (logs, `status`, errors): host, port,
 * db, user name and TLS, never a password or key.
 */
export function describeRedis(o: RedisConnectionOptions): string {
  if (o.sentinels.length) return `sentinel ${o.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} master ${o.masterName}${o.username ? ` user ${o.username}` : ''}${o.tls ? ' (tls)' : ''}`;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return `${o.tls ? 'rediss' : 'redis'}://${o.username ? `${encodeURIComponent(o.username)}@` : ''}${host}:${o.port}/${o.db}`;
}
