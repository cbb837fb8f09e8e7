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

/** Hysteresis of one checked address (`per_address` checks). */
interface AddressState extends TargetState {
  address: string;
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
  /** `per_address: true`: each address's own state, voted as `DC@ADDRESS`; null otherwise. */
  addresses: AddressState[] | null;
}

/** The pseudo-datacenter a per-address vote is written for: routing reads `isUp(service, 'DC@ADDRESS')`. */
export function addressVoteDc(dc: string, address: string): string {
  return `${dc}@${address}`;
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
          const addresses = service.check?.perAddress
            ? t.map((a) => {
                const p = opts.initialState?.get(`${service.name}|${addressVoteDc(dcName, a.address)}`);
                return { address: a.address, up: p?.up ?? true, okStreak: p?.okStreak ?? 0, failStreak: p?.failStreak ?? 0 };
              })
            : null;
          this.targets.push({ service, dc, dcName, up: prev?.up ?? true, okStreak: prev?.okStreak ?? 0, failStreak: prev?.failStreak ?? 0, timer: null, last: null, addresses });
        }
      });
    }
  }

  /** Hysteresis state per `service|dc`, for the prober that replaces this one. */
  state(): Map<string, TargetState> {
    const out = new Map<string, TargetState>();
    for (const t of this.targets) {
      out.set(`${t.service.name}|${t.dcName}`, { up: t.up, okStreak: t.okStreak, failStreak: t.failStreak });
      for (const a of t.addresses ?? []) out.set(`${t.service.name}|${addressVoteDc(t.dcName, a.address)}`, { up: a.up, okStreak: a.okStreak, failStreak: a.failStreak });
    }
    return out;
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
    const ttlMs = this.opts.voteTtlMs ? this.opts.voteTtlMs(t.service) : 3 * check.intervalMs + check.timeoutMs;
    if (t.addresses) {
      await this.addressRound(t, results, ttlMs);
      this.schedule(t, Math.max(0, check.intervalMs - (Date.now() - started)));
      return;
    }
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

  /**
   * `per_address`: each address has its own hysteresis and vote (`DC@ADDRESS`); the datacenter's vote is up
   * while any address is up, so one dead address shrinks the weighted draw instead of failing the datacenter over.
   */
  private async addressRound(t: Target, results: CheckResult[], ttlMs: number): Promise<void> {
    const check = t.service.check;
    const states = t.addresses;
    if (!check || !states) return;
    const votes: Array<{ dc: string; up: boolean; result: CheckResult }> = [];
    states.forEach((a, i) => {
      const r = results[i];
      const was = a.up;
      if (r.outcome !== 'success') {
        a.failStreak++;
        a.okStreak = 0;
        if (a.up && a.failStreak >= check.fall) a.up = false;
      } else {
        a.okStreak++;
        a.failStreak = 0;
        if (!a.up && a.okStreak >= check.rise) a.up = true;
      }
      const dc = addressVoteDc(t.dcName, a.address);
      votes.push({ dc, up: a.up, result: r });
      this.emit('check', { service: t.service.name, dc, up: a.up, result: r, flipped: was !== a.up } satisfies CheckEvent);
    });
    const was = t.up;
    t.up = states.some((a) => a.up);
    const live = states.filter((a) => a.up).length;
    const result: CheckResult = {
      outcome: t.up ? 'success' : 'failure',
      latencyMs: Math.max(...results.map((r) => r.latencyMs)),
      detail: `${live} of ${states.length} addresses up`,
    };
    t.last = result;
    this.emit('check', { service: t.service.name, dc: t.dcName, up: t.up, result, flipped: was !== t.up } satisfies CheckEvent);
    votes.push({ dc: t.dcName, up: t.up, result });
    for (const v of votes) {
      try {
        await this.opts.store.writeVote({
          prober: this.opts.id,
          service: t.service.name,
          dc: v.dc,
          up: v.up,
          ttlMs,
          detail: `${v.result.outcome}: ${v.result.detail}`,
          latencyMs: v.result.latencyMs,
        });
      } catch (err) {
        this.emit('vote-error', err);
      }
    }
  }
}
