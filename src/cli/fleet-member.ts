import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostAlive, hostBehindMs, parseBundle, type FleetHost, type FleetHostInput, type FleetStore, type PublishedMap } from '../health';
import type { Logger } from '../observability';
import type { FleetView } from '../observability/fleet-metrics';

/** What this host tells the registry each beat (the rest it knows itself). */
export interface HostFacts {
  addresses: string[];
  admin: string | null;
  mapHash: string;
  geoip: string;
  ready: boolean;
}

export interface FleetMemberOptions {
  store: FleetStore;
  id: string;
  /** Follow the published map (serve --redis without --config); false: only register. */
  follow: boolean;
  /** The disk copy of the last published map this host loaded (next to the health snapshot); null: none. */
  copyPath: string | null;
  /** This process speaks for its host: it registers and writes the disk copy (one worker of a cluster). */
  lead: boolean;
  /** Registration beat and re-read of current. @default 5000 */
  intervalMs?: number;
  /** A registration expires after this long without a beat. @default 3 x intervalMs */
  ttlMs?: number;
  log: Logger;
  facts(): HostFacts;
  /**
   * Loads a published version in place of the one serving; resolves null when
   * it applied, else why this host refused it (the old map keeps serving).
   */
  apply(p: PublishedMap, reason: string): Promise<string | null>;
}

/** A host on another version than current for longer than this counts as behind (metric and alert). */
export const BEHIND_AFTER_MS = 60_000;

/**
 * One serve as a member of the fleet: it registers itself in Redis (id,
 * addresses, map version, GeoIP build, ready) every beat with an expiry, and,
 * when it runs from the published map, follows `current` by pub/sub plus a
 * re-read every beat (a lost message heals itself). A version that fails to
 * load here is refused once, logged, counted and registered with its reason;
 * the last good one keeps serving and stays on disk for restarts while Redis
 * is unreachable.
 */
export class FleetMember extends EventEmitter {
  private serving: { version: number; hash: string } | null = null;
  private current: number | null = null;
  /** The last current version Redis named (kept when Redis comes back without one: recover asks for it). */
  private lastCurrent: number | null = null;
  private behindSince: number | null = null;
  private rejected: { version: number; message: string } | null = null;
  private rejectedCount = 0;
  private hostsSeen: { hosts: FleetHost[]; now: number } = { hosts: [], now: 0 };
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<void> | null = null;
  private again = false;
  private told = { empty: false, down: false };
  private readonly startedAt = Date.now();
  private readonly intervalMs: number;
  private readonly ttlMs: number;
  private closed = false;
  /** Set by start(): before that, serve is still choosing its first map and notices wait for the first beat. */
  private active = false;

  constructor(private readonly o: FleetMemberOptions) {
    super();
    this.intervalMs = o.intervalMs ?? 5000;
    this.ttlMs = o.ttlMs ?? 3 * this.intervalMs;
    o.store.on('map', () => void this.check('published'));
    o.store.on('ready', () => void this.check('Redis reachable'));
  }

  /**
   * What a starting serve can run: the current version from Redis and this
   * host's disk copy, either may be null (serve tries them in that order).
   */
  async candidates(timeoutMs = 3000): Promise<{ redis: PublishedMap | null; disk: PublishedMap | null; why: string }> {
    const disk = this.readCopy();
    let redis: PublishedMap | null = null;
    let why = '';
    try {
      await this.o.store.whenReady(timeoutMs);
      redis = await this.o.store.current();
      if (!redis) why = 'nothing is published in Redis';
    } catch (err) {
      why = (err as Error).message;
    }
    return { redis, disk, why };
  }

  /** Serve chose P to start with (from: where it came from). */
  started(p: PublishedMap, from: 'redis' | 'disk', refused?: { version: number; message: string }): void {
    this.serving = { version: p.version, hash: p.hash };
    if (from === 'redis') this.lastCurrent = p.version;
    if (refused) this.refuse(refused.version, refused.message);
    if (from === 'redis') this.writeCopy(p);
  }

  start(): void {
    this.active = true;
    const beat = (): void => {
      if (this.closed) return;
      void this.check('resync').finally(() => void this.register());
    };
    this.timer = setInterval(beat, this.intervalMs);
    this.timer.unref();
    beat();
  }

  /** Re-reads current now (SIGHUP, a pub/sub notice, the beat); one at a time, once more if asked meanwhile. */
  check(reason: string): Promise<void> {
    if (!this.o.follow || this.closed || !this.active) return Promise.resolve();
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = this.checkOnce(reason).finally(() => {
      this.checking = null;
      if (this.again) {
        this.again = false;
        void this.check(reason);
      }
    });
    return this.checking;
  }

  private async checkOnce(reason: string): Promise<void> {
    let cur: number | null;
    try {
      cur = await this.o.store.currentVersion();
    } catch {
      return; // unreachable: keep serving what we have; the health mirror already says so
    }
    this.current = cur;
    if (cur !== null) this.lastCurrent = cur;
    if (cur === null) {
      // Redis lost its data (or nobody published yet): never drop a good map for nothing.
      if (!this.told.empty && this.serving) this.o.log.error({ serving: this.serving.version }, `Redis holds no published map (restarted empty?); still serving version ${this.serving.version}: geosteer recover restores it`);
      this.told.empty = true;
      this.markBehind();
      return;
    }
    this.told.empty = false;
    if (cur === this.serving?.version || cur === this.rejected?.version) {
      this.markBehind();
      return;
    }
    let p: PublishedMap | null;
    try {
      p = await this.o.store.get(cur);
    } catch (err) {
      this.refuse(cur, (err as Error).message);
      this.markBehind();
      return;
    }
    if (!p) return; // current moved on between the two reads: the next notice brings it
    const why = await this.o.apply(p, `published version ${p.version} (${reason})`);
    if (why === null) {
      this.serving = { version: p.version, hash: p.hash };
      this.rejected = null;
      this.writeCopy(p);
    } else this.refuse(p.version, why);
    this.markBehind();
  }

  private refuse(version: number, message: string): void {
    this.rejected = { version, message };
    this.rejectedCount++;
    this.o.log.error({ version, error: message, serving: this.serving?.version ?? null }, `published map version ${version} refused on this host, still serving version ${this.serving?.version ?? '(none)'}: ${message}`);
  }

  private markBehind(): void {
    const behind = this.o.follow && this.current !== null && this.current !== this.serving?.version;
    if (!behind) this.behindSince = null;
    else this.behindSince ??= Date.now();
  }

  private async register(): Promise<void> {
    if (!this.o.lead || this.closed) return;
    const f = this.o.facts();
    const entry: FleetHostInput = {
      id: this.o.id,
      addresses: f.addresses,
      admin: f.admin,
      mapSource: this.o.follow ? 'published' : 'file',
      mapVersion: this.serving?.version ?? null,
      mapHash: f.mapHash,
      geoip: f.geoip,
      ready: f.ready,
      mapError: this.rejected,
      behindMs: this.behindSince === null ? 0 : Date.now() - this.behindSince,
      pid: process.pid,
      startedAt: this.startedAt,
      ttlMs: this.ttlMs,
    };
    try {
      await this.o.store.register(entry);
      this.hostsSeen = await this.o.store.hosts();
      if (this.told.down) this.o.log.info('fleet registry reachable again');
      this.told.down = false;
    } catch (err) {
      if (!this.told.down) this.o.log.warn({ err: (err as Error).message }, 'fleet registry: cannot register this host (Redis unreachable); answers go on');
      this.told.down = true;
    }
  }

  /** For metrics, status page and logs. */
  view(): FleetView {
    const { hosts, now } = this.hostsSeen;
    const alive = hosts.filter((h) => hostAlive(h, now));
    return {
      follows: this.o.follow,
      servingVersion: this.serving?.version ?? null,
      currentVersion: this.current,
      behindMs: this.behindSince === null ? 0 : Date.now() - this.behindSince,
      rejected: this.rejectedCount,
      refused: this.rejected,
      hosts: { alive: alive.length, gone: hosts.length - alive.length, behind: alive.filter((h) => hostBehindMs(h, now) > BEHIND_AFTER_MS).length },
    };
  }

  /**
   * For /api/state (recover): the published map this host serves, read from its
   * disk copy (not kept in memory: it can be large), and the last version Redis
   * named current. Null map when running from a file or never loaded one.
   */
  async published(): Promise<{ current: number | null; map: PublishedMap | null }> {
    let map: PublishedMap | null = null;
    if (this.o.follow && this.o.copyPath && this.serving) {
      try {
        const v = JSON.parse(await readFile(this.o.copyPath, 'utf8')) as PublishedMap;
        if (v.version === this.serving.version) map = v;
      } catch {
        map = null; // no copy (a worker that is not the lead writes none): the lead's answer has it
      }
    }
    return { current: this.lastCurrent, map };
  }

  /** The registry as last read (every beat), with its store time. */
  fleet(): { hosts: FleetHost[]; now: number } {
    return this.hostsSeen;
  }

  private readCopy(): PublishedMap | null {
    if (!this.o.copyPath) return null;
    try {
      const v = JSON.parse(readFileSync(this.o.copyPath, 'utf8')) as PublishedMap;
      const bundle = parseBundle(JSON.stringify(v.bundle));
      if (typeof bundle === 'string' || !Number.isInteger(v.version)) throw new Error(`not a published map copy (${typeof bundle === 'string' ? bundle : 'no version'})`);
      return { ...v, bundle };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.o.log.error({ path: this.o.copyPath, err: (err as Error).message }, 'published map disk copy unreadable; ignored');
      return null;
    }
  }

  /** Atomically (temp file + rename): a crash mid-write leaves the previous good copy. */
  private writeCopy(p: PublishedMap): void {
    if (!this.o.copyPath || !this.o.lead) return;
    const tmp = `${this.o.copyPath}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify(p), { mode: 0o600 });
      renameSync(tmp, this.o.copyPath);
    } catch (err) {
      this.o.log.error({ path: this.o.copyPath, err: (err as Error).message }, 'published map disk copy could not be written');
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    await this.checking;
    if (this.o.lead) await this.o.store.unregister(this.o.id).catch(() => undefined);
    await this.o.store.close();
  }
}
