import { PublishedMapError } from '../common/errors';
import { loadMapBundle, readMapBundle } from '../config';
import { DEFAULT_KEEP_VERSIONS, describeRedis, FleetStore, type MapVersionInfo } from '../health';
import { withGeo } from './check';
import { operator } from './operator';
import { requireRedis, UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

type Out = (s: string) => void;

const when = (at: number): string => new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');

async function withFleet<T>(values: Parameters<typeof requireRedis>[0], verb: string, f: (fleet: FleetStore, where: string) => Promise<T>): Promise<T> {
  const redis = requireRedis(values, verb);
  const fleet = new FleetStore(redis);
  try {
    await fleet.whenReady();
    return await f(fleet, describeRedis(redis));
  } finally {
    await fleet.close();
  }
}

/**
 * `geosteer publish FILE`: the same validation as `check` (the map, every
 * zone file, the GeoIP database opening here), then one atomic store of the
 * exact bytes validated as the next version, made current.
 */
export async function publishCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerbArgs('publish', args);
  const keep = values.keep === undefined ? DEFAULT_KEEP_VERSIONS : Number(values.keep);
  if (!Number.isInteger(keep) || keep < 1 || keep > 1000) throw new UsageError('--keep must be a whole number from 1 to 1000');
  requireRedis(values, 'publish'); // a usage error before the map is read
  const { map, bundle } = readMapBundle(positionals[0]);
  if (!withGeo(positionals[0], map, new Map(), [], err)) return 1;
  return withFleet(values, 'publish', async (fleet, where) => {
    const before = await fleet.currentVersion();
    const r = await fleet.publish(bundle, { by: values.by ?? operator(), reason: values.reason ?? '' }, keep);
    if (!r.created) out(`${positionals[0]}: already current as version ${r.version} (hash ${bundle.hash}); nothing stored`);
    else out(`published ${positionals[0]} as version ${r.version} (hash ${bundle.hash}, ${Object.keys(bundle.files).length} zone files) to ${where}; current was ${before ?? '(none)'}`);
    return 0;
  });
}

/** `geosteer history`: every kept version, newest first, * on current. */
export async function historyCommand(args: string[], out: Out): Promise<number> {
  const { values } = parseVerbArgs('history', args);
  return withFleet(values, 'history', async (fleet, where) => {
    const h = await fleet.history();
    if (values.json) {
      out(JSON.stringify({ redis: where, ...h }, null, 2));
      return 0;
    }
    if (!h.versions.length) {
      out(`nothing published in ${where} yet (geosteer publish FILE)`);
      return 0;
    }
    const rows = [['', 'VERSION', 'PUBLISHED (UTC)', 'HASH', 'BY', 'REASON']];
    for (const v of h.versions) rows.push([v.version === h.current ? '*' : '', String(v.version), when(v.at), v.hash, v.by, v.reason]);
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    for (const r of rows) out(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd());
    return 0;
  });
}

/** The newest kept version older than current: what `rollback` with no VERSION returns to. */
function previousOf(current: number | null, versions: MapVersionInfo[]): number | null {
  return versions.find((v) => current === null || v.version < current)?.version ?? null;
}

/** `geosteer rollback [VERSION]`: current moves to an older stored version, if it still loads. */
export async function rollbackCommand(args: string[], out: Out): Promise<number> {
  const { values, positionals } = parseVerbArgs('rollback', args);
  const asked = positionals[0] === undefined ? null : Number(positionals[0].replace(/^v/, ''));
  if (asked !== null && (!Number.isInteger(asked) || asked < 1)) throw new UsageError(`VERSION must be a version number from geosteer history, not "${positionals[0]}"`);
  return withFleet(values, 'rollback', async (fleet) => {
    const h = await fleet.history();
    const target = asked ?? previousOf(h.current, h.versions);
    if (target === null) throw new PublishedMapError(`no version older than ${h.current ?? '(none)'} is kept; nothing to roll back to`);
    if (target === h.current) {
      out(`version ${target} is already current`);
      return 0;
    }
    const p = await fleet.get(target);
    if (!p) throw new PublishedMapError(`version ${target} is not stored (geosteer history lists the versions kept)`);
    loadMapBundle(p.bundle); // still a valid map under this build's rules, or ConfigError (exit 1)
    const r = await fleet.rollback(target, { by: values.by ?? operator(), reason: values.reason ?? '' }, h.current);
    out(`current is now version ${r.version} (hash ${p.hash}, published ${when(p.at)} by ${p.by}); was ${r.previous ?? '(none)'}`);
    return 0;
  });
}
