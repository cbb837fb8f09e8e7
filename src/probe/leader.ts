import { EventEmitter } from 'node:events';
import type { MapConfig, ServiceConfig } from '../config';
import type { HealthMirror, HealthStore } from '../health';

export interface LeaderOptions {
  id: string;
  store: HealthStore;
  mirror: HealthMirror;
  map: MapConfig;
  /** Lease length; renewed every third of it. @default 10000 */
  leaseMs?: number;
}

export interface PromotionEvent {
  service: string;
  from: string;
  to: string;
  epoch: number;
  reason: string;
}

/**
 * Primary failover for `policy: primary` services. Every prober runs one; the
 * one holding the leader lease (an expiring key) acts. When the current
 * primary's verdict has been down for the service's hold-down time, the leader
 * moves the pointer to the first standby whose verdict is up and that is not
 * drained (the configured primary comes last, so a failed standby can fall
 * back to it). The write is fenced by the lease epoch: a leader that lost its
 * lease (paused, partitioned) cannot move anything. Moving back when the old
 * primary recovers is never automatic: that is `geosteer promote`.
 *
 * Events: 'leader' (epoch) on gaining the lease, 'follower' on losing it,
 * 'promoted' (PromotionEvent), 'error' is never emitted (failures retry next tick).
 */
export class PrimaryLeader extends EventEmitter {
  private readonly leaseMs: number;
  private readonly services: ServiceConfig[];
  private readonly downSince = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private epoch: number | null = null;
  private running = false;
  private stopped = false;

  constructor(private readonly opts: LeaderOptions) {
    super();
    this.leaseMs = opts.leaseMs ?? 10_000;
    this.services = opts.map.services.filter((s) => s.policy === 'primary');
  }

  get isLeader(): boolean {
    return this.epoch !== null;
  }

  get currentEpoch(): number | null {
    return this.epoch;
  }

  start(): void {
    if (this.services.length === 0) return; // nothing to lead
    const tick = (): void => {
      if (this.stopped) return;
      void this.tick().finally(() => {
        if (!this.stopped) this.timer = setTimeout(tick, Math.floor(this.leaseMs / 3));
      });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.epoch !== null) await this.opts.store.releaseLease(this.opts.id).catch(() => undefined);
    this.epoch = null;
  }

  /** One lease renewal + evaluation; public for tests. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let epoch: number | null = null;
      try {
        epoch = await this.opts.store.acquireLease(this.opts.id, this.leaseMs);
      } catch {
        epoch = null; // store unreachable: act as a follower, never on stale authority
      }
      if (epoch !== this.epoch) {
        this.epoch = epoch;
        this.downSince.clear();
        this.emit(epoch === null ? 'follower' : 'leader', epoch);
      }
      if (epoch === null) return;
      for (const svc of this.services) await this.evaluate(svc, epoch);
    } finally {
      this.running = false;
    }
  }

  private async evaluate(svc: ServiceConfig, epoch: number): Promise<void> {
    const { mirror, map } = this.opts;
    const name = (i: number): string => map.datacenters[i].name;
    const current = mirror.primary(svc.name) ?? name(svc.primary);
    if (mirror.verdictUp(svc.name, current)) {
      this.downSince.delete(svc.name);
      return;
    }
    const now = Date.now();
    const since = this.downSince.get(svc.name) ?? now;
    this.downSince.set(svc.name, since);
    if (now - since < svc.holdDownMs) return;
    const order = [...svc.standbys, svc.primary].map(name).filter((dc) => dc !== current);
    const next = order.find((dc) => mirror.verdictUp(svc.name, dc) && !mirror.isDrained(svc.name, dc));
    if (!next) return; // nowhere better to go: keep the pointer, answers fail open
    const reason = `${current} down for ${Math.round((now - since) / 1000)}s`;
    let ok = false;
    try {
      ok = await this.opts.store.setPrimary({ service: svc.name, dc: next, epoch, by: this.opts.id, reason }, { holder: this.opts.id, epoch });
    } catch {
      ok = false;
    }
    if (ok) {
      this.downSince.delete(svc.name);
      await this.opts.store.audit({ action: 'failover', service: svc.name, from: current, to: next, by: this.opts.id, epoch, reason }).catch(() => undefined);
      this.emit('promoted', { service: svc.name, from: current, to: next, epoch, reason } satisfies PromotionEvent);
    }
  }
}
