import { loadMapFile, type MapConfig } from '../config';
import { computeVerdict, describeRedis, FleetStore, pairKey, RedisStore, type HealthSnapshot, type Quorum, type RedisConnectionOptions, type Vote } from '../health';
import { fleetJson } from '../observability/status-page';
import type { FleetView } from '../observability';
import { ControlClient } from './control-client';
import { redisOrServer } from './redis-args';

/** `status` reads the registry from outside: it is no member, so its own view is empty. */
const NO_VIEW: FleetView = { follows: false, servingVersion: null, currentVersion: null, behindMs: 0, rejected: 0, refused: null, hosts: { alive: 0, gone: 0, behind: 0 } };
import { parseVerbArgs } from './verbs';

interface StatusRow {
  service: string;
  dc: string;
  verdict: 'up' | 'down' | 'unknown';
  drained: { until: number; reason: string; by: string } | null;
  votes: Array<{ prober: string; up: boolean; ageMs: number; fresh: boolean; detail: string }>;
}

/** Rows for every (service, datacenter) of the map, plus any the table has votes for. */
export function statusRows(snap: HealthSnapshot, map: MapConfig | null, quorum: Quorum, known: Array<[string, string]> = []): StatusRow[] {
  const pairs = new Map<string, [string, string]>();
  for (const s of map?.services ?? []) s.addresses.forEach((a, i) => a && pairs.set(pairKey(s.name, map?.datacenters[i].name ?? ''), [s.name, map?.datacenters[i].name ?? '']));
  for (const [service, dc] of known) pairs.set(pairKey(service, dc), [service, dc]);
  for (const v of snap.votes) pairs.set(pairKey(v.service, v.dc), [v.service, v.dc]);
  const rows: StatusRow[] = [];
  for (const [k, [service, dc]] of pairs) {
    const votes: Vote[] = snap.votes.filter((v) => pairKey(v.service, v.dc) === k);
    const verdict = computeVerdict(votes, snap.now, quorum, true);
    const drain = snap.drains.find((d) => d.dc === dc && (d.service === service || d.service === '*') && d.until > snap.now) ?? null;
    rows.push({
      service,
      dc,
      verdict: verdict.basis === 'last-known' ? 'unknown' : verdict.up ? 'up' : 'down',
      drained: drain && { until: drain.until, reason: drain.reason, by: drain.by },
      votes: votes.map((v) => ({ prober: v.prober, up: v.up, ageMs: snap.now - v.at, fresh: snap.now - v.at <= v.ttlMs, detail: v.detail })),
    });
  }
  return rows.sort((a, b) => a.service.localeCompare(b.service) || a.dc.localeCompare(b.dc));
}

const age = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)}s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)}m` : `${Math.round(ms / 3_600_000)}h`);

/** What status prints, from Redis or from one server's admin port. */
interface StatusData {
  where: string;
  snap: HealthSnapshot;
  leader: { holder: string | null; epoch: number };
  audit: Array<Record<string, unknown>>;
  quorum: Quorum;
  rows: StatusRow[];
  /** The fleet registry and the published map; null for one server's embedded table. */
  fleet: { hosts: ReturnType<typeof fleetJson>['hosts']; published: { current: number | null; kept: number; latest: { version: number; hash: string; at: number; by: string; reason: string } | null } } | null;
}

async function fromRedis(redis: RedisConnectionOptions, map: MapConfig | null): Promise<StatusData> {
  const quorum = map?.health.quorum ?? 'majority';
  const store = new RedisStore(redis);
  const fleetStore = new FleetStore(redis);
  try {
    await Promise.all([store.whenReady(), fleetStore.whenReady()]);
    const [snap, leader, audit, registry, history] = await Promise.all([store.loadAll(), store.leader(), store.auditLog(10), fleetStore.hosts(), fleetStore.history()]);
    const hosts = fleetJson(NO_VIEW, registry.hosts, registry.now).hosts;
    const published = { current: history.current, kept: history.versions.length, latest: history.versions.find((v) => v.version === history.current) ?? null };
    return { where: describeRedis(redis), snap, leader, audit, quorum, rows: statusRows(snap, map, quorum), fleet: { hosts, published } };
  } finally {
    await store.close();
    await fleetStore.close();
  }
}

async function fromServer(server: string | undefined, map: MapConfig | null): Promise<StatusData> {
  const client = new ControlClient(server);
  const t = await client.table();
  const quorum = map?.health.quorum ?? t.quorum;
  return { where: `embedded, ${client.where}`, snap: t.snapshot, leader: t.leader, audit: t.audit, quorum, rows: statusRows(t.snapshot, map, quorum, t.pairs), fleet: null };
}

/** `geosteer status [--config FILE] [--json]`: datacenters x services, votes per prober, drains, primaries, leader. */
export async function statusCommand(args: string[], out: (s: string) => void): Promise<number> {
  const { values } = parseVerbArgs('status', args);
  const redis = redisOrServer(values);
  const map = values.config ? loadMapFile(values.config) : null;
  const d = redis ? await fromRedis(redis, map) : await fromServer(values.server, map);
  const { snap, leader, audit, quorum, rows } = d;
  const drains = snap.drains.filter((x) => x.until > snap.now);
  if (values.json) {
    const source = redis ? { redis: describeRedis(redis) } : { server: d.where };
    out(JSON.stringify({ ...source, now: snap.now, leader, pairs: rows, primaries: snap.primaries, drains, published: d.fleet?.published ?? null, hosts: d.fleet?.hosts ?? [], audit, invalid: snap.invalid ?? [] }, null, 2));
    return 0;
  }
  out(`health table: ${d.where}   leader: ${leader.holder ?? '(none)'} (epoch ${leader.epoch})   quorum: ${quorum}\n`);
  const table: string[][] = [['SERVICE', 'DC', 'VERDICT', 'DRAIN', 'VOTES (prober state age detail)']];
  for (const r of rows) {
    const drain = r.drained ? `until +${age(r.drained.until - snap.now)} (${r.drained.reason})` : '-';
    const votes = r.votes.map((v) => `${v.prober} ${v.up ? 'up' : 'DOWN'} ${age(v.ageMs)}${v.fresh ? '' : ' (stale)'} "${v.detail}"`).join('; ') || '-';
    table.push([r.service, r.dc, r.drained && r.verdict !== 'down' ? 'drained' : r.verdict, drain, votes]);
  }
  const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
  for (const row of table) out(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]))).join('  '));
  out('\nprimary pointers:');
  if (!snap.primaries.length) out('  (none written; each service uses the primary in its map)');
  for (const p of snap.primaries) out(`  ${p.service} -> ${p.dc}   set ${age(snap.now - p.at)} ago by ${p.by} (epoch ${p.epoch}): ${p.reason}`);
  out('\ndrains:');
  if (!drains.length) out('  (none)');
  for (const x of drains) out(`  ${x.dc} for ${x.service === '*' ? 'every service' : x.service}, ${age(x.until - snap.now)} left, by ${x.by}: ${x.reason}`);
  if (d.fleet) fleetLines(d.fleet, snap.now, out);
  if (snap.invalid?.length) {
    out('\nunreadable entries (skipped; everything else applies):');
    for (const e of snap.invalid) out(`  ${e.key}${e.field === null ? '' : ` field "${e.field}"`}: ${e.reason} (${e.kind})`);
  }
  if (audit.length) {
    out('\nrecent operator actions and failovers:');
    for (const a of audit) out(`  ${age(snap.now - Number(a.at))} ago  ${JSON.stringify({ ...a, at: undefined })}`);
  }
  return 0;
}

function fleetLines(fleet: NonNullable<StatusData['fleet']>, now: number, out: (s: string) => void): void {
  const { hosts, published } = fleet;
  out('\nname servers (fleet registry):');
  const cur = published.latest;
  out(`  published map: ${cur ? `version ${cur.version} (hash ${cur.hash}), published ${age(now - cur.at)} ago by ${cur.by}${cur.reason ? `: ${cur.reason}` : ''}` : '(none: geosteer publish FILE)'}`);
  if (!hosts.length) {
    out('  (no serve registered)');
    return;
  }
  const t: string[][] = [['  HOST', 'STATE', 'MAP', 'BEHIND', 'SEEN', 'GEOIP', 'LISTEN']];
  for (const h of hosts) {
    const state = !h.alive ? 'gone' : h.ready ? 'serving' : 'not ready';
    const map = h.mapSource === 'published' ? `v${h.mapVersion} ${h.mapHash}` : `file ${h.mapHash}`;
    t.push([`  ${h.id}`, state, map, h.behindMs > 0 ? age(h.behindMs) : '-', `${age(h.lastSeenAgeMs)} ago`, h.geoip, h.addresses.join(' ')]);
  }
  const w = t[0].map((_, c) => Math.max(...t.map((row) => row[c].length)));
  for (const row of t) out(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(w[c]))).join('  '));
  for (const h of hosts) if (h.mapError) out(`  ${h.id} refused published version ${h.mapError.version}: ${h.mapError.message}`);
}
