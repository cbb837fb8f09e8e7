import { parseIp } from '../common/ip';
import { loadMapFile, normalizeName } from '../config';
import { GeoClassifier, GeoDatabase } from '../geo';
import { HealthMirror, MemoryStore } from '../health';
import { explain, explanationLines, qtypeCode, Router, type Explanation } from '../routing';
import { UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

/**
 * `geosteer explain IP [NAME] [--type TYPE] [--config FILE] [--subnet PREFIXLEN] [--json]`: the answer `serve` would give and the decision behind it
 * for a client, offline: the map (default geodata/map.yaml), its GeoIP database, and a health table
 * in which every datacenter is up and nothing is drained (no Redis). Without --subnet, IP is taken as the
 * resolver's address (scope 0); with it, as the ECS subnet IP/PREFIXLEN. NAME defaults to every service,
 * TYPE to A. The answer (NXDOMAIN, NODATA, REFUSED outside the zones, a referral, records) is what the
 * router's query path returns for that query, read back from the reply bytes.
 * Exit 0, 1 for a bad map or database, 2 for bad usage (an invalid IP, name or type).
 */
export function explainCommand(args: string[], defaultConfig: string, out: (s: string) => void): number {
  const { values, positionals } = parseVerbArgs('explain', args);
  const [ipText, rawName] = positionals;
  const addr = parseIp(ipText);
  if (!addr) throw new UsageError(`"${ipText}" is not an IPv4 or IPv6 address`);
  const bits = addr.length * 8;
  let prefix: number | null = null;
  if (values.subnet !== undefined) {
    const t = values.subnet.replace(/^\//, '');
    prefix = /^\d{1,3}$/.test(t) ? Number(t) : NaN;
    if (!(prefix >= 1 && prefix <= bits)) throw new UsageError(`--subnet must be a prefix length from 1 to ${bits} for ${ipText}, not "${values.subnet}"`);
  }

  const qtype = values.type === undefined ? 1 : qtypeCode(values.type);
  if (qtype === null) throw new UsageError(`--type: "${values.type}" is not a record type (A, AAAA, CNAME, MX, TXT, NS, SOA, SRV, CAA, PTR, DS, ANY or TYPEnnn)`);

  const file = values.config ?? defaultConfig;
  const map = loadMapFile(file); // ConfigError: exit 1 with every problem
  let names: string[];
  if (rawName !== undefined) {
    const name = normalizeName(rawName);
    if (name === null) throw new UsageError(`"${rawName}" is not a valid domain name`);
    names = [name];
  } else {
    names = map.services.length ? map.services.map((s) => s.name) : map.zones.map((z) => z.name);
  }

  const db = GeoDatabase.open(GeoDatabase.pathsFor(map.geoDatabase, map.geoDatabaseIpv6)); // GeoDbError: exit 1
  const classifier = new GeoClassifier(db, map.rules);
  // Offline: a fresh table, so every datacenter is up and nothing is drained. start() is never called: no timers.
  const health = new HealthMirror(new MemoryStore(), { quorum: map.health.quorum, snapshotPath: null });
  const router = new Router(map, classifier, health);
  let explanations: Explanation[];
  try {
    explanations = names.map((n) => explain(router, health, n, addr, prefix, qtype));
  } finally {
    router.detach();
    health.stop();
  }

  if (values.json) {
    out(
      JSON.stringify(
        { map: file, version: map.version, geoip: db.description, health: 'offline: every datacenter up, no drains', explanations },
        null,
        2,
      ),
    );
    return 0;
  }
  out(`# offline: ${file} (version ${map.version}), ${db.description}, every datacenter up, no drains`);
  out(explanations.map((e) => explanationLines(e).join('\n')).join('\n\n'));
  return 0;
}
