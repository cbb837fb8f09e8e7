import { EventEmitter } from 'node:events';
import type { MapConfig, ServiceConfig } from '../config';
import type { HealthStore } from '../health';
import { runCheck } from './check';
import type { CheckResult } from './options';

export interface ProberOptions {
  /** This prober's identity in votes (`--id`, default hostname). */
  id: string;
  store: HealthStore;
  map: MapConfig;
  /** A vote counts for this long after it is written; default 3 intervals + the timeout, so one slow round never expires it. */
  voteTtlMs?: (service: ServiceConfig) => number;
  /** Hysteresis state carried over from the prober this one replaces (map reload), keyed `service|dc`. */
  initialState?: Map<string, TargetState>;
}

/** What a reload must not forget: a datacenter that was voted down stays down until it has risen again. */
export interface TargetState {
  up: boolean;
  okStreak: number;
  failStreak: number;
}

/** State of one (service, datacenter) check loop. */
interface Target {
  service: ServiceConfig;
  dc: number;
  dcName: string;
  up: boolean;
  okStreak: number;
  failStreak: number;
  timer: NodeJS.Timeout | null;
  last: CheckResult | null;
}

export interface CheckEvent {
  service: string;
  dc: string;
  up: boolean;
  result: CheckResult;
  flipped: boolean;
}

/**
 * Runs every service's check against every datacenter and writes this
 * prober's vote after each round. Hysteresis: `fall` consecutive failures
 * (or timeouts) to vote down, `rise` consecutive successes to vote up. A new
 * prober starts optimistic (up), like a server at cold start. A round never
 * overlaps the previous one: the next starts `interval` after the last one
 * started, or at once if it ran long (it is bounded by `timeout`).
 *
 * Events: 'check' (CheckEvent) after every round, 'vote-error' (Error) when
 * the store refused a vote (the loop goes on; the next vote repairs it).
 */
export class Prober extends EventEmitter {
  private readonly targets: Target[] = [];
  private readonly abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(private readonly opts: ProberOptions) {
    super();
    for (const service of opts.map.services) {
      if (!service.check) continue;
      service.checkTargets.forEach((t, dc) => {
        if (t && t.length) {
          const dcName = opts.map.datacenters[dc].name;
          const prev = opts.initialState?.get(`${service.name}|${dcName}`);
          this.targets.push({ service, dc, dcName, up: prev?.up ?? true, okStreak: prev?.okStreak ?? 0, failStreak: prev?.failStreak ?? 0, timer: null, last: null });
        }
      });
    }
  }

  /** Hysteresis state per `service|dc`, for the prober that replaces this one. */
  state(): Map<string, TargetState> {
    return new Map(this.targets.map((t) => [`${t.service.name}|${t.dcName}`, { up: t.up, okStreak: t.okStreak, failStreak: t.failStreak }]));
  }

  get targetCount(): number {
    return this.targets.length;
  }

  start(): void {
    // Spread the first rounds over the interval so N targets do not fire at once.
    this.targets.forEach((t, i) => {
      const interval = t.service.check?.intervalMs ?? 1000;
      this.schedule(t, Math.floor((interval * i) / Math.max(1, this.targets.length)) % interval);
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    for (const t of this.targets) if (t.timer) clearTimeout(t.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private schedule(t: Target, delayMs: number): void {
    if (this.stopped) return;
    t.timer = setTimeout(() => {
      const p = this.round(t);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }, delayMs);
  }

  private async round(t: Target): Promise<void> {
    const check = t.service.check;
    const addrs = t.service.checkTargets[t.dc];
    if (!check || !addrs) return;
    const started = Date.now();
    const results = await Promise.all(addrs.map((a) => runCheck({ ...check, port: a.port }, a.address, t.service.name, this.abort.signal)));
    if (this.stopped) return;
    // A datacenter passes only when every checked address does: an answer holding a dead address is a bad answer.
    const bad = results.find((r) => r.outcome !== 'success');
    const result: CheckResult = bad
      ? { ...bad, detail: addrs.length > 1 ? `${addrs[results.indexOf(bad)].address}: ${bad.detail}` : bad.detail }
      : { outcome: 'success', latencyMs: Math.max(...results.map((r) => r.latencyMs)), detail: results[0].detail };
    const was = t.up;
    if (bad) {
      t.failStreak++;
      t.okStreak = 0;
      if (t.up && t.failStreak >= check.fall) t.up = false;
    } else {
      t.okStreak++;
      t.failStreak = 0;
      if (!t.up && t.okStreak >= check.rise) t.up = true;
    }
    t.last = result;
    this.emit('check', { service: t.service.name, dc: t.dcName, up: t.up, result, flipped: was !== t.up } satisfies CheckEvent);
    const ttlMs = this.opts.voteTtlMs ? this.opts.voteTtlMs(t.service) : 3 * check.intervalMs + check.timeoutMs;
    try {
      await this.opts.store.writeVote({
        prober: this.opts.id,
        service: t.service.name,
        dc: t.dcName,
        up: t.up,
        ttlMs,
        detail: `${result.outcome}: ${result.detail}`,
        latencyMs: result.latencyMs,
      });
    } catch (err) {
      this.emit('vote-error', err);
    }
    this.schedule(t, Math.max(0, check.intervalMs - (Date.now() - started)));
  }
}
