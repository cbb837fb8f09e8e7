import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { parseIp } from '../common/ip';
import type { MapConfig } from '../config';
import { hostAlive, hostBehindMs, type Drain, type FleetHost, type HealthMirror, type InvalidKeyStatus, type InvalidKind, type PairStatus } from '../health';
import type { FleetView } from './fleet-metrics';
import { qtypeCode, type Router } from '../routing';
import { explain, explanationLines } from '../routing/explain';
import type { Route } from './http';

/**
 * The status page on the admin port: health (verdicts and votes), routing
 * (each region's list and its current answer), primaries, drains, recent
 * changes and an explain form. One self-contained HTML document (inline CSS
 * and JS, no external resources) that polls `/api/status` every 2 s.
 */

/** How many state changes the page keeps. */
const EVENT_RING = 50;
/** Longest name `/api/explain` accepts (a DNS name's limit). */
const MAX_NAME = 253;

export type StatusEventKind =
  | 'up'
  | 'down'
  | 'drain'
  | 'undrain'
  | 'primary'
  | 'reload'
  | 'reload-failed'
  | 'store-down'
  | 'store-up'
  | 'store-invalid'
  | 'store-valid'
  | 'sync-error'
  | 'sync-ok';

/** One recent state change. `at` is this process's clock (ms). */
export interface StatusEvent {
  at: number;
  kind: StatusEventKind;
  service: string | null;
  dc: string | null;
  text: string;
}

/** Map reload counters, kept by whoever watches the map file (serve). */
export interface ReloadStats {
  ok: number;
  failed: number;
  lastError: string | null;
  lastAt: number;
}

/**
 * The running server as the page sees it. Observability owns this small
 * interface and serve's RunningServer satisfies it, so the page never imports
 * cli (imports point one way: cli -> observability). `map` and `router` are
 * read on every use because a reload swaps them.
 */
export interface StatusServer {
  readonly map: MapConfig;
  readonly router: Router;
  readonly mirror: HealthMirror;
  readonly store: { readonly kind: string };
  readonly reloads: ReloadStats;
  /** This server in the fleet registry (serve with Redis); null or absent: no fleet. */
  readonly fleet?: FleetSource | null;
}

/** The fleet as a serve knows it: its own published-map state and the registry as last read. */
export interface FleetSource {
  view(): FleetView;
  fleet(): { hosts: FleetHost[]; now: number };
}

/** What the status page reads; built from a StatusServer, the map and router follow reloads. */
export interface StatusSource {
  readonly map: MapConfig;
  readonly router: Router;
  readonly mirror: HealthMirror;
  /** 'memory' (embedded) or 'redis'. */
  readonly storeKind: string;
  readonly reloads: ReloadStats;
  readonly fleet: FleetSource | null;
  /** Recent state changes, oldest first (at most 50). */
  events(): StatusEvent[];
  /** Stops listening to the mirror. */
  close(): void;
}

/** Fixed-size ring of the most recent events. */
class EventRing {
  private readonly items: StatusEvent[] = [];
  constructor(private readonly size: number) {}
  push(e: StatusEvent): void {
    this.items.push(e);
    if (this.items.length > this.size) this.items.splice(0, this.items.length - this.size);
  }
  list(): StatusEvent[] {
    return [...this.items];
  }
}

const drainWho = (d: Pick<Drain, 'service' | 'dc'>): string => `${d.dc} for ${d.service === '*' ? 'every service' : d.service}`;

/**
 * Follows the server's mirror for the recent-changes list: verdict flips,
 * drains set and lifted, primary moves, store outages, and map reloads (read
 * off the reload counters, whose `lastAt` dates them).
 */
export function statusSourceFrom(running: StatusServer): StatusSource {
  const ring = new EventRing(EVENT_RING);
  const mirror = running.mirror;
  const push = (kind: StatusEventKind, text: string, service: string | null = null, dc: string | null = null, at = Date.now()): void =>
    ring.push({ at, kind, service, dc, text });

  const onVerdict = (s: PairStatus): void => {
    const v = s.verdict;
    const why = s.votes.find((x) => x.up === v.up)?.detail;
    push(v.up ? 'up' : 'down', `${s.service} in ${s.dc} is now ${v.up ? 'UP' : 'DOWN'} (${v.down}/${v.fresh} fresh votes down${why ? `: ${why}` : ''})`, s.service, s.dc);
  };
  // Drains and primaries: diff against what was in force at the last change.
  const drainsNow = (): Map<string, Drain> => new Map(mirror.activeDrains().map((d) => [`${d.service}|${d.dc}`, d]));
  let drains = drainsNow();
  const primariesNow = (): Map<string, string> => {
    const out = new Map<string, string>();
    for (const s of running.map.services) {
      const p = mirror.primaryPointer(s.name);
      if (p) out.set(s.name, p.dc);
    }
    return out;
  };
  let primaries = primariesNow();
  const onChange = (): void => {
    const nextDrains = drainsNow();
    for (const [k, d] of nextDrains) {
      const before = drains.get(k);
      if (!before || before.at !== d.at) push('drain', `${drainWho(d)} drained by ${d.by}: ${d.reason}`, d.service, d.dc);
    }
    for (const [k, d] of drains) if (!nextDrains.has(k)) push('undrain', `${drainWho(d)} no longer drained`, d.service, d.dc);
    drains = nextDrains;
    const nextPrimaries = primariesNow();
    for (const [service, dc] of nextPrimaries) {
      if (primaries.get(service) === dc) continue;
      const p = mirror.primaryPointer(service);
      push('primary', `${service} primary is now ${dc}${p ? ` (by ${p.by}: ${p.reason})` : ''}`, service, dc);
    }
    primaries = nextPrimaries;
  };
  const onStoreDown = (err: Error): void => push('store-down', `health store unreachable: ${err.message}; answering from the last known state`);
  const onStoreUp = (): void => push('store-up', 'health store reachable again: resynced');
  const onInvalid = (k: InvalidKeyStatus): void => {
    const first = k.entries[0];
    const what = first ? `: ${first.field === null ? '' : `field "${first.field}" `}${first.reason}` : '';
    push('store-invalid', `health store key ${k.key} holds ${k.current} unreadable ${k.current === 1 ? 'entry' : 'entries'}, skipped${what}`);
  };
  const onValid = (k: InvalidKeyStatus): void => push('store-valid', `health store key ${k.key} is readable again`);
  const onSyncError = (err: Error): void => push('sync-error', `health store answered the full read with an error (reachable): ${err.message}; answering from the last known state`);
  const onSyncOk = (): void => push('sync-ok', 'health store full reads work again');
  const listeners: Array<[string, Parameters<HealthMirror['on']>[1]]> = [
    ['verdict', onVerdict],
    ['change', onChange],
    ['store-down', onStoreDown],
    ['store-up', onStoreUp],
    ['store-invalid', onInvalid],
    ['store-valid', onValid],
    ['sync-error', onSyncError],
    ['sync-ok', onSyncOk],
  ];
  for (const [ev, fn] of listeners) mirror.on(ev, fn);

  let seenReload = { ok: running.reloads.ok, failed: running.reloads.failed };
  const pollReloads = (): void => {
    const r = running.reloads;
    const times = (n: number): string => (n > 1 ? ` (${n} times)` : '');
    if (r.ok > seenReload.ok) push('reload', `map reloaded${times(r.ok - seenReload.ok)}: now version ${running.map.version}`, null, null, r.lastAt);
    if (r.failed > seenReload.failed) {
      const why = (r.lastError ?? '').split('\n')[0];
      push('reload-failed', `map rejected${times(r.failed - seenReload.failed)}, still serving ${running.map.version}: ${why}`, null, null, r.lastAt);
    }
    seenReload = { ok: r.ok, failed: r.failed };
  };

  return {
    get map() {
      return running.map;
    },
    get router() {
      return running.router;
    },
    mirror,
    storeKind: running.store.kind,
    reloads: running.reloads,
    fleet: running.fleet ?? null,
    events() {
      pollReloads();
      return ring.list().sort((a, b) => a.at - b.at);
    },
    close() {
      for (const [ev, fn] of listeners) mirror.off(ev, fn);
    },
  };
}

// ---------------------------------------------------------------- /api/status

export type PairState = 'up' | 'down' | 'drained';

export interface StatusJson {
  /** This process's clock when the status was taken (ms). */
  now: number;
  server: { id: string; mapVersion: string; mapFile: string; reloads: { ok: number; failed: number; lastError: string | null; lastAgeMs: number | null } };
  health: {
    store: string;
    source: string;
    /** The store answers (false: unreachable, answering from the last known state). */
    connected: boolean;
    /** The store's error when it answered the last full read with one; null when reads work. */
    syncError: string | null;
    lastSyncAgeMs: number | null;
    quorum: string;
    /** Keys that held unreadable entries since start; `current` 0: clean again. Sorted by key. */
    invalid: Array<{ key: string; current: number; total: number; entries: Array<{ field: string | null; kind: InvalidKind; reason: string }> }>;
  };
  datacenters: Array<{ name: string; description: string }>;
  /** One per (service, datacenter the service is in). */
  pairs: Array<{
    service: string;
    dc: string;
    /** What routing uses: drained, else the probers' verdict. */
    state: PairState;
    /** The probers' verdict alone (drains ignored). */
    verdictUp: boolean;
    /** 'quorum' = fresh votes decided; 'last-known' = no fresh votes; 'none' = never voted on. */
    basis: 'quorum' | 'last-known' | 'none';
    checked: boolean;
    fresh: number;
    down: number;
    drain: { reason: string; by: string; leftMs: number } | null;
    votes: Array<{ prober: string; up: boolean; ageMs: number; fresh: boolean; detail: string; latencyMs: number }>;
  }>;
  routing: Array<{
    service: string;
    policy: 'geo' | 'primary';
    /** For policy primary one row, region '*', since every region gets the primary. */
    regions: Array<{
      region: string;
      list: Array<{ dc: string; state: PairState }>;
      /** Datacenter answered now ('all' when the all-down fallback answers every one). */
      chosen: string;
      /** 'first' = the list's first choice; 'moved' = a later one (failover TTL); 'fallback' = every one down. */
      route: 'first' | 'moved' | 'fallback';
    }>;
  }>;
  primaries: Array<{ service: string; configured: string; current: string; pointer: { dc: string; epoch: number; by: string; reason: string; ageMs: number } | null }>;
  drains: Array<{ service: string; dc: string; reason: string; by: string; leftMs: number; ageMs: number }>;
  /** Newest first. */
  events: Array<StatusEvent & { ageMs: number }>;
  /** The NS hosts registered in Redis (null: no shared table) and this one's published-map state. */
  fleet: FleetJson | null;
}

export interface FleetJson {
  self: FleetView;
  hosts: Array<Omit<FleetHost, 'lastSeen' | 'startedAt'> & { alive: boolean; lastSeenAgeMs: number; behindMs: number; uptimeMs: number }>;
}

/** The registry rows as `geosteer status` and the page show them (ages at the store time NOW). */
export function fleetJson(self: FleetView, hosts: FleetHost[], now: number): FleetJson {
  return {
    self,
    hosts: hosts.map((host) => {
      const { lastSeen, startedAt, ...h } = host;
      return { ...h, alive: hostAlive(host, now), lastSeenAgeMs: Math.max(0, now - lastSeen), behindMs: hostBehindMs(host, now), uptimeMs: Math.max(0, lastSeen - startedAt) };
    }),
  };
}

/** Everything the page shows, as plain JSON. */
export function statusJson(source: StatusSource): StatusJson {
  const { map, router, mirror, reloads } = source;
  const now = Date.now();
  const storeNow = mirror.now();
  const dcs = map.datacenters;
  const stateOf = (service: string, dc: string): PairState => (mirror.isDrained(service, dc) ? 'drained' : mirror.verdictUp(service, dc) ? 'up' : 'down');
  const byPair = new Map<string, PairStatus>(mirror.pairs().map((p) => [`${p.service}|${p.dc}`, p]));

  const pairs: StatusJson['pairs'] = [];
  for (const svc of map.services) {
    svc.addresses.forEach((addr, i) => {
      if (!addr) return;
      const dc = dcs[i].name;
      const p = byPair.get(`${svc.name}|${dc}`);
      const drain = p?.drain ?? mirror.activeDrains().find((d) => d.dc === dc && (d.service === svc.name || d.service === '*')) ?? null;
      pairs.push({
        service: svc.name,
        dc,
        state: stateOf(svc.name, dc),
        verdictUp: mirror.verdictUp(svc.name, dc),
        basis: p && p.votes.length > 0 ? p.verdict.basis : 'none',
        checked: svc.check !== null,
        fresh: p?.verdict.fresh ?? 0,
        down: p?.verdict.down ?? 0,
        drain: drain && { reason: drain.reason, by: drain.by, leftMs: Math.max(0, drain.until - storeNow) },
        votes: (p?.votes ?? [])
          .map((v) => ({ prober: v.prober, up: v.up, ageMs: Math.max(0, storeNow - v.at), fresh: storeNow - v.at <= v.ttlMs, detail: v.detail, latencyMs: v.latencyMs }))
          .sort((a, b) => a.prober.localeCompare(b.prober)),
      });
    });
  }

  const routing: StatusJson['routing'] = map.services.map((svc, s) => {
    const rt = router.tables.services[s];
    const moved = rt.ndc + 1;
    const row = (region: string, r: number, list: number[]): StatusJson['routing'][number]['regions'][number] => {
      const choice = rt.choice[r];
      const dc = choice % moved;
      return {
        region,
        list: list.map((i) => ({ dc: dcs[i].name, state: stateOf(svc.name, dcs[i].name) })),
        chosen: dc === rt.ndc ? 'all' : dcs[dc].name,
        route: rt.fallback[r] === 1 ? 'fallback' : choice >= moved ? 'moved' : 'first',
      };
    };
    const regions =
      svc.policy === 'primary' ? [row('*', 0, [svc.primary, ...svc.standbys])] : map.regions.map((region, r) => row(region.name, r, svc.preference[r]));
    return { service: svc.name, policy: svc.policy, regions };
  });

  const primaries: StatusJson['primaries'] = map.services
    .filter((svc) => svc.policy === 'primary')
    .map((svc) => {
      const p = mirror.primaryPointer(svc.name);
      // Routing ignores a pointer at a datacenter the service is not in (tables.applyHealth); so does the page.
      const at = p ? dcs.findIndex((d) => d.name === p.dc) : -1;
      return {
        service: svc.name,
        configured: dcs[svc.primary].name,
        current: p && at >= 0 && svc.addresses[at] ? p.dc : dcs[svc.primary].name,
        pointer: p && { dc: p.dc, epoch: p.epoch, by: p.by, reason: p.reason, ageMs: Math.max(0, storeNow - p.at) },
      };
    });

  const drains = mirror
    .activeDrains()
    .map((d) => ({ service: d.service, dc: d.dc, reason: d.reason, by: d.by, leftMs: Math.max(0, d.until - storeNow), ageMs: Math.max(0, storeNow - d.at) }))
    .sort((a, b) => a.dc.localeCompare(b.dc) || a.service.localeCompare(b.service));

  const events = source
    .events()
    .reverse()
    .map((e) => ({ ...e, ageMs: Math.max(0, now - e.at) }));

  return {
    now,
    server: {
      id: map.serverId,
      mapVersion: map.version,
      mapFile: map.file,
      reloads: { ok: reloads.ok, failed: reloads.failed, lastError: reloads.lastError, lastAgeMs: reloads.lastAt ? now - reloads.lastAt : null },
    },
    fleet: source.fleet ? fleetJson(source.fleet.view(), source.fleet.fleet().hosts, source.fleet.fleet().now) : null,
    health: {
      store: source.storeKind,
      source: mirror.source,
      connected: mirror.storeConnected,
      syncError: mirror.syncError,
      lastSyncAgeMs: mirror.lastSyncAt ? now - mirror.lastSyncAt : null,
      quorum: String(map.health.quorum),
      invalid: mirror
        .invalidKeys()
        .filter((k) => k.total > 0 || k.current > 0)
        .map((k) => ({ key: k.key, current: k.current, total: k.total, entries: k.entries.map((e) => ({ field: e.field, kind: e.kind, reason: e.reason })) })),
    },
    datacenters: dcs.map((d) => ({ name: d.name, description: d.description })),
    pairs,
    routing,
    primaries,
    drains,
    events,
  };
}

// ---------------------------------------------------------------- /api/explain

/** A bad `/api/explain` query; `parameter` names the one at fault (answered as 400 `{error, parameter}`). */
export class ExplainRequestError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

const EXPLAIN_PARAMS = ['ip', 'name', 'prefix', 'type'];

/** A parameter's text for an error message: short, and printable ASCII only. */
function shown(text: string): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 40 ? `${clean.slice(0, 40)}...` : clean;
}

/**
 * Runs an explanation for `?ip=&name=&prefix=&type=`; throws ExplainRequestError for
 * bad input. Unknown and repeated parameters are errors rather than ignored:
 * `?ip=A&ip=B` or a misspelt `subnet=24` would otherwise explain something
 * other than what was asked, and say nothing.
 */
export function explainQuery(source: StatusSource, params: URLSearchParams): { name: string; lines: string[] } {
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!EXPLAIN_PARAMS.includes(key)) {
      throw new ExplainRequestError(shown(key), `unknown parameter "${shown(key)}" (allowed: ${EXPLAIN_PARAMS.join(', ')})`);
    }
    if (seen.has(key)) throw new ExplainRequestError(key, `${key}: given more than once; give it once`);
    seen.add(key);
  }
  const ipText = (params.get('ip') ?? '').trim();
  if (!ipText) throw new ExplainRequestError('ip', 'ip is required');
  const addr = parseIp(ipText);
  if (!addr) throw new ExplainRequestError('ip', `ip: "${shown(ipText)}" is not an IPv4 or IPv6 address`);
  const map = source.map;
  let name = (params.get('name') ?? '').trim().toLowerCase().replace(/\.$/, '');
  if (!name) name = map.services[0]?.name ?? map.zones[0]?.name ?? '';
  if (name.length > MAX_NAME || !/^[a-z0-9_*.-]+$/.test(name)) throw new ExplainRequestError('name', `name: "${shown(name)}" is not a domain name`);
  const prefixText = (params.get('prefix') ?? '').trim().replace(/^\//, '');
  let prefix: number | null = null;
  if (prefixText) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > addr.length * 8) {
      throw new ExplainRequestError('prefix', `prefix: "${shown(prefixText)}" must be 0..${addr.length * 8} for this address`);
    }
    prefix = Number(prefixText);
  }
  const typeText = (params.get('type') ?? '').trim();
  const qtype = typeText ? qtypeCode(typeText) : 1;
  if (qtype === null) throw new ExplainRequestError('type', `type: "${shown(typeText)}" is not a record type (A, AAAA, MX, TXT, ... or TYPEnnn)`);
  const e = explain(source.router, source.mirror, name, addr, prefix, qtype);
  return { name: e.name, lines: explanationLines(e) };
}

// ---------------------------------------------------------------- the page

const CSS = `
:root{--fg:#1c2430;--muted:#667085;--line:#e3e7ee;--bg:#f6f7f9;--card:#fff;--up:#1a7f37;--upbg:#e6f4ea;--down:#c62828;--downbg:#fdecea;--warn:#9a6700;--warnbg:#fff4d6;--acc:#0b57d0;--accbg:#e8f0fe}
*{box-sizing:border-box}
body{margin:0;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
code,pre,.mono{font-family:ui-monospace,"SFMono-Regular",Menlo,Consolas,"DejaVu Sans Mono",monospace;font-size:12px}
header{background:#1f2937;color:#f3f4f6;padding:10px 20px;display:flex;align-items:baseline;gap:18px}
header .meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 18px}
header h1{font-size:16px;margin:0 8px 0 0;font-weight:600}
header .kv{color:#9ca3af}
header .kv b{color:#f3f4f6;font-weight:500}
header .live{margin-left:auto;color:#9ca3af;white-space:nowrap}
header .live.stale{color:#fca5a5;font-weight:600}
main{display:grid;grid-template-columns:minmax(0,7fr) minmax(0,4fr);gap:16px;padding:16px 20px;align-items:start}
.col{display:flex;flex-direction:column;gap:16px;min-width:0}
section{background:var(--card);border:1px solid var(--line);border-radius:6px;padding:12px 14px}
h2{font-size:13px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:0 0 8px;font-weight:600}
h3{font-size:13px;margin:10px 0 4px;font-weight:600}
h3:first-of-type{margin-top:0}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;vertical-align:top;padding:5px 8px;border-top:1px solid var(--line)}
thead th{border-top:0;color:var(--muted);font-weight:500;font-size:12px}
th small{display:block;font-weight:400}
.badge{display:inline-block;padding:0 6px;border-radius:3px;font-size:11px;font-weight:700;letter-spacing:.03em;line-height:18px}
.b-up{background:var(--upbg);color:var(--up)}
.b-down{background:var(--downbg);color:var(--down)}
.b-drained,.b-moved{background:var(--warnbg);color:var(--warn)}
.b-fallback{background:var(--down);color:#fff}
.b-first{background:#eef0f3;color:var(--muted)}
.b-info{background:var(--accbg);color:var(--acc)}
.note{color:var(--muted);font-size:12px}
.votes{margin:3px 0 0;padding:0;list-style:none;font-size:12px}
.votes li{overflow-wrap:anywhere}
.votes .v-up{color:var(--up)}
.votes .v-down{color:var(--down)}
.votes .stale{color:var(--muted);text-decoration:line-through}
td.na{color:#b0b7c3}
.chain{display:flex;flex-wrap:wrap;gap:4px;align-items:center}
.dc{display:inline-block;padding:0 6px;border:1px solid var(--line);border-radius:3px;line-height:18px}
.dc.s-down{color:var(--down);border-color:#f3b7b2;text-decoration:line-through}
.dc.s-drained{color:var(--warn);border-color:#ecd48a;text-decoration:line-through}
.dc.chosen{background:var(--acc);border-color:var(--acc);color:#fff;font-weight:600;text-decoration:none}
.arrow{color:#b0b7c3}
.empty{color:var(--muted);font-style:italic}
ol.events{list-style:none;margin:0;padding:0;max-height:420px;overflow:auto}
ol.events li{display:grid;grid-template-columns:36px 92px minmax(0,1fr);gap:8px;padding:3px 0;border-top:1px solid var(--line)}
ol.events li:first-child{border-top:0}
ol.events .age{color:var(--muted);text-align:right}
form{display:grid;grid-template-columns:minmax(0,4fr) minmax(0,5fr) minmax(0,2fr) auto;gap:6px;align-items:end}
label{display:flex;flex-direction:column;font-size:12px;color:var(--muted);gap:2px;min-width:0}
input{font:inherit;padding:4px 6px;border:1px solid #c9ced6;border-radius:4px;min-width:0}
button{font:inherit;padding:5px 14px;border:0;border-radius:4px;background:var(--acc);color:#fff;cursor:pointer}
pre#explain-out{margin:10px 0 0;padding:8px 10px;background:#f3f4f6;border-radius:4px;white-space:pre-wrap;min-height:1em}
pre#explain-out.error{background:var(--downbg);color:var(--down)}
pre#explain-out:empty{display:none}
.err{color:var(--down)}
.warn{color:var(--warn)}
section.warning{border-color:#ecd48a;background:var(--warnbg)}
section.warning table{background:var(--card)}
@media (max-width:900px){main{grid-template-columns:1fr}}
`;

// Client script: builds every element with createElement/textContent (names come
// from the map file and are never parsed as HTML). No template literals inside.
const JS = `
(function () {
  'use strict';
  var REFRESH_MS = 2000;
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) if (attrs[k] !== null && attrs[k] !== undefined) {
      if (k === 'class') e.className = attrs[k]; else e.setAttribute(k, String(attrs[k]));
    }
    for (var i = 2; i < arguments.length; i++) add(e, arguments[i]);
    return e;
  }
  function add(parent, c) {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { add(parent, x); }); return; }
    parent.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
  }
  function fill(id) {
    var e = $(id);
    e.replaceChildren();
    for (var i = 1; i < arguments.length; i++) add(e, arguments[i]);
  }
  function dur(ms) {
    var s = Math.round(ms / 1000);
    if (s < 120) return s + 's';
    if (s < 7200) return Math.round(s / 60) + 'm';
    if (s < 172800) return Math.round(s / 3600) + 'h';
    return Math.round(s / 86400) + 'd';
  }
  function badge(kind, text) { return el('span', { class: 'badge b-' + kind }, text); }
  var STATE = { up: 'UP', down: 'DOWN', drained: 'DRAINED' };

  function header(s) {
    var h = s.health, r = s.server.reloads;
    document.title = 'geosteer status: ' + s.server.id;
    fill('meta',
      el('h1', null, 'geosteer \\u00b7 ' + s.server.id),
      el('span', { class: 'kv' }, 'map ', el('b', { class: 'mono', title: s.server.mapFile }, s.server.mapVersion)),
      el('span', { class: 'kv' }, 'health ', el('b', null, h.store + ' / ' + h.source),
        !h.connected ? el('b', { class: 'err' }, ' (store unreachable)') :
        h.syncError ? el('b', { class: 'err' }, ' (store error)') :
        unreadable(s) ? el('b', { class: 'warn' }, ' (' + unreadable(s) + ' unreadable entries)') : ''),
      el('span', { class: 'kv' }, 'synced ', el('b', null, h.lastSyncAgeMs === null ? 'never' : dur(h.lastSyncAgeMs) + ' ago')),
      el('span', { class: 'kv' }, 'quorum ', el('b', null, h.quorum)),
      el('span', { class: 'kv', title: r.lastError || '' }, 'reloads ', el('b', null, r.ok + ' ok, ' + r.failed + ' failed'),
        r.lastAgeMs === null ? '' : ' (last ' + dur(r.lastAgeMs) + ' ago)'));
  }

  function unreadable(s) {
    return s.health.invalid.reduce(function (n, k) { return n + k.current; }, 0);
  }

  function storeWarnings(s) {
    var h = s.health;
    var bad = h.invalid.filter(function (k) { return k.current > 0; });
    $('store-warnings').hidden = bad.length === 0 && !h.syncError;
    var SHOW = 5;
    fill('store-warnings-body',
      h.syncError ? el('p', { class: 'err' }, 'The store answered the last full read with an error (it is reachable; answering from the last known state): ' + h.syncError) : null,
      bad.length ? el('table', null,
        el('thead', null, el('tr', null, el('th', null, 'key'), el('th', null, 'skipped'), el('th', null, 'what is wrong'))),
        el('tbody', null, bad.map(function (k) {
          return el('tr', { 'data-key': k.key, 'data-current': k.current },
            el('td', { class: 'mono' }, k.key),
            el('td', null, String(k.current), el('div', { class: 'note' }, k.total + ' since start')),
            el('td', null, el('ul', { class: 'votes' }, k.entries.slice(0, SHOW).map(function (e) {
              return el('li', { 'data-kind': e.kind }, e.field === null ? null : el('span', { class: 'mono' }, e.field + ': '), e.reason + ' (' + e.kind + ')');
            }), k.current > SHOW ? el('li', { class: 'note' }, '\u2026 and ' + (k.current - SHOW) + ' more') : null)));
        }))) : null,
      bad.length ? el('div', { class: 'note' }, 'Skipped entries keep what was last read from them; everything else applies. Fix or delete them in Redis.') : null);
  }

  function health(s) {
    var byKey = {};
    s.pairs.forEach(function (p) { byKey[p.service + '|' + p.dc] = p; });
    var services = s.routing.map(function (r) { return r.service; });
    var head = el('tr', null, el('th', null, 'service'), s.datacenters.map(function (d) {
      return el('th', { title: d.description }, d.name, d.description ? el('small', null, d.description) : null);
    }));
    var rows = services.map(function (svc) {
      return el('tr', null, el('th', { class: 'mono' }, svc), s.datacenters.map(function (d) {
        var p = byKey[svc + '|' + d.name];
        if (!p) return el('td', { class: 'na' }, '\\u2014');
        var note = p.basis === 'none' ? (p.checked ? 'no votes yet' : 'no check') :
          p.basis === 'last-known' ? 'no fresh votes: last known' : p.down + '/' + p.fresh + ' votes down';
        if (p.state === 'drained') note = 'probers say ' + (p.verdictUp ? 'up' : 'down') + ' \u00b7 ' + note;
        return el('td', { class: 'pair', 'data-service': p.service, 'data-dc': p.dc, 'data-state': p.state, 'data-basis': p.basis },
          badge(p.state, STATE[p.state]), el('div', { class: 'note' }, note),
          p.drain ? el('div', { class: 'note' }, dur(p.drain.leftMs) + ' left: ' + p.drain.reason) : null,
          p.votes.length ? el('ul', { class: 'votes' }, p.votes.map(function (v) {
            return el('li', { title: v.detail + ' (' + v.latencyMs + ' ms)' },
              el('span', { class: (v.up ? 'v-up' : 'v-down') + (v.fresh ? '' : ' stale') }, (v.up ? '\\u2713 ' : '\\u2717 ') + v.prober),
              ' ', el('span', { class: 'note' }, dur(v.ageMs) + ' \\u00b7 ' + v.detail));
          })) : null);
      }));
    });
    fill('health-body', el('table', null, el('thead', null, head), el('tbody', null, rows)));
  }

  function routing(s) {
    var ROUTE = { first: 'first choice', moved: 'moved', fallback: 'all down: fallback' };
    fill('routing-body', s.routing.map(function (svc) {
      return [el('h3', null, el('span', { class: 'mono' }, svc.service), ' ', el('span', { class: 'note' }, 'policy ' + svc.policy)),
        el('table', null,
          el('thead', null, el('tr', null, el('th', null, 'region'), el('th', null, 'preference (chosen highlighted)'), el('th', null, 'answer'), el('th', null, ''))),
          el('tbody', null, svc.regions.map(function (r) {
            var chain = [];
            r.list.forEach(function (d, i) {
              if (i) chain.push(el('span', { class: 'arrow' }, '\\u203a'));
              var chosen = r.chosen === d.dc || r.chosen === 'all';
              chain.push(el('span', { class: 'dc s-' + d.state + (chosen ? ' chosen' : ''), title: d.dc + ': ' + d.state }, d.dc));
            });
            return el('tr', { 'data-service': svc.service, 'data-region': r.region, 'data-chosen': r.chosen, 'data-route': r.route },
              el('td', null, r.region === '*' ? el('span', { class: 'note' }, 'every region') : r.region),
              el('td', null, el('div', { class: 'chain' }, chain)),
              el('td', { class: 'mono' }, el('b', null, r.chosen)),
              el('td', null, badge(r.route, ROUTE[r.route])));
          })))];
    }));
  }

  function primaries(s) {
    $('primaries').hidden = s.primaries.length === 0;
    fill('primaries-body', el('table', null,
      el('thead', null, el('tr', null, el('th', null, 'service'), el('th', null, 'primary'), el('th', null, 'pointer'))),
      el('tbody', null, s.primaries.map(function (p) {
        return el('tr', { 'data-service': p.service, 'data-primary': p.current },
          el('td', { class: 'mono' }, p.service),
          el('td', null, el('b', null, p.current), p.current === p.configured ? ' (as configured)' : ' (configured ' + p.configured + ')'),
          el('td', { class: 'note' }, p.pointer ? 'set ' + dur(p.pointer.ageMs) + ' ago by ' + p.pointer.by + ' (epoch ' + p.pointer.epoch + '): ' + p.pointer.reason : 'none written'));
      }))));
  }

  function drains(s) {
    fill('drains-body', s.drains.length === 0 ? el('div', { class: 'empty' }, 'none') : el('table', null,
      el('thead', null, el('tr', null, el('th', null, 'datacenter'), el('th', null, 'service'), el('th', null, 'left'), el('th', null, 'reason'))),
      el('tbody', null, s.drains.map(function (d) {
        return el('tr', { 'data-dc': d.dc, 'data-service': d.service },
          el('td', null, el('b', null, d.dc)),
          el('td', { class: 'mono' }, d.service === '*' ? 'every service' : d.service),
          el('td', null, dur(d.leftMs)),
          el('td', null, d.reason, el('div', { class: 'note' }, 'by ' + d.by + ', ' + dur(d.ageMs) + ' ago')));
      }))));
  }

  function events(s) {
    var KIND = { up: 'up', down: 'down', drain: 'drained', undrain: 'info', primary: 'moved', reload: 'info', 'reload-failed': 'down', 'store-down': 'down', 'store-up': 'up',
      'store-invalid': 'drained', 'store-valid': 'up', 'sync-error': 'down', 'sync-ok': 'up' };
    fill('events-body', s.events.length === 0 ? el('div', { class: 'empty' }, 'nothing since start') : el('ol', { class: 'events' },
      s.events.map(function (e) {
        return el('li', { 'data-kind': e.kind }, el('span', { class: 'age' }, dur(e.ageMs)), el('span', null, badge(KIND[e.kind] || 'info', e.kind)), el('span', null, e.text));
      })));
  }

  function fleet(s) {
    var f = s.fleet;
    $('fleet').hidden = !f;
    if (!f) return;
    var me = f.self;
    fill('fleet-body',
      me.follows ? el('p', null, 'this server runs published version ', el('b', null, String(me.servingVersion)), ', current is ', el('b', null, me.currentVersion === null ? 'none' : String(me.currentVersion)),
        me.behindMs > 0 ? el('b', { class: 'warn' }, ' (behind for ' + dur(me.behindMs) + ')') : '',
        me.refused ? el('div', { class: 'err' }, 'version ' + me.refused.version + ' refused here: ' + me.refused.message) : '') :
        el('p', { class: 'note' }, 'this server runs its own map file'),
      f.hosts.length === 0 ? el('div', { class: 'empty' }, 'no host registered yet') : el('table', null,
        el('thead', null, el('tr', null, el('th', null, 'host'), el('th', null, 'state'), el('th', null, 'map'), el('th', null, 'seen'))),
        el('tbody', null, f.hosts.map(function (h) {
          var map = h.mapSource === 'published' ? 'v' + h.mapVersion + ' ' : 'file ';
          return el('tr', { 'data-host': h.id, 'data-alive': String(h.alive) },
            el('td', null, el('b', null, h.id), el('div', { class: 'note mono' }, h.addresses.join(' '))),
            el('td', null, badge(h.alive ? (h.ready ? 'up' : 'drained') : 'down', h.alive ? (h.ready ? 'serving' : 'not ready') : 'gone')),
            el('td', { class: 'mono' }, map + h.mapHash, h.behindMs > 0 ? el('div', { class: 'warn' }, 'behind for ' + dur(h.behindMs)) : null,
              h.mapError ? el('div', { class: 'err' }, 'refused v' + h.mapError.version + ': ' + h.mapError.message) : null),
            el('td', null, dur(h.lastSeenAgeMs) + ' ago'));
        }))));
  }

  var lastOk = 0;
  function render(s) {
    header(s); storeWarnings(s); health(s); routing(s); fleet(s); primaries(s); drains(s); events(s);
    lastOk = Date.now();
    tick();
  }
  function tick(err) {
    var live = $('live');
    var stale = Date.now() - lastOk > 3 * REFRESH_MS;
    live.className = 'live' + (stale || err ? ' stale' : '');
    live.textContent = err ? 'refresh failed: ' + err + (lastOk ? ' (data ' + dur(Date.now() - lastOk) + ' old)' : '') : 'updated ' + new Date(lastOk).toLocaleTimeString();
  }
  function refresh() {
    fetch('api/status', { cache: 'no-store' })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); })
      .then(render, function (e) { tick(e.message || String(e)); })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  $('explain-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var q = new URLSearchParams();
    ['ip', 'name', 'prefix'].forEach(function (k) { var v = $('explain-' + k).value.trim(); if (v) q.set(k, v); });
    var out = $('explain-out');
    out.className = '';
    out.textContent = 'asking\\u2026';
    fetch('api/explain?' + q.toString(), { cache: 'no-store' })
      .then(function (r) { return r.json(); })
      .then(function (body) {
        if (body.error) { out.className = 'error'; out.textContent = body.error; }
        else out.textContent = body.lines.join('\\n');
      }, function (e) { out.className = 'error'; out.textContent = String(e); });
  });

  render(JSON.parse($('initial-status').textContent));
  setTimeout(refresh, REFRESH_MS);
})();
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
/** Only this page's own inline script and style may run; it may fetch only from its own origin. */
const CSP = [
  "default-src 'none'",
  `script-src ${sha256(JS)}`,
  `style-src ${sha256(CSS)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);
/** JSON safe inside a <script> element: no `</script>`, no `<!--`, no line separators JS would choke on. */
export const jsonForScript = (value: unknown): string =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

/** The whole page, with the current status embedded so it renders without waiting for the first poll. */
export function statusPageHtml(status: StatusJson): string {
  const defaultName = status.routing[0]?.service ?? '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>geosteer status: ${escapeHtml(status.server.id)}</title>
<style>${CSS}</style>
</head>
<body>
<header><div class="meta" id="meta"><h1>geosteer &middot; ${escapeHtml(status.server.id)}</h1></div><span class="live" id="live"></span></header>
<noscript><p class="err">This page needs JavaScript; the same data is at <a href="api/status">api/status</a>.</p></noscript>
<main>
<div class="col">
<section id="store-warnings" class="warning" hidden><h2>Health store: unreadable entries</h2><div id="store-warnings-body"></div></section>
<section id="health"><h2>Health: verdicts and votes</h2><div id="health-body"></div></section>
<section id="routing"><h2>Routing: region &rarr; datacenter</h2><div id="routing-body"></div></section>
<section id="events"><h2>Recent changes <span class="note">(newest first, last ${EVENT_RING})</span></h2><div id="events-body"></div></section>
</div>
<div class="col">
<section id="explain"><h2>Explain a client</h2>
<form id="explain-form" autocomplete="off">
<label>client IP<input id="explain-ip" name="ip" required placeholder="183.6.0.1"></label>
<label>name<input id="explain-name" name="name" placeholder="${escapeHtml(defaultName)}"></label>
<label>prefix<input id="explain-prefix" name="prefix" inputmode="numeric" placeholder="none"></label>
<button type="submit">Explain</button>
</form>
<pre id="explain-out" aria-live="polite"></pre>
</section>
<section id="fleet" hidden><h2>Fleet: name servers and map versions</h2><div id="fleet-body"></div></section>
<section id="primaries"><h2>Primary pointers</h2><div id="primaries-body"></div></section>
<section id="drains"><h2>Drains</h2><div id="drains-body"></div></section>
</div>
</main>
<script id="initial-status" type="application/json">${jsonForScript(status)}</script>
<script>${JS}</script>
</body>
</html>
`;
}

// ---------------------------------------------------------------- routes

const COMMON_HEADERS = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(body));
}

/** `/` (the page), `/api/status` (its data), `/api/explain?ip=&name=&prefix=&type=`. */
export function statusRoutes(source: StatusSource): Route[] {
  return [
    {
      path: '/',
      handler(_req, res) {
        const html = statusPageHtml(statusJson(source));
        res
          .writeHead(200, { ...COMMON_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-security-policy': CSP, 'referrer-policy': 'no-referrer' })
          .end(html);
      },
    },
    {
      path: '/api/status',
      handler(_req, res) {
        sendJson(res, 200, statusJson(source));
      },
    },
    {
      path: '/api/explain',
      handler(_req, res, url) {
        try {
          sendJson(res, 200, explainQuery(source, url.searchParams));
        } catch (err) {
          if (err instanceof ExplainRequestError) sendJson(res, 400, { error: err.message, parameter: err.parameter });
          else throw err;
        }
      },
    },
  ];
}
