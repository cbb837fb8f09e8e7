import { EventEmitter } from 'node:events';
import Redis from 'ioredis';
import type { FleetHost, FleetHostInput, MapBundle, MapVersionInfo, PublishedMap } from './fleet-model';
import { describeRedis, type RedisConnectionOptions } from './options';
import { connectionError, redisOptions, restoreLines, waitForReady, type RestoreLine } from './redis-store';

/**
 * Published maps and the registry of NS hosts, in the same Redis as the
 * health table (same prefix, same connection options).
 *
 * Keys (PREFIX defaults to `geosteer:`):
 *   PREFIXmap:N         string  MapBundle JSON of version N (immutable once written)
 *   PREFIXmap:versions  hash    N -> MapVersionInfo JSON (who, when, why, hash, size)
 *   PREFIXmap:current   string  the version every `serve --redis` without --config runs
 *   PREFIXmap:seq       counter the last version number handed out
 *   PREFIXmap:events    pub/sub {"version":N,"hash":H} each time current changes
 *   PREFIXhosts         hash    serve id -> FleetHost JSON, refreshed every few seconds
 *   PREFIXaudit         list    publish and rollback entries join drain/promote ones
 *
 * Publish and rollback are one Lua script each: store, move current, audit and
 * notify atomically, so a host never sees a current version that is not stored.
 * What is read back is checked, never trusted: a bundle or entry of the wrong
 * shape is an error (bundles) or skipped and reported (hosts).
 */

const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: seq, versions, current, audit. ARGV: bundle, meta, keep, content prefix, channel, hash.
const PUBLISH = `${NOW}
local cur = redis.call('GET', KEYS[3])
if cur then
  local m = redis.call('HGET', KEYS[2], cur)
  if m then
    local ok, old = pcall(cjson.decode, m)
    if ok and type(old) == 'table' and old['hash'] == ARGV[6] then return {tonumber(cur), 0} end
  end
end
local n = redis.call('INCR', KEYS[1])
local meta = cjson.decode(ARGV[2])
meta['version'] = n
meta['at'] = now
redis.call('SET', ARGV[4] .. n, ARGV[1])
redis.call('HSET', KEYS[2], tostring(n), cjson.encode(meta))
redis.call('SET', KEYS[3], tostring(n))
local keep = tonumber(ARGV[3])
for _, v in ipairs(redis.call('HKEYS', KEYS[2])) do
  local x = tonumber(v)
  if x == nil or x <= n - keep then
    redis.call('HDEL', KEYS[2], v)
    redis.call('DEL', ARGV[4] .. v)
  end
end
redis.call('LPUSH', KEYS[4], cjson.encode({action = 'publish', version = n, previous = cur and tonumber(cur) or cjson.null, hash = ARGV[6], by = meta['by'], reason = meta['reason'], at = now}))
redis.call('LTRIM', KEYS[4], 0, 999)
redis.call('PUBLISH', ARGV[5], cjson.encode({version = n, hash = ARGV[6]}))
return {n, 1}`;

// KEYS: versions, current, audit. ARGV: version, expected current ('' = any), by, reason, channel.
const ROLLBACK = `${NOW}
local m = redis.call('HGET', KEYS[1], ARGV[1])
if not m then return {-1, 0} end
local cur = redis.call('GET', KEYS[2]) or ''
if ARGV[2] ~= '' and cur ~= ARGV[2] then return {-2, tonumber(cur) or 0} end
local meta = cjson.decode(m)
redis.call('SET', KEYS[2], ARGV[1])
redis.call('LPUSH', KEYS[3], cjson.encode({action = 'rollback', version = tonumber(ARGV[1]), previous = tonumber(cur) or cjson.null, hash = meta['hash'], by = ARGV[3], reason = ARGV[4], at = now}))
redis.call('LTRIM', KEYS[3], 0, 999)
redis.call('PUBLISH', ARGV[5], cjson.encode({version = tonumber(ARGV[1]), hash = meta['hash']}))
return {tonumber(ARGV[1]), tonumber(cur) or 0}`;

// KEYS: hosts. ARGV: id, entry JSON, forget after (ms past expiry).
const REGISTER = `${NOW}
local h = cjson.decode(ARGV[2])
h['lastSeen'] = now
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(h))
local forget = tonumber(ARGV[3])
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, e = pcall(cjson.decode, all[i + 1])
  if ok and type(e) == 'table' and type(e['lastSeen']) == 'number' and type(e['ttlMs']) == 'number' and e['lastSeen'] + e['ttlMs'] + forget < now then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return now`;

// KEYS: seq, versions, current. ARGV: dry run '1', content prefix, channel, current version ('' none), then version/info/bundle triples.
// Never overwrites a stored version or a current pointer: it only fills what an empty Redis lacks.
const RESTORE_MAPS = `
local dry = ARGV[1] == '1'
local out = {}
local top = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local have = {}
local i = 5
while ARGV[i] do
  local n = ARGV[i]
  have[n] = true
  if redis.call('HEXISTS', KEYS[2], n) == 1 then
    table.insert(out, {'map', n, 'skip: stored'})
  else
    if not dry then
      redis.call('SET', ARGV[2] .. n, ARGV[i + 2])
      redis.call('HSET', KEYS[2], n, ARGV[i + 1])
    end
    table.insert(out, {'map', n, 'write'})
  end
  if tonumber(n) > top then top = tonumber(n) end
  i = i + 3
end
if not dry then redis.call('SET', KEYS[1], tostring(math.max(top, tonumber(redis.call('GET', KEYS[1]) or '0') or 0))) end
if ARGV[4] ~= '' then
  local cur = redis.call('GET', KEYS[3])
  if cur then table.insert(out, {'map current', ARGV[4], 'skip: Redis has current = ' .. cur})
  elseif not have[ARGV[4]] and redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 then table.insert(out, {'map current', ARGV[4], 'skip: that version is in no source'})
  else
    if not dry then
      redis.call('SET', KEYS[3], ARGV[4])
      redis.call('PUBLISH', ARGV[3], cjson.encode({version = tonumber(ARGV[4]), hash = cjson.decode(redis.call('HGET', KEYS[2], ARGV[4]))['hash']}))
    end
    table.insert(out, {'map current', ARGV[4], 'write'})
  end
end
return cjson.encode(out)`;

/** Versions kept in Redis by default (older ones are deleted on publish). */
export const DEFAULT_KEEP_VERSIONS = 20;
/** A host gone this long past its expiry is dropped from the registry (until then it shows as gone). */
const FORGET_AFTER_MS = 3600_000;

/** The replies of a MULTI, throwing the first command error (a key of the wrong type: WRONGTYPE with its name). */
function replies(res: Array<[Error | null, unknown]> | null): unknown[] {
  if (!res) throw new Error('transaction aborted');
  for (const [err] of res) if (err) throw err;
  return res.map(([, v]) => v);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A stored version's info (`map:versions` field), or null when it is not one. */
export function parseVersionInfo(text: string): MapVersionInfo | null {
  try {
    const v = JSON.parse(text) as unknown;
    if (!isObj(v) || !Number.isInteger(v.version) || typeof v.hash !== 'string' || typeof v.at !== 'number') return null;
    return {
      version: v.version as number,
      hash: v.hash,
      by: typeof v.by === 'string' ? v.by : '',
      reason: typeof v.reason === 'string' ? v.reason : '',
      at: v.at,
      bytes: typeof v.bytes === 'number' ? v.bytes : 0,
      files: typeof v.files === 'number' ? v.files : 0,
    };
  } catch {
    return null;
  }
}

/** A stored bundle, checked field by field; the reason when it is not one. */
export function parseBundle(text: string): MapBundle | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (!isObj(v)) return 'not a JSON object';
  if (typeof v.path !== 'string' || typeof v.text !== 'string' || typeof v.hash !== 'string') return 'path, text or hash missing or not a string';
  if (!isObj(v.files) || !Object.values(v.files).every((t) => typeof t === 'string')) return '"files" is not an object of texts';
  return { path: v.path, text: v.text, files: v.files as Record<string, string>, hash: v.hash };
}

function parseHost(text: string): FleetHost | null {
  try {
    const v = JSON.parse(text) as Record<string, unknown>;
    if (!isObj(v) || typeof v.id !== 'string' || typeof v.lastSeen !== 'number' || typeof v.ttlMs !== 'number') return null;
    const err = isObj(v.mapError) && typeof v.mapError.message === 'string' ? { version: Number(v.mapError.version) || 0, message: v.mapError.message } : null;
    return {
      id: v.id,
      addresses: Array.isArray(v.addresses) ? v.addresses.filter((a): a is string => typeof a === 'string') : [],
      admin: typeof v.admin === 'string' ? v.admin : null,
      mapSource: v.mapSource === 'published' ? 'published' : 'file',
      mapVersion: Number.isInteger(v.mapVersion) ? (v.mapVersion as number) : null,
      mapHash: typeof v.mapHash === 'string' ? v.mapHash : '',
      geoip: typeof v.geoip === 'string' ? v.geoip : '',
      ready: v.ready === true,
      mapError: err,
      behindMs: typeof v.behindMs === 'number' ? v.behindMs : 0,
      pid: typeof v.pid === 'number' ? v.pid : 0,
      startedAt: typeof v.startedAt === 'number' ? v.startedAt : 0,
      lastSeen: v.lastSeen,
      ttlMs: v.ttlMs,
    };
  } catch {
    return null;
  }
}

export interface FleetStoreOptions {
  /** Subscribe to map changes ('map' events); commands that only read or write leave it off. @default false */
  subscribe?: boolean;
}

/**
 * Events: 'map' ({version, hash}: current changed), 'ready' (connected, and
 * subscribed when asked: time to re-read current), 'down' (Error).
 */
export class FleetStore extends EventEmitter {
  private readonly cmd: Redis;
  private readonly sub: Redis | null;
  private readonly k: { seq: string; versions: string; current: string; content: string; events: string; hosts: string; audit: string };
  private readonly where: string;
  private connected = false;
  private lastError: Error | null = null;

  constructor(
    private readonly options: RedisConnectionOptions,
    opts: FleetStoreOptions = {},
  ) {
    super();
    this.where = describeRedis(options);
    const p = options.prefix;
    this.k = { seq: `${p}map:seq`, versions: `${p}map:versions`, current: `${p}map:current`, content: `${p}map:`, events: `${p}map:events`, hosts: `${p}hosts`, audit: `${p}audit` };
    const ro = redisOptions(options);
    this.cmd = new Redis(ro);
    this.sub = opts.subscribe ? new Redis({ ...ro, enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined }) : null;
    for (const c of [this.cmd, this.sub]) {
      if (!c) continue;
      c.on('error', (err: Error) => this.markDown(connectionError(err, options)));
      c.on('close', () => this.markDown(new Error('connection closed')));
      c.on('ready', () => void this.onReady());
    }
    this.sub?.on('message', (_ch: string, msg: string) => this.onMessage(String(msg)));
  }

  get ready(): boolean {
    return this.connected;
  }

  private markDown(err: Error): void {
    this.lastError = err;
    if (!this.connected) return;
    this.connected = false;
    this.emit('down', err);
  }

  private async onReady(): Promise<void> {
    if (this.cmd.status !== 'ready' || (this.sub && this.sub.status !== 'ready')) return;
    try {
      await this.sub?.subscribe(this.k.events);
    } catch (err) {
      this.markDown(connectionError(err as Error, this.options));
      return;
    }
    this.connected = true;
    this.lastError = null;
    this.emit('ready');
  }

  private onMessage(msg: string): void {
    try {
      const m = JSON.parse(msg) as unknown;
      if (isObj(m) && Number.isInteger(m.version) && typeof m.hash === 'string') this.emit('map', { version: m.version, hash: m.hash });
    } catch {
      // A malformed notice is dropped: the periodic re-read of current catches up anyway.
    }
  }

  /** Resolves once connected; rejects with RedisUnavailableError after `timeoutMs`. */
  whenReady(timeoutMs = 3000): Promise<void> {
    return waitForReady(this, this.where, () => this.lastError, timeoutMs);
  }

  /**
   * Stores BUNDLE as a new version and makes it current, keeping the last
   * `keep`. Publishing what is already current stores nothing (created: false).
   */
  async publish(bundle: MapBundle, meta: { by: string; reason: string }, keep = DEFAULT_KEEP_VERSIONS): Promise<{ version: number; created: boolean }> {
    const body = JSON.stringify(bundle);
    const info = { hash: bundle.hash, by: meta.by, reason: meta.reason, bytes: Buffer.byteLength(body), files: Object.keys(bundle.files).length };
    const k = this.k;
    const [version, created] = (await this.cmd.eval(PUBLISH, 4, k.seq, k.versions, k.current, k.audit, body, JSON.stringify(info), String(keep), k.content, k.events, bundle.hash)) as [number, number];
    return { version, created: created === 1 };
  }

  /**
   * Makes VERSION current again. With `expect`, only if current is still that
   * version (so two operators cannot roll past each other unseen).
   */
  async rollback(version: number, meta: { by: string; reason: string }, expect?: number | null): Promise<{ version: number; previous: number | null }> {
    const k = this.k;
    const [v, prev] = (await this.cmd.eval(ROLLBACK, 3, k.versions, k.current, k.audit, String(version), expect == null ? '' : String(expect), meta.by, meta.reason, k.events)) as [number, number];
    if (v === -1) throw new Error(`version ${version} is not stored (geosteer history lists the versions kept)`);
    if (v === -2) throw new Error(`current changed to version ${prev} meanwhile; look at geosteer history and try again`);
    return { version: v, previous: prev || null };
  }

  /** The current version number, or null when nothing was published. */
  async currentVersion(): Promise<number | null> {
    const v = await this.cmd.get(this.k.current);
    const n = v === null ? NaN : Number(v);
    return Number.isInteger(n) && n > 0 ? n : null;
  }

  /** Every kept version, newest first, and which one is current. */
  async history(): Promise<{ current: number | null; versions: MapVersionInfo[] }> {
    const [cur, all] = replies(await this.cmd.multi().get(this.k.current).hgetall(this.k.versions).exec()) as [string | null, Record<string, string>];
    const versions = Object.values(all ?? {})
      .map(parseVersionInfo)
      .filter((v): v is MapVersionInfo => v !== null)
      .sort((a, b) => b.version - a.version);
    const n = cur === null ? NaN : Number(cur);
    return { current: Number.isInteger(n) && n > 0 ? n : null, versions };
  }

  /** One version with its content; null when it is not stored. Throws when it is stored but unreadable. */
  async get(version: number): Promise<PublishedMap | null> {
    const [meta, body] = replies(await this.cmd.multi().hget(this.k.versions, String(version)).get(`${this.k.content}${version}`).exec()) as [string | null, string | null];
    if (meta === null || body === null) return null;
    const info = parseVersionInfo(meta);
    if (!info) throw new Error(`${this.k.versions} field ${version} is not a version entry`);
    const bundle = parseBundle(body);
    if (typeof bundle === 'string') throw new Error(`${this.k.content}${version} is not a published map: ${bundle}`);
    return { ...info, bundle };
  }

  /** The current version with its content, or null when nothing was published. */
  async current(): Promise<PublishedMap | null> {
    const v = await this.currentVersion();
    return v === null ? null : this.get(v);
  }

  /**
   * Puts stored versions back (state import, recover) and makes `current`
   * current if Redis has none; never overwrites a stored version or pointer.
   */
  async restoreMaps(versions: PublishedMap[], current: number | null, dryRun: boolean): Promise<RestoreLine[]> {
    const k = this.k;
    const args: string[] = [];
    for (const { bundle, ...info } of versions) args.push(String(info.version), JSON.stringify(info), JSON.stringify(bundle));
    const r = (await this.cmd.eval(RESTORE_MAPS, 3, k.seq, k.versions, k.current, dryRun ? '1' : '0', k.content, k.events, current === null ? '' : String(current), ...args)) as string;
    return restoreLines(r);
  }

  /** Registers (or refreshes) one host; the store stamps lastSeen. */
  async register(host: FleetHostInput): Promise<void> {
    await this.cmd.eval(REGISTER, 1, this.k.hosts, host.id, JSON.stringify(host), String(FORGET_AFTER_MS));
  }

  /** Removes a host's entry (clean shutdown: it is gone, not late). */
  async unregister(id: string): Promise<void> {
    await this.cmd.hdel(this.k.hosts, id);
  }

  /** Every registered host (alive or gone within the last hour), the store clock, and how many entries were unreadable. */
  async hosts(): Promise<{ hosts: FleetHost[]; now: number; invalid: number }> {
    const [time, all] = replies(await this.cmd.multi().time().hgetall(this.k.hosts).exec()) as [[string, string], Record<string, string>];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    let invalid = 0;
    const hosts: FleetHost[] = [];
    for (const text of Object.values(all ?? {})) {
      const h = parseHost(text);
      if (h) hosts.push(h);
      else invalid++;
    }
    hosts.sort((a, b) => a.id.localeCompare(b.id));
    return { hosts, now, invalid };
  }

  async close(): Promise<void> {
    this.removeAllListeners();
    this.cmd.disconnect();
    this.sub?.disconnect();
  }
}

/** True while the host's entry has not expired. */
export const hostAlive = (h: FleetHost, now: number): boolean => now - h.lastSeen <= h.ttlMs;

/** How long (ms, at store time NOW) a host has served a map other than the current published one; 0 when current. */
export const hostBehindMs = (h: FleetHost, now: number): number => (h.behindMs > 0 ? h.behindMs + Math.max(0, now - h.lastSeen) : 0);
