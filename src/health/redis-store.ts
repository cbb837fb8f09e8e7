import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import Redis, { ReplyError, type RedisOptions } from 'ioredis';
import { RedisUnavailableError } from '../common/errors';
import { describeRedis } from './options';
import type { Drain, HealthSnapshot, InvalidEntry, PrimaryPointer, TablePart, Vote } from './model';
import type { RedisConnectionOptions } from './options';
import { StoreReplyError, type DrainRequest, type HealthStore } from './store';
import { epochProblem, parseDrain, parseMessage, parsePrimary, parseVote, typeProblem, type Checked } from './validate';

/**
 * The shared health table in Redis.
 *
 * Keys (PREFIX defaults to `geosteer:`):
 *   PREFIXvotes     hash  service|dc|prober -> Vote JSON
 *   PREFIXdrains    hash  service|dc        -> Drain JSON (service '*' = every service)
 *   PREFIXprimary   hash  service           -> PrimaryPointer JSON
 *   PREFIXleader    string holder id, with the lease as its TTL
 *   PREFIXepoch     counter, +1 each time the lease changes hands (fencing)
 *   PREFIXaudit     list of JSON audit entries (newest first, 1000 kept)
 *   PREFIXevents    pub/sub channel: {"t":"vote"|"drain"|"undrain"|"primary","d":...}
 *
 * Every write is one Lua script that stamps Redis TIME, stores and publishes
 * atomically, so a subscriber never sees a change the table does not have.
 * Reads trust nothing: a key of the wrong type, a value that is not JSON, is
 * too large, has a bad field or is stamped in the future is skipped and
 * reported (`invalid` in the snapshot, the 'invalid' event for messages), and
 * everything else applies (validate.ts).
 * Commands fail fast while Redis is unreachable (no offline queue, 1 s command
 * timeout): callers keep their last state instead of waiting.
 */

const VOTE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = cjson.decode(ARGV[2])
v['at'] = now
local s = cjson.encode(v)
redis.call('HSET', KEYS[1], ARGV[1], s)
redis.call('PUBLISH', ARGV[3], '{"t":"vote","d":' .. s .. '}')
return now`;

const DRAIN = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local d = cjson.decode(ARGV[2])
d['at'] = now
d['until'] = now + tonumber(ARGV[4])
local s = cjson.encode(d)
redis.call('HSET', KEYS[1], ARGV[1], s)
redis.call('PUBLISH', ARGV[3], '{"t":"drain","d":' .. s .. '}')
return now`;

// Published even when the table had no such drain: a serve may still hold it from before Redis lost its data.
const UNDRAIN = `
local n = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[3], '{"t":"undrain","d":' .. ARGV[2] .. '}')
return n`;

const PRIMARY = `
if ARGV[4] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[4] then return 0 end
  if tonumber(redis.call('GET', KEYS[3]) or '0') ~= tonumber(ARGV[5]) then return 0 end
end
local t = redis.call('TIME')
local p = cjson.decode(ARGV[2])
p['at'] = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = cjson.encode(p)
redis.call('HSET', KEYS[1], ARGV[1], s)
redis.call('PUBLISH', ARGV[3], '{"t":"primary","d":' .. s .. '}')
return 1`;

const LEASE = `
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if cur then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`;

// KEYS: drains, primary, epoch, audit. ARGV: {drains, primaries, epoch, audit} JSON, '1' = dry run, events channel.
// Fenced: an expired drain is never written back, nor one the table holds in a newer version; a
// pointer only where the table has none written later and none of a newer epoch; the epoch only goes up.
const RESTORE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local doc = cjson.decode(ARGV[1])
local dry = ARGV[2] == '1'
local out = {}
local function current(key, field)
  local v = redis.call('HGET', key, field)
  if not v then return nil end
  local ok, c = pcall(cjson.decode, v)
  if ok and type(c) == 'table' then return c end
  return nil
end
for _, d in ipairs(doc['drains']) do
  local f = d['service'] .. '|' .. d['dc']
  local r = 'write'
  local c = current(KEYS[1], f)
  if d['until'] <= now then r = 'skip: expired'
  elseif c and type(c['at']) == 'number' and c['at'] >= d['at'] then r = 'skip: the table holds it or a newer one' end
  if r == 'write' and not dry then
    local s = cjson.encode(d)
    redis.call('HSET', KEYS[1], f, s)
    redis.call('PUBLISH', ARGV[3], '{"t":"drain","d":' .. s .. '}')
  end
  table.insert(out, {'drain', f, r})
end
for _, p in ipairs(doc['primaries']) do
  local r = 'write'
  local c = current(KEYS[2], p['service'])
  if c and type(c['at']) == 'number' and c['at'] >= p['at'] then
    r = 'skip: the table holds a pointer written as late or later (' .. tostring(c['dc']) .. ')'
  elseif c and type(c['epoch']) == 'number' and c['epoch'] > p['epoch'] then
    r = 'skip: the table holds a pointer of a newer epoch (' .. c['epoch'] .. ')'
  end
  if r == 'write' and not dry then
    local s = cjson.encode(p)
    redis.call('HSET', KEYS[2], p['service'], s)
    redis.call('PUBLISH', ARGV[3], '{"t":"primary","d":' .. s .. '}')
  end
  table.insert(out, {'primary', p['service'], r})
end
local e = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if doc['epoch'] > e then
  if not dry then redis.call('SET', KEYS[3], tostring(doc['epoch'])) end
  table.insert(out, {'epoch', tostring(doc['epoch']), 'write'})
elseif doc['epoch'] > 0 then
  table.insert(out, {'epoch', tostring(doc['epoch']), 'skip: the table is at epoch ' .. e})
end
if #doc['audit'] > 0 then
  if redis.call('LLEN', KEYS[4]) == 0 then
    if not dry then for _, a in ipairs(doc['audit']) do redis.call('RPUSH', KEYS[4], cjson.encode(a)) end end
    table.insert(out, {'audit', tostring(#doc['audit']) .. ' entries', 'write'})
  else
    table.insert(out, {'audit', tostring(#doc['audit']) .. ' entries', 'skip: the table has its own'})
  end
end
return cjson.encode(out)`;

/**
 * tls.connect options from the PEM read at start. The server name is the
 * host from the URL (Node checks the certificate against it); an IP address
 * is checked against the IP SANs, and is not sent as SNI (RFC 6066).
 */
function tlsOptions(o: RedisConnectionOptions, host: string | null): ConnectionOptions {
  const t: ConnectionOptions = {};
  if (o.tlsCa) t.ca = o.tlsCa;
  if (o.tlsCert && o.tlsKey) Object.assign(t, { cert: o.tlsCert, key: o.tlsKey });
  if (host && !isIP(host)) t.servername = host;
  return t;
}

export function redisOptions(o: RedisConnectionOptions): RedisOptions {
  const common: RedisOptions = {
    protocol: 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: 2000,
    // Reconnect quickly and keep trying: the mirror must converge within ~2 s of Redis returning.
    retryStrategy: (times: number) => Math.min(50 * times, 500),
    username: o.username,
    password: o.password,
    lazyConnect: false,
  };
  if (o.sentinels.length) {
    // Sentinel hands out the master's address, so no fixed server name: each host is checked as itself.
    const tls = o.tls ? tlsOptions(o, null) : undefined;
    return {
      ...common,
      sentinels: o.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: o.masterName,
      sentinelPassword: o.sentinelPassword,
      // One TLS setting for both hops: the sentinels and the master they point to.
      tls,
      sentinelTLS: tls,
      enableTLSForSentinelMode: o.tls,
      sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
      // A frozen sentinel accepts the TCP connection but never answers: without this the
      // master lookup waits on it forever instead of asking the next sentinel.
      sentinelCommandTimeout: o.commandTimeoutMs,
      // After a failover the old master demotes itself; reconnect to the new one.
      reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
      // A master that is frozen or cut off (not dead) keeps our sockets open, so
      // nothing above ever fires: follow the sentinels' +switch-master instead.
      failoverDetector: true,
    };
  }
  return { ...common, host: o.host, port: o.port, db: o.db, tls: o.tls ? tlsOptions(o, o.host) : undefined };
}

const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A connection error as it may be shown: the message plus what to check.
 * Always a fresh Error: ioredis hangs the failed command on its errors, and
 * for AUTH that command's arguments are the username and password.
 */
export function connectionError(err: Error, o: RedisConnectionOptions): Error {
  const code = (err as NodeJS.ErrnoException).code;
  let hint = '';
  if (code && UNTRUSTED.has(code)) {
    hint = o.tlsCaFile
      ? `the server certificate is not signed by the CA in ${o.tlsCaFile}`
      : 'the server certificate is not signed by a trusted CA: give its CA with --redis-ca FILE or REDIS_CA_FILE';
  } else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') hint = 'the server certificate is not valid for this host name or IP';
  else if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') hint = 'the server certificate is outside its validity dates';
  else if (/\b(WRONGPASS|NOAUTH)\b/.test(err.message)) {
    hint = o.sentinels.length
      ? 'check the passwords: REDIS_USERNAME and REDIS_PASSWORD[_FILE] for the master, REDIS_SENTINEL_PASSWORD[_FILE] for the sentinels'
      : 'check the username and password: URL, REDIS_USERNAME, REDIS_PASSWORD or REDIS_PASSWORD_FILE';
  } else if (/\bNOPERM\b/.test(err.message)) hint = 'the Redis user lacks a permission geosteer needs: keys ~PREFIX*, channels &PREFIX* and the commands it runs (+@all is simplest)';
  else if (o.tls && (code === 'ECONNRESET' || code?.startsWith('ERR_SSL_') || /before secure TLS connection/i.test(err.message))) {
    hint = 'TLS handshake failed: is this the server\'s tls-port, and does it want a client certificate (REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)?';
  } else if (code === 'ECONNRESET') hint = 'the server dropped the connection: if this port speaks TLS, use rediss://';
  const e = new Error(hint ? `${err.message} (${hint})` : err.message);
  if (code) (e as NodeJS.ErrnoException).code = code;
  return e;
}

function parseJson<T>(text: string, check: (v: T) => boolean): T | null {
  try {
    const v = JSON.parse(text) as T;
    return v && typeof v === 'object' && check(v) ? v : null;
  } catch {
    return null;
  }
}

const isWrongType = (err: Error): boolean => err instanceof ReplyError && /^WRONGTYPE/.test(err.message);

/** The Redis type each key must have (a missing key is fine). */
const KEY_TYPES: Array<[TablePart, string]> = [
  ['votes', 'hash'],
  ['drains', 'hash'],
  ['primary', 'hash'],
  ['leader', 'string'],
  ['epoch', 'string'],
  ['audit', 'list'],
];

/**
 * Resolves once CLIENT says 'ready' (at once when it is); rejects with
 * RedisUnavailableError naming WHERE and the last connection error after `timeoutMs`.
 */
export function waitForReady(client: EventEmitter & { readonly ready: boolean }, where: string, lastError: () => Error | null, timeoutMs: number): Promise<void> {
  if (client.ready) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      client.off('ready', ok);
      const err = lastError();
      reject(new RedisUnavailableError(`Redis at ${where} did not answer within ${timeoutMs} ms${err ? `: ${err.message}` : ''}`));
    }, timeoutMs);
    const ok = (): void => {
      clearTimeout(t);
      resolve();
    };
    client.once('ready', ok);
  });
}

/** One item of a restore: what (drain, primary, epoch, audit, map), its key, and 'write' or 'skip: why'. */
export interface RestoreLine {
  what: string;
  key: string;
  result: string;
}

/** A restore script's reply: a JSON list of [what, key, result] (cjson encodes an empty list as {}). */
export function restoreLines(reply: string): RestoreLine[] {
  const parsed = JSON.parse(reply) as unknown;
  const list = Array.isArray(parsed) ? (parsed as unknown[]) : [];
  return list.filter(Array.isArray).map((x) => ({ what: String(x[0]), key: String(x[1]), result: String(x[2]) }));
}

export class RedisStore extends EventEmitter implements HealthStore {
  readonly kind = 'redis' as const;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly k: Record<TablePart | 'incarnation', string>;
  private connected = false;
  private closed = false;
  /** Ready at least once (before that, the first connection error is reported: it may never get better). */
  private everReady = false;
  private toldUnready = false;
  /** The last connection error, already stripped of secrets, for whenReady's message. */
  private lastError: Error | null = null;
  /** Redis TIME minus the local clock at the last read, to judge the `at` of messages. */
  private clockOffset = 0;

  get ready(): boolean {
    return this.connected;
  }

  get connectionError(): Error | null {
    return this.lastError;
  }

  private readonly where: string;

  constructor(private readonly options: RedisConnectionOptions) {
    super();
    this.where = describeRedis(options);
    const p = options.prefix;
    this.k = { votes: `${p}votes`, drains: `${p}drains`, primary: `${p}primary`, leader: `${p}leader`, epoch: `${p}epoch`, audit: `${p}audit`, events: `${p}events`, incarnation: `${p}incarnation` };
    const ro = redisOptions(options);
    this.cmd = new Redis(ro);
    // The subscriber queues its SUBSCRIBE until connected and resubscribes itself after reconnects.
    this.sub = new Redis({ ...ro, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    for (const c of [this.cmd, this.sub]) {
      c.on('error', (err: Error) => this.onError(err));
      c.on('close', () => this.markDown(new Error('connection closed')));
      // ioredis gives a Sentinel client up for good ('end') when a +switch-master notice
      // lands while it is still asking the sentinels for the master: start it again.
      c.on('end', () => setTimeout(() => !this.closed && c.status === 'end' && c.connect().catch(() => undefined), 100).unref());
    }
    this.sub.on('message', (_ch: string, msg: string) => this.onMessage(msg));
    this.sub.on('ready', () => void this.onSubReady());
    this.cmd.on('ready', () => void this.onSubReady());
  }

  /** Resolves once connected and subscribed; rejects with RedisUnavailableError after `timeoutMs`. */
  whenReady(timeoutMs = 3000): Promise<void> {
    return waitForReady(this, this.where, () => this.lastError, timeoutMs);
  }

  private onError(raw: Error): void {
    const err = connectionError(raw, this.options);
    this.lastError = err;
    // A wrong password or an untrusted certificate fails every retry before the
    // first ready, so nothing else would ever say why: tell once.
    if (!this.everReady && !this.toldUnready) {
      this.toldUnready = true;
      this.emit('down', err);
      return;
    }
    this.markDown(err);
  }

  private markDown(err: Error): void {
    if (!this.connected) return;
    this.connected = false;
    this.emit('down', err);
  }

  private async onSubReady(): Promise<void> {
    if (this.cmd.status !== 'ready' || this.sub.status !== 'ready') return;
    try {
      await this.sub.subscribe(this.k.events); // idempotent; guarantees we are subscribed before the resync
    } catch (err) {
      // An ACL user without the channel (Redis 7 users get no channels by default) lands here.
      this.onError(err as Error);
      return;
    }
    this.connected = true;
    this.everReady = true;
    this.lastError = null;
    this.emit('ready');
  }

  /** A message of the events channel: applied when well-formed, else reported and dropped (never thrown). */
  private onMessage(msg: string): void {
    const m = parseMessage(String(msg), Date.now() + this.clockOffset);
    if (!m.ok) {
      const e: InvalidEntry = { key: this.k.events, part: 'events', field: null, kind: m.kind, reason: m.reason };
      this.emit('invalid', e);
      return;
    }
    this.emit(m.value.t, m.value.d);
  }

  /**
   * One transaction: each key's type, the three hashes, the epoch and Redis
   * TIME. A key of the wrong type fails only its own HGETALL (Redis runs the
   * rest of a MULTI), so it is reported and the others still apply; each
   * hash value is checked on its own.
   */
  async loadAll(): Promise<HealthSnapshot> {
    const k = this.k;
    let reply: Array<[Error | null, unknown]> | null;
    try {
      const m = this.cmd.multi().time();
      for (const [part] of KEY_TYPES) m.type(k[part]);
      // The incarnation marker is created by the first read of a data set and lost with it:
      // a reader that saw another one before knows the table was replaced (Redis restarted
      // empty, FLUSHALL), even when probers and operators have written to it since.
      m.hgetall(k.votes).hgetall(k.drains).hgetall(k.primary).get(k.epoch);
      reply = await m.set(k.incarnation, randomBytes(8).toString('hex'), 'NX').get(k.incarnation).exec();
    } catch (err) {
      throw err instanceof ReplyError ? new StoreReplyError((err as Error).message) : err;
    }
    if (!reply) throw new Error('transaction aborted');
    const res = reply;
    const [timeErr, time] = res[0];
    if (timeErr) throw timeErr instanceof ReplyError ? new StoreReplyError(timeErr.message) : timeErr;
    const [sec, usec] = time as [string, string];
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    this.clockOffset = now - Date.now();

    const invalid: InvalidEntry[] = [];
    const types = new Map<TablePart, string>();
    KEY_TYPES.forEach(([part, want], i) => {
      const [err, type] = res[1 + i];
      if (err) throw new StoreReplyError(err.message);
      types.set(part, String(type));
      const why = typeProblem(String(type), want);
      if (why) invalid.push({ key: k[part], part, field: null, kind: 'wrong-type', reason: why });
    });
    const at = 1 + KEY_TYPES.length;
    const hash = (i: number, part: TablePart): Record<string, string> => {
      const [err, v] = res[at + i];
      if (!err) return (v ?? {}) as Record<string, string>;
      // WRONGTYPE is already reported from TYPE; anything else is Redis refusing the read.
      if (isWrongType(err) && types.get(part) !== 'hash') return {};
      throw new StoreReplyError(err.message);
    };
    const read = <T>(i: number, part: TablePart, parse: (text: string, now: number) => Checked<T>): T[] => {
      const out: T[] = [];
      for (const [field, text] of Object.entries(hash(i, part))) {
        const r = parse(text, now);
        if (r.ok) out.push(r.value);
        else invalid.push({ key: k[part], part, field, kind: r.kind, reason: r.reason });
      }
      return out;
    };
    const votes = read(0, 'votes', parseVote);
    const drains = read(1, 'drains', parseDrain);
    const primaries = read(2, 'primary', parsePrimary);
    const [, epoch] = res[at + 3];
    const epochWhy = types.get('epoch') === 'string' ? epochProblem(epoch as string | null) : null;
    if (epochWhy) invalid.push({ key: k.epoch, part: 'epoch', field: null, kind: 'bad-shape', reason: epochWhy });
    const keys = [...KEY_TYPES.map(([part]) => ({ key: k[part], part })), { key: k.events, part: 'events' as const }];
    const [incErr, inc] = res[at + 5];
    const incarnation = !incErr && typeof inc === 'string' ? inc : undefined;
    return { votes, drains, primaries, now, invalid, keys, incarnation };
  }

  async writeVote(v: Omit<Vote, 'at'>): Promise<void> {
    const field = `${v.service}|${v.dc}|${v.prober}`;
    await this.cmd.eval(VOTE, 1, this.k.votes, field, JSON.stringify(v), this.k.events);
  }

  async setDrain(d: DrainRequest): Promise<void> {
    const body = { dc: d.dc, service: d.service, reason: d.reason, by: d.by };
    await this.cmd.eval(DRAIN, 1, this.k.drains, `${d.service}|${d.dc}`, JSON.stringify(body), this.k.events, String(d.forMs));
  }

  async clearDrain(service: string, dc: string): Promise<boolean> {
    const r = await this.cmd.eval(UNDRAIN, 1, this.k.drains, `${service}|${dc}`, JSON.stringify({ service, dc }), this.k.events);
    return r === 1;
  }

  async setPrimary(p: Omit<PrimaryPointer, 'at'>, fence?: { holder: string; epoch: number }): Promise<boolean> {
    const r = await this.cmd.eval(
      PRIMARY,
      3,
      this.k.primary,
      this.k.leader,
      this.k.epoch,
      p.service,
      JSON.stringify(p),
      this.k.events,
      fence ? fence.holder : '',
      fence ? String(fence.epoch) : '0',
    );
    return r === 1;
  }

  async acquireLease(holder: string, ttlMs: number): Promise<number | null> {
    const r = (await this.cmd.eval(LEASE, 2, this.k.leader, this.k.epoch, holder, String(ttlMs))) as number;
    return r < 0 ? null : r;
  }

  async releaseLease(holder: string): Promise<void> {
    await this.cmd.eval(RELEASE, 1, this.k.leader, holder);
  }

  async audit(entry: Record<string, unknown>): Promise<void> {
    const now = await this.now();
    await this.cmd.multi().lpush(this.k.audit, JSON.stringify({ ...entry, at: now })).ltrim(this.k.audit, 0, 999).exec();
  }

  async now(): Promise<number> {
    const [sec, usec] = await this.cmd.time();
    const now = Number(sec) * 1000 + Math.floor(Number(usec) / 1000);
    this.clockOffset = now - Date.now();
    return now;
  }

  /** Recent audit entries, newest first. */
  async auditLog(limit = 20): Promise<Array<Record<string, unknown>>> {
    // A key of the wrong type reads as empty here; loadAll reports it.
    const rows = await this.cmd.lrange(this.k.audit, 0, limit - 1).catch((err: Error) => (isWrongType(err) ? [] : Promise.reject(err)));
    return rows.map((r) => parseJson<Record<string, unknown>>(r, () => true)).filter((r): r is Record<string, unknown> => r !== null);
  }

  /**
   * Writes drains, pointers, the epoch and the audit list back (state import,
   * recover), fenced as RESTORE says, in one script; with `dryRun` only says
   * what it would write. One line per item: [what, key, 'write' | 'skip: why'].
   */
  async restore(doc: { drains: Drain[]; primaries: PrimaryPointer[]; epoch: number; audit: Array<Record<string, unknown>> }, dryRun: boolean): Promise<RestoreLine[]> {
    const k = this.k;
    const r = (await this.cmd.eval(RESTORE, 4, k.drains, k.primary, k.epoch, k.audit, JSON.stringify(doc), dryRun ? '1' : '0', k.events)) as string;
    return restoreLines(r);
  }

  /** Who holds the leader lease now, and at which epoch (for `status`). */
  async leader(): Promise<{ holder: string | null; epoch: number }> {
    // Keys of the wrong type read as no holder / epoch 0 here; loadAll reports them.
    const get = (key: string): Promise<string | null> => this.cmd.get(key).catch((err: Error) => (isWrongType(err) ? null : Promise.reject(err)));
    const [holder, epoch] = await Promise.all([get(this.k.leader), get(this.k.epoch)]);
    return { holder, epoch: Number(epoch ?? 0) || 0 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.removeAllListeners();
    this.cmd.disconnect();
    this.sub.disconnect();
  }
}
