import { ConfigError } from '../common/errors';
import { loadMapFile, type MapConfig } from '../config';
import { GeoDatabase } from '../geo';

/**
 * `geosteer check FILE`: everything `serve` does before it binds sockets
 * (like gdnsd's checkconf), then the region -> datacenter table. Exit 0 iff
 * the map is valid and its GeoIP database opens.
 */
export function check(file: string, out: (s: string) => void, err: (s: string) => void): number {
  let map: MapConfig;
  try {
    map = loadMapFile(file);
  } catch (e) {
    if (e instanceof ConfigError) {
      err(e.message);
      return 1;
    }
    throw e;
  }
  let dbText: string;
  try {
    const db = GeoDatabase.open(map.geoDatabase === 'default' ? GeoDatabase.defaultPath() : map.geoDatabase);
    dbText = db.description;
  } catch (e) {
    err(`${file}: geoip.database: ${(e as Error).message}`);
    return 1;
  }
  out(`${file}: OK (version ${map.version})`);
  out(`geoip: ${dbText}`);
  out(`${map.datacenters.length} datacenters, ${map.regions.length} regions, ${map.zones.length} zones, ${map.services.length} services\n`);
  out(renderRegionTable(map));
  return 0;
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
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n');
}
