import { ConfigError, PublishedMapError, type ConfigIssue } from '../common/errors';
import { loadMapBundle, loadMapFile, type MapConfig } from '../config';
import { describeRedis, FleetStore } from '../health';
import { GeoClassifier, GeoDatabase, staleReason } from '../geo';
import { describeSpill, hasCapacity, planSpill } from '../routing/spill';
import { countMovingSlash24, diffMaps, ruleOwners, sameRegionRules, type MapDiff, type MovePair, type MovingSlash24 } from '../routing/diff';
import { mapErrorText } from './map-error';
import { requireRedis } from './redis-args';
import { parseVerbArgs } from './verbs';

export interface CheckOptions {
  /** The map that is live now: also validated, then compared with FILE. */
  against?: string;
  /** The same, already loaded (the published map): LABEL names it in the output. */
  againstMap?: { label: string; map: MapConfig };
  /** One JSON object on stdout instead of text (errors still go to stderr as text too). */
  json?: boolean;
  /** `--simulate-down DC[,DC...]`: the capacity plan with these datacenters down. */
  simulateDown?: string[];
}

/**
 * `geosteer check FILE [--against OLD|current] [--json]` from its arguments; throws UsageError (exit 2) on
 * bad usage. `--against current` compares with the map published in Redis (a file named "current": ./current).
 */
export async function checkCommand(args: string[], out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const { values, positionals } = parseVerbArgs('check', args);
  const json = values.json === true;
  const simulateDown = typeof values['simulate-down'] === 'string' ? values['simulate-down'].split(',').filter(Boolean) : undefined;
  if (values.against !== 'current') return check(positionals[0], out, err, { against: values.against, json, simulateDown });
  const redis = requireRedis(values, 'check --against current');
  const fleet = new FleetStore(redis);
  let published;
  try {
    await fleet.whenReady();
    published = await fleet.current();
  } finally {
    await fleet.close();
  }
  if (!published) throw new PublishedMapError(`nothing is published in Redis at ${describeRedis(redis)} yet: geosteer publish FILE first`);
  const label = `published version ${published.version} (${published.bundle.path})`;
  return check(positionals[0], out, err, { againstMap: { label, map: loadMapBundle(published.bundle) }, json });
}

export interface Loaded {
  file: string;
  map: MapConfig;
  db: GeoDatabase;
}

/** Loads a map and opens its GeoIP database (shared through `dbs` when two maps name the same one). */
function load(file: string, dbs: Map<string, GeoDatabase>, issues: ConfigIssue[], err: (s: string) => void): Loaded | null {
  let map: MapConfig;
  try {
    map = loadMapFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(mapErrorText(e));
      for (const i of e.issues) issues.push(i);
      return null;
    }
    throw e;
  }
  return withGeo(file, map, dbs, issues, err);
}

/** A loaded map with its GeoIP database opened, or null (reported) when the database does not open here. */
export function withGeo(file: string, map: MapConfig, dbs: Map<string, GeoDatabase>, issues: ConfigIssue[], err: (s: string) => void): Loaded | null {
  const paths = GeoDatabase.pathsFor(map.geoDatabase, map.geoDatabaseIpv6);
  const key = paths.join('\n');
  let db = dbs.get(key);
  if (!db) {
    try {
      db = GeoDatabase.open(paths);
    } catch (e) {
      const message = `geoip.database: ${(e as Error).message}`;
      err(`${file}: ${message}`);
      issues.push({ file, line: 0, col: 0, path: 'geoip.database', message: (e as Error).message });
      return null;
    }
    dbs.set(key, db);
  }
  return { file, map, db };
}

/**
 * `geosteer check FILE`: everything `serve` does before it binds sockets
 * (like gdnsd's checkconf), then the region -> datacenter table. Exit 0 iff
 * the map is valid and its GeoIP database opens. With `against`, OLD is
 * validated too (exit 1 if it is not) and the output is what changes from OLD
 * to FILE: region lists, rules, services, and how much of IPv4 moves.
 */
export function check(file: string, out: (s: string) => void, err: (s: string) => void, options: CheckOptions = {}): number {
  const dbs = new Map<string, GeoDatabase>();
  const issues: ConfigIssue[] = [];
  const cur = load(file, dbs, issues, err);
  const comparing = options.against !== undefined || options.againstMap !== undefined;
  const old = options.againstMap
    ? withGeo(options.againstMap.label, options.againstMap.map, dbs, issues, err)
    : options.against === undefined
      ? null
      : load(options.against, dbs, issues, err);
  if (!cur || (comparing && !old)) {
    if (options.json) out(JSON.stringify({ ok: false, errors: issues }, null, 2));
    return 1;
  }
  if (old) {
    compare(old, cur, out, options.json === true);
    return 0;
  }
  const map = cur.map;
  const unknown = (options.simulateDown ?? []).filter((d) => !map.datacenters.some((x) => x.name === d));
  if (unknown.length) {
    err(`${file}: --simulate-down: unknown datacenter ${unknown.join(', ')} (known: ${map.datacenters.map((d) => d.name).join(', ')})`);
    return 1;
  }
  if (options.json) {
    out(JSON.stringify({ ...summary(cur), capacity: capacityJson(map, options.simulateDown ?? []) }, null, 2));
    return 0;
  }
  out(`${file}: OK (version ${map.version})`);
  out(`geoip: ${cur.db.description}`);
  for (const w of asnWarnings(map)) err(`${file}: warning: ${w}`);
  const stale = staleReason(cur.db, map.geoMaxAgeMs);
  if (stale) err(`${file}: warning: ${stale}`);
  if (map.asn) out(renderAsnTable(map.asn));
  out(`${map.datacenters.length} datacenters, ${map.regions.length} regions, ${map.zones.length} zones, ${map.services.length} services\n`);
  out(renderRegionTable(map));
  for (const line of capacityLines(map, options.simulateDown ?? null)) out(line);
  return 0;
}

/** A datacenter's planned load against its capacity: "bj 51.4/60 (86%)". */
function loadText(name: string, load: number, capacity: number): string {
  const n = (x: number): string => String(Math.round(x * 10) / 10);
  return `${name} ${n(load)}/${n(capacity)} (${capacity > 0 ? Math.round((100 * load) / capacity) : 0}%)`;
}

/**
 * Services with `capacity:`: the healthy load, then the spill planned for each single datacenter failure
 * ("if gz fails: south -> bj 43%, sg 57%"); with --simulate-down, the split and load with those down.
 */
export function capacityLines(map: MapConfig, down: string[] | null): string[] {
  const out: string[] = [];
  const names = map.datacenters.map((d) => d.name);
  const regions = map.regions.map((r) => r.name);
  const shares = map.regions.map((r) => r.share ?? 0);
  for (const svc of map.services) {
    if (!hasCapacity(svc)) continue;
    const dcs = svc.addresses.flatMap((a, i) => (a ? [i] : []));
    const loads = (plan: NonNullable<ReturnType<typeof planSpill>>, gone: Set<number>): string =>
      dcs.map((i) => loadText(names[i], plan.load[i], plan.capacity[i]) + (gone.has(i) ? ' down' : '')).join(', ');
    const healthy = planSpill(svc, svc.preference, shares, () => true);
    if (!healthy) continue;
    out.push('', `capacity ${svc.name} (region shares and datacenter capacities from the map):`);
    out.push(`  healthy: ${loads(healthy, new Set())}`);
    if (down === null) {
      for (const dc of dcs) {
        const plan = planSpill(svc, svc.preference, shares, (d) => d !== dc);
        if (!plan) continue;
        const spill = describeSpill(plan, regions, names);
        out.push(`  if ${names[dc]} fails: ${spill.length ? spill.join('; ') : 'no region has it first'}${plan.short ? ' (SHORT: over capacity)' : ''}`);
      }
      continue;
    }
    const gone = new Set(down.map((d) => names.indexOf(d)));
    const plan = planSpill(svc, svc.preference, shares, (d) => !gone.has(d));
    if (!plan) continue;
    out.push(`  simulate down ${down.join(', ')}:`);
    for (const line of describeSpill(plan, regions, names)) out.push(`    ${line}`);
    out.push(`    load: ${loads(plan, gone)}`);
    if (plan.short) out.push('    SHORT: the spare capacity of some lists is less than their share; the rest goes to the first live datacenter');
  }
  return out;
}

function capacityJson(map: MapConfig, down: string[]): unknown[] {
  const names = map.datacenters.map((d) => d.name);
  const shares = map.regions.map((r) => r.share ?? 0);
  const gone = new Set(down.map((d) => names.indexOf(d)));
  return map.services.filter(hasCapacity).map((svc) => {
    const plan = planSpill(svc, svc.preference, shares, (d) => !gone.has(d));
    return {
      service: svc.name,
      down,
      short: plan?.short ?? false,
      load: Object.fromEntries(svc.addresses.flatMap((a, i) => (a ? [[names[i], { load: plan?.load[i] ?? 0, capacity: plan?.capacity[i] ?? 0 }]] : []))),
      spill: Object.fromEntries(
        (plan?.regions ?? []).flatMap((split, r) => (split ? [[map.regions[r].name, Object.fromEntries(split.map((x) => [names[x.dc], x.fraction]))]] : [])),
      ),
    };
  });
}

/** An AS number that matches no block routes nobody: a typo, or a database without it. */
function asnWarnings(map: MapConfig): string[] {
  return (map.asn?.rules ?? [])
    .filter((a) => a.v4Blocks + a.v6Blocks === 0)
    .map((a) => `AS${a.asn} (region ${a.region}${a.group ? `, group ${a.group}` : ''}) matches no block in the ASN database ${map.asn?.description ?? ''}`);
}

/** Per AS number of the map: its organisation, region and how many blocks of the ASN database it matched. */
export function renderAsnTable(asn: NonNullable<MapConfig['asn']>): string {
  const rows = [['ASN', 'ORGANISATION', 'GROUP', 'REGION', 'IPV4 BLOCKS', 'IPV6 BLOCKS']];
  for (const a of asn.rules) rows.push([`AS${a.asn}`, shorten(a.org || '-', 40), a.group ?? '-', a.region, String(a.v4Blocks), String(a.v6Blocks)]);
  return `asn: ${asn.description}\n${table(rows)}\n`;
}

/** A valid map as JSON: what the text table shows. */
function summary(l: Loaded): Record<string, unknown> {
  const map = l.map;
  const dc = (i: number): string => map.datacenters[i].name;
  return {
    ok: true,
    file: l.file,
    version: map.version,
    geoip: { database: map.geoDatabase, files: l.db.paths, description: l.db.description, built: new Date(l.db.buildEpoch * 1000).toISOString(), stale: staleReason(l.db, map.geoMaxAgeMs) },
    ...(map.asn ? { asn: { database: map.asn.database, description: map.asn.description, rules: map.asn.rules, warnings: asnWarnings(map) } } : {}),
    datacenters: map.datacenters.map((d) => d.name),
    regions: map.regions.map((r) => ({ name: r.name, datacenters: r.datacenters.map(dc) })),
    rules: Object.fromEntries(ruleOwners(map.rules)),
    zones: map.zones.map((z) => z.name),
    services: map.services.map((s) => ({
      name: s.name,
      policy: s.policy,
      ttl: s.ttl,
      failoverTtl: s.failoverTtl,
      fallback: s.fallback,
      ...(s.policy === 'primary' ? { primary: dc(s.primary), standbys: s.standbys.map(dc) } : {}),
      regions: Object.fromEntries(map.regions.map((r, i) => [r.name, s.preference[i].map(dc)])),
    })),
  };
}


const ms = (t: number): string => `${(t / 1000).toFixed(2)} s`;

/** NEW against OLD: the diff, the /24s that move, and how long it took. */
function compare(old: Loaded, cur: Loaded, out: (s: string) => void, json: boolean): void {
  const t0 = performance.now();
  const oldC = new GeoClassifier(old.db, old.map.rules, { cacheSize: 0 });
  // An edit that leaves the regions and rules alone (lists, services) needs only one trie.
  const shared = old.db === cur.db && sameRegionRules(old.map, cur.map);
  const curC = new GeoClassifier(cur.db, cur.map.rules, { cacheSize: 0, trie: shared ? oldC.regionTrie : undefined });
  const t1 = performance.now();
  const diff = diffMaps(old.map, cur.map);
  const moving = countMovingSlash24(old.map, oldC, cur.map, curC);
  const t2 = performance.now();
  const timing = { trieBuildMs: Math.round(t1 - t0), triesBuilt: shared ? 1 : 2, walkMs: Math.round(t2 - t1), totalMs: Math.round(t2 - t0) };
  if (json) {
    out(
      JSON.stringify(
        {
          ok: true,
          new: { file: cur.file, version: cur.map.version, geoip: { database: cur.map.geoDatabase, description: cur.db.description } },
          old: { file: old.file, version: old.map.version, geoip: { database: old.map.geoDatabase, description: old.db.description } },
          diff,
          moving,
          timing,
        },
        null,
        2,
      ),
    );
    return;
  }
  const map = cur.map;
  out(`${cur.file}: OK (version ${map.version})`);
  out(`against ${old.file}: OK (version ${old.map.version})`);
  if (old.db === cur.db) out(`geoip: ${cur.db.description} (both maps)`);
  else {
    out(`geoip: the maps use different databases; each map's addresses are located with its own`);
    out(`  new: ${cur.db.description} (${cur.db.path})`);
    out(`  old: ${old.db.description} (${old.db.path})`);
  }
  out(`${map.datacenters.length} datacenters, ${map.regions.length} regions, ${map.zones.length} zones, ${map.services.length} services\n`);
  out(renderDiff(diff, moving));
  out(`\n/24s counted exactly over all of IPv4 (a /24 split by a smaller network counts the part that moves).`);
  out(
    `${timing.triesBuilt} region trie${timing.triesBuilt > 1 ? 's' : ''} built in ${ms(timing.trieBuildMs)}; ` +
      `diff and walk (${moving.blocks.toLocaleString('en-US')} blocks) ${ms(timing.walkMs)}`,
  );
  // The new map's planned spill, so an edit of capacities or shares is seen before it goes live.
  for (const line of capacityLines(map, null)) out(line);
}

function fmt24(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

function pct(n: number, total: number): string {
  const p = (n / total) * 100;
  return p > 0 && p < 0.005 ? '<0.01%' : `${p.toFixed(2)}%`;
}

const TOP_PAIRS = 10;

function pairLines(pairs: MovePair[], total: number, indent: string): string[] {
  const rows = pairs.slice(0, TOP_PAIRS).map((p) => [`${p.from} -> ${p.to}`, fmt24(p.slash24), `(${pct(p.slash24, total)} of these)`]);
  const lines = rows.length ? table(rows).split('\n').map((l) => indent + l) : [];
  if (pairs.length > TOP_PAIRS) lines.push(`${indent}... and ${pairs.length - TOP_PAIRS} more pairs`);
  return lines;
}

/** The text report of `check NEW --against OLD`. */
export function renderDiff(diff: MapDiff, moving: MovingSlash24): string {
  const lines: string[] = [];
  const list = (l: string[] | null): string => (l === null ? '-' : l.join(' > '));
  if (!diff.changed) lines.push('No changes: every region, rule and service is the same.');
  if (diff.datacenters.added.length) lines.push(`datacenters added: ${diff.datacenters.added.join(' ')}`);
  if (diff.datacenters.removed.length) lines.push(`datacenters removed: ${diff.datacenters.removed.join(' ')}`);

  lines.push('regions (datacenters in order):');
  const rrows = [['REGION', 'OLD', 'NEW', 'CHANGE']];
  for (const r of diff.regions) rrows.push([r.region, list(r.old), list(r.new), r.change === 'same' ? '' : r.change === 'changed' ? 'order changed' : r.change]);
  lines.push(table(rrows).split('\n').map((l) => `  ${l}`).join('\n'));

  if (diff.rules.length) {
    lines.push('rules that change region:');
    lines.push(table(diff.rules.map((r) => [r.rule, `${r.old ?? '(none)'} -> ${r.new ?? '(none)'}`])).split('\n').map((l) => `  ${l}`).join('\n'));
  } else lines.push('rules: unchanged');

  const moves = new Map(moving.services.map((s) => [s.service, s]));
  for (const s of diff.services) {
    if (s.change === 'added' || s.change === 'removed') {
      lines.push(`\nservice ${s.service}: ${s.change} (no /24 count)`);
      continue;
    }
    const m = moves.get(s.service);
    const via = m && m.slash24 > 0 ? '; its clients move with the region rules or GeoIP data' : '';
    lines.push(`\nservice ${s.service}: ${s.change === 'same' ? `settings and region lists unchanged${via}` : 'changed'}`);
    for (const f of s.fields) lines.push(`  ${f.field}: ${f.old} -> ${f.new}`);
    for (const r of s.regions) {
      const what = r.oldDc === null ? 'region added' : r.newDc === null ? 'region removed' : r.moved ? `moves ${r.oldDc} -> ${r.newDc}` : `still ${r.newDc}; failover order only`;
      lines.push(`  region ${r.region}: ${list(r.old)} -> ${list(r.new)} (${what})`);
    }
    if (m) {
      lines.push(`  /24s moving: ${fmt24(m.slash24)} (${pct(m.slash24, moving.totalSlash24)} of IPv4)`);
      lines.push(...pairLines(m.pairs, m.slash24, '    '));
    }
  }

  lines.push(`\n/24s changing region: ${fmt24(moving.regionSlash24)} (${pct(moving.regionSlash24, moving.totalSlash24)} of IPv4)`);
  lines.push(...pairLines(moving.regionPairs, moving.regionSlash24, '  '));
  return lines.join('\n');
}

/** The table operators read before a map goes live: who matches each region and where it is sent. */
export function renderRegionTable(map: MapConfig): string {
  const dc = (i: number): string => map.datacenters[i].name;
  const rows: string[][] = [['REGION', 'MATCHES', 'DATACENTERS (in order)']];
  map.regions.forEach((reg, i) => {
    const r = map.rules;
    const keys = (m: Map<string, number>): string[] => [...m].filter(([, v]) => v === i).map(([k]) => k);
    const matches = [
      ...r.cidrs.filter((c) => c.region === i).map((c) => `cidr ${formatCidr(c.cidr.bytes, c.cidr.prefix)}`),
      ...(r.asn ? [...r.asn.regions].filter(([, v]) => v === i).map(([k]) => `AS${k}`) : []),
      ...keys(r.subdivisions),
      ...keys(r.countries).map((k) => `country ${k}`),
      ...keys(r.continents).map((k) => `continent ${k}`),
      ...(r.defaultRegion === i ? ['(default)'] : []),
    ];
    rows.push([reg.name, shorten(matches.join(' '), 60), reg.datacenters.map(dc).join(' > ')]);
  });
  const lines = [table(rows)];
  for (const svc of map.services) {
    const c = svc.check;
    const check = c ? `${c.type} check every ${c.intervalMs / 1000}s, down after ${c.fall}, up after ${c.rise}` : 'no check: always up unless drained';
    if (svc.policy === 'primary') {
      lines.push(`\nservice ${svc.name} (ttl ${svc.ttl}s, failover ttl ${svc.failoverTtl}s, ${check})`);
      lines.push(`every region -> primary ${dc(svc.primary)} (standbys ${svc.standbys.map(dc).join(' > ')}, hold-down ${svc.holdDownMs / 1000}s)`);
      continue;
    }
    lines.push(`\nservice ${svc.name} (ttl ${svc.ttl}s, failover ttl ${svc.failoverTtl}s, fallback ${svc.fallback}, ${check})`);
    const srows: string[][] = [['REGION', 'DATACENTERS (in order)']];
    map.regions.forEach((reg, i) => srows.push([reg.name, svc.preference[i].map(dc).join(' > ')]));
    lines.push(table(srows));
  }
  return lines.join('\n');
}

function formatCidr(bytes: Uint8Array, prefix: number): string {
  if (bytes.length === 4) return `${[...bytes].join('.')}/${prefix}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return `${groups.join(':')}/${prefix}`;
}

function shorten(s: string, max: number): string {
  return s.length > max ? s.slice(0, max - 3) + '...' : s;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}
