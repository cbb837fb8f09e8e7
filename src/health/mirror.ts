import { EventEmitter } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { drainKey, pairKey, voteKey, type Drain, type HealthSnapshot, type InvalidEntry, type PrimaryPointer, type TablePart, type Vote } from './model';
import { DEFAULT_HEALTH_OPTIONS, type HealthOptions } from './options';
import { StoreReplyError, type HealthStore } from './store';
import { computeVerdict, type Verdict } from './verdict';
import type { HealthView } from './view';

export interface MirrorOptions extends Partial<HealthOptions> {
  /** File for the last known state, read at start when the store is unreachable. null = none. */
  snapshotPath?: string | null;
  /** Write the snapshot (false: only read it at start; cluster workers other than the first). @default true */
  snapshotWrite?: boolean;
  /** How long start() waits for the store before falling back to the snapshot. @default 2000 */
  startTimeoutMs?: number;
  /** Re-evaluation tick: stale votes and expired drains take effect within this. @default 1000 */
  tickMs?: number;
}

export interface PairStatus {
  service: string;
  dc: string;
  verdict: Verdict;
  drain: Drain | null;
  votes: Vote[];
}

export type MirrorSource = 'store' | 'snapshot' | 'none';

/** One key of the table with unreadable entries now or since start. */
export interface InvalidKeyStatus {
  key: string;
  part: TablePart;
  /** Entries unreadable now: at the last full read (events: malformed messages since the read before it). */
  current: number;
  /** Unreadable entries seen since start, each counted once (when it first appeared). */
  total: number;
  /** The first few current ones, for people. */
  entries: InvalidEntry[];
}

/** How many of a key's current entries are kept for display. */
const INVALID_SHOWN = 20;

/**
 * serve's in-memory copy of the health table. Subscribe first, then load
 * everything, then apply each change message; re-read everything on every
 * reconnect and on a timer, so a lost message heals itself. Reads on the query
 * path never reach the store: routing asks `isUp` only when `change` fires.
 * With the store gone, the last state stays in force (fail-static) and is
 * saved to a snapshot file so a restart during the outage starts warm.
 *
 * Unreadable entries (a wrong-typed key, a bad value: see validate.ts) are
 * skipped and the rest applies; such an entry keeps what was last read from
 * it (a typo over the primary hash must not send every service back to its
 * configured primary), until the key or field is readable or gone.
 *
 * Events: 'change' (an isUp/primary result moved), 'verdict' (PairStatus of a
 * flip), 'store-down' (Error, once per outage), 'store-up', 'synced',
 * 'store-invalid' (InvalidKeyStatus: a key began to hold unreadable entries),
 * 'store-valid' (InvalidKeyStatus: it holds none any more), 'sync-error'
 * (StoreReplyError: the store answered the full read with an error, once until
 * a read works), 'sync-ok' (reads work again).
 */
/** Drains and pointers a store lost, as the mirror held them just before (store clock `at`). */
export interface LostState {
  drains: Drain[];
  primaries: PrimaryPointer[];
  at: number;
}

/**
 * What of LOST the store still lacks after a full read: a drain it holds again
 * (or that expired), a pointer it holds again for that service, leaves the lost set.
 */
function stillLost(lost: LostState, snap: Pick<HealthSnapshot, 'drains' | 'primaries' | 'now'>): LostState | null {
  const drains = new Set(snap.drains.map((d) => drainKey(d.service, d.dc)));
  const primaries = new Set(snap.primaries.map((p) => p.service));
  const next = {
    drains: lost.drains.filter((d) => d.until > snap.now && !drains.has(drainKey(d.service, d.dc))),
    primaries: lost.primaries.filter((p) => !primaries.has(p.service)),
    at: lost.at,
  };
  return next.drains.length + next.primaries.length > 0 ? next : null;
}

/** How long start() waits for the store before it falls back to the snapshot (default). */
export const START_TIMEOUT_MS = 2000;

export class HealthMirror extends EventEmitter implements HealthView {
  private readonly opts: HealthOptions & Required<Omit<MirrorOptions, keyof HealthOptions>>;
  private readonly votes = new Map<string, Vote>();
  private readonly drains = new Map<string, Drain>();
  private readonly primaries = new Map<string, PrimaryPointer>();
  private readonly lastKnown = new Map<string, boolean>();
  /**
   * Drains and pointers the store lost (it came back empty) and does not hold
   * again. They stay in effect here (fail-static: a Redis restart is not an
   * operator's undrain, nor a failback to a master that failed) and in the
   * snapshot, until `geosteer recover` writes them back, an operator acts on
   * that drain or pointer, or the drain expires. null: nothing lost.
   */
  private lost: LostState | null = null;
  /** The store's incarnation marker as last read (kept in the snapshot); null: not known. */
  private incarnation: string | null = null;
  private effective = new Map<string, boolean>();
  private statuses = new Map<string, PairStatus>();
  private primarySig = '';
  private clockOffset = 0;
  private tick: NodeJS.Timeout | null = null;
  private resyncTimer: NodeJS.Timeout | null = null;
  /** The store connected before; a later 'ready' is a reconnect. */
  private everReady = false;
  /** The next full read follows a reconnect (checked for a store that lost its data). */
  private reconnected = false;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private storeHealthy = true;
  private stopped = false;
  /** The full re-read in flight, if any; a resync asked for meanwhile runs again once it is done. */
  private syncing: Promise<boolean> | null = null;
  /** The read queued behind the one in flight; every caller meanwhile shares it. */
  private queued: Promise<boolean> | null = null;
  /**
   * Changes applied while a full read is in flight, replayed on top of its
   * result: the read may have run in Redis before them (a read queued during a
   * freeze runs first at the thaw), and must not roll them back.
   */
  private duringSync: Array<() => void> | null = null;
  source: MirrorSource = 'none';
  lastSyncAt = 0;
  /** The store's error when it answered the last full read with one (reachable, but not read); else null. */
  syncError: string | null = null;
  /** Unreadable entries of the last full read. */
  private tableInvalid: InvalidEntry[] = [];
  /** Their identities, so an entry that stays bad is counted once. */
  private tableInvalidIds = new Set<string>();
  /** Malformed events messages since the last full read, and in the interval before it. */
  private messagesNow: { count: number; shown: InvalidEntry[] } = { count: 0, shown: [] };
  private messagesBefore: { count: number; shown: InvalidEntry[] } = { count: 0, shown: [] };
  private readonly invalidTotals = new Map<string, { part: TablePart; total: number }>();
  /** Keys with unreadable entries now (for the store-invalid/store-valid events). */
  private invalidKeysNow = new Set<string>();

  constructor(
    private readonly store: HealthStore,
    options: MirrorOptions = {},
  ) {
    super();
    this.opts = {
      ...DEFAULT_HEALTH_OPTIONS,
      snapshotPath: null,
      snapshotWrite: true,
      startTimeoutMs: START_TIMEOUT_MS,
      tickMs: 1000,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    };
    store.on('vote', (v: Vote) => this.apply(() => this.votes.set(voteKey(v.service, v.dc, v.prober), v)));
    // An operator's (or the leader's) newer word on a lost drain or pointer replaces what was lost.
    store.on('drain', (d: Drain) => this.apply(() => (this.forget(drainKey(d.service, d.dc), null), this.drains.set(drainKey(d.service, d.dc), d))));
    store.on('undrain', (d: { service: string; dc: string }) => this.apply(() => (this.forget(drainKey(d.service, d.dc), null), this.drains.delete(drainKey(d.service, d.dc)))));
    store.on('primary', (p: PrimaryPointer) => this.apply(() => (this.forget(null, p.service), this.setPrimary(p))));
    store.on('ready', () => {
      this.reconnected = this.everReady;
      this.everReady = true;
      void this.resync();
    });
    store.on('down', (err: Error) => this.storeFailed(err));
    store.on('invalid', (e: InvalidEntry) => this.badMessage(e));
    this.everReady = store.ready;
  }

  /** First sync (or the snapshot when the store does not answer in time), then the timers. Never throws. */
  async start(): Promise<void> {
    // A refusal (WRONGPASS, a bad certificate) the store met before this mirror listened is said
    // now: serve builds its map off the thread, so the first attempt can fail before the mirror exists.
    const early = this.store.ready ? null : (this.store.connectionError ?? null);
    if (early) this.storeFailed(early);
    const ok = await this.firstSync();
    if (!ok) this.loadSnapshot();
    this.tick = setInterval(() => this.recompute(), this.opts.tickMs).unref();
    this.scheduleResync(ok ? this.opts.resyncMs : this.opts.retryMs);
  }

  private async firstSync(): Promise<boolean> {
    if (!this.store.ready) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, this.opts.startTimeoutMs);
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        this.store.once('ready', done);
      });
    }
    return this.store.ready && this.resync();
  }

  stop(): void {
    this.stopped = true;
    for (const t of [this.tick, this.resyncTimer, this.snapshotTimer]) if (t) clearTimeout(t);
    if (this.snapshotTimer) this.writeSnapshot();
    this.removeAllListeners();
  }

  /** A reloaded map may change the quorum; verdicts are re-derived at once. */
  setQuorum(quorum: HealthOptions['quorum']): void {
    if (quorum === this.opts.quorum) return;
    this.opts.quorum = quorum;
    this.recompute();
  }

  /** The store clock now, as best known (ms). */
  now(): number {
    return Date.now() + this.clockOffset;
  }

  isUp(service: string, dc: string): boolean {
    const e = this.effective.get(pairKey(service, dc));
    return e ?? !this.drainFor(service, dc, this.now());
  }

  /** The probers' verdict alone, drains ignored (a drained primary is not a failed one). */
  verdictUp(service: string, dc: string): boolean {
    return this.lastKnown.get(pairKey(service, dc)) ?? true;
  }

  isDrained(service: string, dc: string): boolean {
    return this.drainFor(service, dc, this.now()) !== null;
  }

  primary(service: string): string | null {
    return this.primaries.get(service)?.dc ?? null;
  }

  primaryPointer(service: string): PrimaryPointer | null {
    return this.primaries.get(service) ?? null;
  }

  /** Verdicts, votes and drains of every pair the table knows, for status output. */
  pairs(): PairStatus[] {
    return [...this.statuses.values()];
  }

  /** Drains and pointers the store lost (it came back empty) and does not hold again yet; null: none. */
  lostState(): LostState | null {
    return this.lost;
  }

  /** Every drain and pointer held now (expired drains included: a reader judges them by its own `now`). */
  tableState(): { drains: Drain[]; primaries: PrimaryPointer[]; now: number } {
    return { drains: [...this.drains.values()], primaries: [...this.primaries.values()], now: this.now() };
  }

  activeDrains(): Drain[] {
    const now = this.now();
    return [...this.drains.values()].filter((d) => d.until > now);
  }

  get storeConnected(): boolean {
    return this.storeHealthy && this.store.ready;
  }

  /** Every key that held unreadable entries since start (current 0: not any more), sorted by key. */
  invalidKeys(): InvalidKeyStatus[] {
    const byKey = new Map<string, InvalidKeyStatus>();
    for (const [key, t] of this.invalidTotals) byKey.set(key, { key, part: t.part, current: 0, total: t.total, entries: [] });
    const add = (e: InvalidEntry, n: number): void => {
      let s = byKey.get(e.key);
      if (!s) byKey.set(e.key, (s = { key: e.key, part: e.part, current: 0, total: 0, entries: [] }));
      s.current += n;
      if (s.entries.length < INVALID_SHOWN) s.entries.push(e);
    };
    for (const e of this.tableInvalid) add(e, 1);
    // Messages: all of them count, only the first few are kept to show.
    const shown = [...this.messagesBefore.shown, ...this.messagesNow.shown];
    const unshown = this.messagesBefore.count + this.messagesNow.count - shown.length;
    shown.forEach((e, i) => add(e, i === 0 ? 1 + unshown : 1));
    return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** A malformed events message: counted and shown until a full read with none in the interval before it. */
  private badMessage(e: InvalidEntry): void {
    if (this.stopped) return;
    this.messagesNow.count++;
    if (this.messagesNow.shown.length < INVALID_SHOWN) this.messagesNow.shown.push(e);
    this.countInvalid(e);
    this.invalidChanged();
  }

  private countInvalid(e: InvalidEntry): void {
    const t = this.invalidTotals.get(e.key);
    if (t) t.total++;
    else this.invalidTotals.set(e.key, { part: e.part, total: 1 });
  }

  /** Takes a full read's unreadable entries: counts the new ones, announces keys turning bad or clean. */
  private takeInvalid(snap: HealthSnapshot): void {
    for (const { key, part } of snap.keys ?? []) if (!this.invalidTotals.has(key)) this.invalidTotals.set(key, { part, total: 0 });
    const list = snap.invalid ?? [];
    const ids = new Set<string>();
    for (const e of list) {
      const id = `${e.key}\u0000${e.field ?? ''}\u0000${e.kind}`;
      ids.add(id);
      if (!this.tableInvalidIds.has(id)) this.countInvalid(e);
    }
    this.tableInvalid = list;
    this.tableInvalidIds = ids;
    this.messagesBefore = this.messagesNow;
    this.messagesNow = { count: 0, shown: [] };
    this.invalidChanged();
  }

  private invalidChanged(): void {
    const now = new Map(this.invalidKeys().filter((k) => k.current > 0).map((k) => [k.key, k]));
    for (const [key, k] of now) if (!this.invalidKeysNow.has(key)) this.emit('store-invalid', k);
    for (const key of this.invalidKeysNow) {
      if (now.has(key)) continue;
      const k = this.invalidKeys().find((x) => x.key === key);
      if (k) this.emit('store-valid', k);
    }
    this.invalidKeysNow = new Set(now.keys());
  }

  /** Drops a lost drain (by drain key) or pointer (by service): the store has a newer word on it. */
  private forget(drain: string | null, service: string | null): void {
    if (!this.lost) return;
    const l = this.lost;
    const next = { drains: l.drains.filter((d) => drainKey(d.service, d.dc) !== drain), primaries: l.primaries.filter((p) => p.service !== service), at: l.at };
    this.lost = next.drains.length + next.primaries.length > 0 ? next : null;
  }

  private setPrimary(p: PrimaryPointer): void {
    const cur = this.primaries.get(p.service);
    if (!cur || p.at >= cur.at) this.primaries.set(p.service, p);
  }

  private apply(mutate: () => void): void {
    if (this.stopped) return;
    mutate();
    this.duringSync?.push(mutate);
    this.recompute();
    this.scheduleSnapshot();
  }

  /**
   * Full re-read. Returns true when it worked. A call while one is in flight
   * shares its result and queues one more read: the one in flight may have
   * read the table before a (re)subscription, so a change in between would
   * otherwise be missed until the next periodic resync.
   */
  resync(): Promise<boolean> {
    if (this.stopped) return Promise.resolve(false);
    if (this.syncing) {
      // The read in flight may have started before the caller's change (or, in a
      // test, before a fault), so the caller gets the next read, not that one.
      const next = (): Promise<boolean> => {
        this.queued = null;
        return this.resync();
      };
      this.queued ??= this.syncing.then(next, next);
      return this.queued;
    }
    const run = this.readAll().finally(() => {
      this.syncing = null;
    });
    this.syncing = run;
    return run;
  }

  private async readAll(): Promise<boolean> {
    const during: Array<() => void> = (this.duringSync = []);
    const afterOutage = this.reconnected || !this.storeHealthy;
    try {
      const snap = await this.store.loadAll();
      if (this.stopped) return false;
      this.reconnected = false;
      // The store lost its data (a Redis restarted without persistence, a flush):
      // its incarnation marker is not the one this mirror read before, or (no
      // marker known) it came back after an outage with nothing at all, not even a
      // vote, where drains or pointers were. The marker catches it even when
      // probers re-voted or an operator wrote before this read. Said loudly; what
      // was lost stays in effect here (see `lost`). Unreadable hashes do not count
      // as empty: what they held is kept (replace).
      const unreadable = (snap.invalid ?? []).some((e) => e.part === 'votes' || e.part === 'drains' || e.part === 'primary');
      const held = this.drains.size + this.primaries.size > 0;
      const replaced = this.incarnation !== null && snap.incarnation !== undefined && snap.incarnation !== this.incarnation;
      const emptyAgain = afterOutage && snap.votes.length === 0 && snap.drains.length === 0 && snap.primaries.length === 0;
      const emptied = held && !unreadable && (replaced || (this.incarnation === null && emptyAgain));
      const was = emptied ? stillLost({ drains: [...this.drains.values()], primaries: [...this.primaries.values()], at: snap.now }, snap) : null;
      const lost = { drains: was?.drains.length ?? 0, primaries: was?.primaries.length ?? 0 };
      if (emptied) this.lost = was;
      else if (this.lost) this.lost = stillLost(this.lost, snap);
      if (snap.incarnation !== undefined) this.incarnation = snap.incarnation;
      this.replace(snap, snap.invalid ?? []);
      if (emptied && was) this.emit('store-emptied', lost);
      for (const mutate of during) mutate(); // in arrival order, which is Redis's order
      this.clockOffset = snap.now - Date.now();
      this.source = 'store';
      this.lastSyncAt = Date.now();
      this.takeInvalid(snap);
      if (!this.storeHealthy) {
        this.storeHealthy = true;
        this.emit('store-up');
      }
      if (this.syncError !== null) {
        this.syncError = null;
        this.emit('sync-ok');
      }
      this.recompute();
      this.scheduleSnapshot();
      this.emit('synced');
      this.scheduleResync(this.opts.resyncMs);
      return true;
    } catch (err) {
      if (err instanceof StoreReplyError) this.syncFailed(err);
      else this.storeFailed(err as Error);
      this.scheduleResync(this.opts.retryMs);
      return false;
    } finally {
      this.duringSync = null;
    }
  }

  /** The store is there but refused the read: not an outage, said as what it is. */
  private syncFailed(err: StoreReplyError): void {
    if (this.syncError === null) this.emit('sync-error', err);
    this.syncError = err.message;
  }

  private storeFailed(err: Error): void {
    if (this.storeHealthy) {
      this.storeHealthy = false;
      this.emit('store-down', err);
    }
    this.scheduleResync(this.opts.retryMs);
  }

  private scheduleResync(ms: number): void {
    if (this.stopped) return;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => void this.resync(), ms).unref();
  }

  /**
   * Takes a full read. A hash that could not be read keeps what the mirror
   * had from it, and so does each unreadable field (mirror keys are the hash
   * fields: service|dc|prober, service|dc, service).
   */
  private replace(s: Pick<HealthSnapshot, 'votes' | 'drains' | 'primaries'>, invalid: InvalidEntry[] = []): void {
    const keep = <T>(part: TablePart, old: Map<string, T>, next: Map<string, T>): void => {
      for (const e of invalid) {
        if (e.part !== part) continue;
        if (e.field === null) {
          for (const [k, v] of old) if (!next.has(k)) next.set(k, v);
        } else {
          const v = old.get(e.field);
          if (v !== undefined && !next.has(e.field)) next.set(e.field, v);
        }
      }
    };
    const votes = new Map(s.votes.map((v) => [voteKey(v.service, v.dc, v.prober), v]));
    keep('votes', this.votes, votes);
    const drains = new Map(s.drains.map((d) => [drainKey(d.service, d.dc), d]));
    keep('drains', this.drains, drains);
    const primaries = new Map(s.primaries.map((p) => [p.service, p]));
    keep('primary', this.primaries, primaries);
    // What the store lost and lacks still stays in effect (stillLost pruned it against this read).
    for (const d of this.lost?.drains ?? []) if (!drains.has(drainKey(d.service, d.dc))) drains.set(drainKey(d.service, d.dc), d);
    for (const p of this.lost?.primaries ?? []) if (!primaries.has(p.service)) primaries.set(p.service, p);
    for (const [mine, next] of [
      [this.votes, votes],
      [this.drains, drains],
      [this.primaries, primaries],
    ] as Array<[Map<string, unknown>, Map<string, unknown>]>) {
      mine.clear();
      for (const [k, v] of next) mine.set(k, v);
    }
  }

  private drainFor(service: string, dc: string, now: number): Drain | null {
    // Expired drains stay in the table: one for this service must not hide a live '*' drain.
    for (const d of [this.drains.get(drainKey(service, dc)), this.drains.get(drainKey('*', dc))]) if (d && d.until > now) return d;
    return null;
  }

  /** Re-derives every verdict; emits 'change' when any effective state or primary moved. */
  recompute(): void {
    const now = this.now();
    const byPair = new Map<string, Vote[]>();
    for (const v of this.votes.values()) {
      const k = pairKey(v.service, v.dc);
      let list = byPair.get(k);
      if (!list) byPair.set(k, (list = []));
      list.push(v);
    }
    for (const d of this.drains.values()) if (d.service !== '*' && !byPair.has(pairKey(d.service, d.dc))) byPair.set(pairKey(d.service, d.dc), []);
    // A pair whose votes vanished (Redis came back empty) keeps its last known state, like one whose votes went stale.
    for (const k of this.lastKnown.keys()) if (!byPair.has(k)) byPair.set(k, []);
    const effective = new Map<string, boolean>();
    const statuses = new Map<string, PairStatus>();
    let changed = false;
    for (const [k, list] of byPair) {
      const [service, dc] = k.split('|');
      const prev = this.lastKnown.get(k) ?? true;
      const verdict = computeVerdict(list, now, this.opts.quorum, prev);
      this.lastKnown.set(k, verdict.up);
      const drain = this.drainFor(service, dc, now);
      const status: PairStatus = { service, dc, verdict, drain, votes: list };
      statuses.set(k, status);
      const up = verdict.up && !drain;
      effective.set(k, up);
      const before = this.effective.get(k) ?? !this.drainFor(service, dc, now - this.opts.tickMs);
      if (before !== up) changed = true;
      if (verdict.up !== prev) this.emit('verdict', status);
    }
    for (const [k, wasUp] of this.effective) if (!effective.has(k) && !wasUp) changed = true;
    // Drains of '*' touch pairs without votes: compare their effect too.
    const drainSig = [...this.drains.values()].filter((d) => d.until > now).map((d) => drainKey(d.service, d.dc)).sort().join(',');
    const primarySig = [...this.primaries.values()].map((p) => `${p.service}=${p.dc}`).sort().join(',') + '#' + drainSig;
    if (primarySig !== this.primarySig) changed = true;
    this.primarySig = primarySig;
    this.effective = effective;
    this.statuses = statuses;
    if (changed) this.emit('change');
  }

  private scheduleSnapshot(): void {
    if (!this.opts.snapshotPath || !this.opts.snapshotWrite || this.snapshotTimer || this.stopped) return;
    this.snapshotTimer = setTimeout(() => this.writeSnapshot(), 1000).unref();
  }

  private writeSnapshot(): void {
    this.snapshotTimer = null;
    const path = this.opts.snapshotPath;
    if (!path) return;
    const body = {
      savedAt: this.now(),
      votes: [...this.votes.values()],
      drains: [...this.drains.values()],
      primaries: [...this.primaries.values()],
      lastKnown: Object.fromEntries(this.lastKnown),
      lost: this.lost,
      incarnation: this.incarnation,
    };
    try {
      writeFileSync(`${path}.tmp`, JSON.stringify(body));
      renameSync(`${path}.tmp`, path); // atomic: a crash never leaves half a snapshot
    } catch (err) {
      this.emit('snapshot-error', err);
    }
  }

  private loadSnapshot(): void {
    const path = this.opts.snapshotPath;
    if (!path) return;
    try {
      const s = JSON.parse(readFileSync(path, 'utf8')) as HealthSnapshot & { lastKnown: Record<string, boolean>; lost?: LostState | null };
      if (s.lost && Array.isArray(s.lost.drains) && Array.isArray(s.lost.primaries)) this.lost = s.lost;
      if (typeof s.incarnation === 'string') this.incarnation = s.incarnation;
      this.replace(s);
      for (const [k, v] of Object.entries(s.lastKnown ?? {})) if (typeof v === 'boolean') this.lastKnown.set(k, v);
      this.source = 'snapshot';
      this.recompute();
      this.emit('snapshot-loaded', path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.emit('snapshot-error', err);
    }
  }
}
