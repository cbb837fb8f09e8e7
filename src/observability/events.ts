import { EventEmitter } from 'node:events';
import type { MapConfig } from '../config';
import type { Drain, HealthMirror, PairStatus } from '../health';
import type { PromotionEvent } from '../probe';

/** One state change, as logged and as POSTed to the alerts webhook. */
export interface AlertEvent {
  /**
   * verdict: the probers' verdict on a (service, datacenter) flipped.
   * failover: a primary pointer moved (seen by this process: a leader's promotion or `geosteer promote`).
   * promotion: this process's leader moved a primary pointer.
   * drain / undrain: an operator's drain appeared, or was lifted or expired.
   */
  kind: 'verdict' | 'failover' | 'promotion' | 'drain' | 'undrain';
  /** ISO time this process saw the change. */
  at: string;
  /** `server.id` of the process that reports it (each server reports what it saw). */
  server: string;
  service: string;
  /** The datacenter concerned; for failover/promotion, the new primary. */
  dc: string;
  /** verdict: the new verdict. */
  up?: boolean;
  /** failover/promotion: the previous primary (null when unknown). */
  from?: string | null;
  /** Why, for people: the votes' details, the drain's reason, the promotion's reason. */
  reason: string;
  /** Raw record: votes, the drain, the pointer. */
  detail?: unknown;
}

export type HealthEventInput = Omit<AlertEvent, 'at' | 'server'>;

const cache = new WeakMap<HealthMirror, HealthEvents>();

/**
 * Turns the mirror's state into change events: verdict flips (the mirror's
 * 'verdict'), drains appearing and ending, primary pointers moving. Drains and
 * pointers are compared on every mirror 'change' (they are few). Nothing is
 * reported for the state found at start: events begin after the first sync
 * (or the snapshot), so a restart does not replay every drain.
 *
 * One per mirror (`healthEvents(mirror)`), shared by the log, the metrics and
 * the webhook. Events: 'event' (AlertEvent without at/server).
 */
export class HealthEvents extends EventEmitter {
  /** Primary pointer moves seen since start. */
  primaryChanges = 0;
  private primed = false;
  private drains = new Map<string, Drain>();
  private primaries = new Map<string, string>();
  private map: (() => MapConfig) | null = null;

  constructor(private readonly mirror: HealthMirror) {
    super();
    mirror.on('change', () => this.diff());
    mirror.on('verdict', (s: PairStatus) => {
      if (!this.primed) return;
      const reason = s.votes.map((v) => `${v.prober}: ${v.up ? 'up' : 'down'} (${v.detail})`).join('; ') || 'no fresh votes';
      this.emit('event', {
        kind: 'verdict',
        service: s.service,
        dc: s.dc,
        up: s.verdict.up,
        reason: `${s.verdict.down}/${s.verdict.fresh} fresh votes down: ${reason}`,
        detail: { votes: s.votes },
      } satisfies HealthEventInput);
    });
    const prime = (): void => {
      if (this.primed) return;
      this.diff();
      this.primed = true;
    };
    mirror.on('synced', prime);
    mirror.on('snapshot-loaded', prime);
    if (mirror.source !== 'none') prime();
  }

  /** The map in force (for the configured primary of `policy: primary` services); optional. */
  useMap(map: () => MapConfig): this {
    this.map = map;
    this.diff(true); // learn the primaries of the map's services without reporting them
    return this;
  }

  /** A leader's promotion in this process, reported as its own event. */
  promoted(e: PromotionEvent): void {
    this.emit('event', { kind: 'promotion', service: e.service, dc: e.to, from: e.from, reason: e.reason, detail: { epoch: e.epoch } } satisfies HealthEventInput);
  }

  private configuredPrimary(service: string): string | null {
    const map = this.map?.();
    const svc = map?.services.find((s) => s.name === service);
    return map && svc && svc.policy === 'primary' ? map.datacenters[svc.primary].name : null;
  }

  private diff(silent = false): void {
    const now = this.mirror.now();
    const drains = new Map(this.mirror.activeDrains().map((d) => [`${d.service}|${d.dc}`, d]));
    const report = this.primed && !silent;
    if (report) {
      for (const [k, d] of drains) {
        const prev = this.drains.get(k);
        if (!prev || prev.at !== d.at) {
          this.emit('event', {
            kind: 'drain',
            service: d.service,
            dc: d.dc,
            reason: `${d.reason} (by ${d.by}, until ${new Date(d.until).toISOString()})`,
            detail: d,
          } satisfies HealthEventInput);
        }
      }
      for (const [k, d] of this.drains) {
        if (drains.has(k)) continue;
        const expired = d.until <= now;
        this.emit('event', {
          kind: 'undrain',
          service: d.service,
          dc: d.dc,
          reason: expired ? `drain expired (was: ${d.reason})` : `drain lifted (was: ${d.reason})`,
          detail: d,
        } satisfies HealthEventInput);
      }
    }
    this.drains = drains;

    const services = new Set<string>(this.primaries.keys());
    for (const s of this.map?.().services ?? []) if (s.policy === 'primary') services.add(s.name);
    for (const service of services) {
      const p = this.mirror.primaryPointer(service);
      const cur = p?.dc ?? this.configuredPrimary(service);
      if (cur === null) continue;
      const prev = this.primaries.get(service) ?? null;
      this.primaries.set(service, cur);
      if (!report || prev === cur || (prev === null && !p)) continue;
      if (prev === null && p && p.dc === this.configuredPrimary(service)) continue;
      this.primaryChanges++;
      this.emit('event', {
        kind: 'failover',
        service,
        dc: cur,
        from: prev,
        reason: p ? `${p.reason || 'primary moved'} (by ${p.by}${p.epoch ? `, epoch ${p.epoch}` : ''})` : 'primary pointer removed: back to the configured primary',
        detail: p,
      } satisfies HealthEventInput);
    }
  }
}

/** The shared HealthEvents of a mirror (created on first use). */
export function healthEvents(mirror: HealthMirror): HealthEvents {
  let e = cache.get(mirror);
  if (!e) cache.set(mirror, (e = new HealthEvents(mirror)));
  return e;
}
