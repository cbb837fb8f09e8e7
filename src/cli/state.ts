import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { StateDocError } from '../common/errors';
import { parseDurationMs } from '../config/duration';
import {
  describeRedis,
  FleetStore,
  hostAlive,
  mergeStates,
  parseBundle,
  parseStateDoc,
  RedisStore,
  stateFromSnapshot,
  type PublishedMap,
  type RestoreLine,
  type StateDoc,
} from '../health';
import { adminTokenFromEnv } from '../observability';
import { operator } from './operator';
import { requireRedis, UsageError, type RedisArgValues } from './redis-args';
import { parseVerbArgs } from './verbs';

type Out = (s: string) => void;

/** Snapshot files older than this are not trusted as a recovery source unless --max-age says otherwise. */
const DEFAULT_MAX_AGE_MS = 10 * 60_000;
const FETCH_TIMEOUT_MS = 3000;

const ago = (ms: number): string => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : ms < 172_800_000 ? `${Math.round(ms / 3_600_000)} h` : `${Math.round(ms / 86_400_000)} d`);
const when = (at: number): string => new Date(at).toISOString().replace(/\.\d+Z$/, 'Z');

/** Both stores of one Redis, ready, closed after F. */
async function withStores<T>(values: RedisArgValues, verb: string, f: (health: RedisStore, fleet: FleetStore, where: string) => Promise<T>): Promise<T> {
  const redis = requireRedis(values, verb);
  const health = new RedisStore(redis);
  const fleet = new FleetStore(redis);
  try {
    await Promise.all([health.whenReady(), fleet.whenReady()]);
    return await f(health, fleet, describeRedis(redis));
  } finally {
    await Promise.all([health.close(), fleet.close()]);
  }
}

/** Everything the table holds, as one document (export). */
async function readState(health: RedisStore, fleet: FleetStore, where: string, err: Out): Promise<StateDoc> {
  const snap = await health.loadAll();
  for (const e of snap.invalid ?? []) err(`skipped unreadable ${e.key}${e.field ? ` field ${e.field}` : ''}: ${e.reason}`);
  const [leader, audit, history] = await Promise.all([health.leader(), health.auditLog(1000), fleet.history()]);
  const versions: PublishedMap[] = [];
  for (const v of history.versions) {
    const p = await fleet.get(v.version).catch((e: Error) => (err(`skipped map version ${v.version}: ${e.message}`), null));
    if (p) versions.push(p);
  }
  return {
    geosteer: 'state',
    format: 1,
    source: `redis ${where}`,
    at: snap.now,
    drains: snap.drains,
    primaries: snap.primaries,
    epoch: leader.epoch,
    audit,
    maps: { current: history.current, versions: versions.reverse() },
  };
}

/** Atomic (temp file + rename), owner-only: the document holds every published map. */
function writeAtomic(path: string, text: string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.tmp`);
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Writes DOC into the table, fenced (RESTORE, RESTORE_MAPS); the lines say what was (or would be) written. */
async function restoreInto(health: RedisStore, fleet: FleetStore, doc: StateDoc, dryRun: boolean): Promise<RestoreLine[]> {
  const lines = await health.restore({ drains: doc.drains, primaries: doc.primaries, epoch: doc.epoch, audit: doc.audit }, dryRun);
  return [...lines, ...(await fleet.restoreMaps(doc.maps.versions, doc.maps.current, dryRun))];
}

function printPlan(lines: RestoreLine[], doc: StateDoc, dryRun: boolean, out: Out): number {
  const detail = (l: RestoreLine): string => {
    if (l.what === 'drain') {
      const d = doc.drains.find((x) => `${x.service}|${x.dc}` === l.key);
      return d ? `  (${d.dc} for ${d.service === '*' ? 'every service' : d.service} until ${when(d.until)}, by ${d.by}: ${d.reason})` : '';
    }
    if (l.what === 'primary') {
      const p = doc.primaries.find((x) => x.service === l.key);
      return p ? `  (-> ${p.dc}, epoch ${p.epoch}, by ${p.by}, ${when(p.at)})` : '';
    }
    return '';
  };
  const w = Math.max(...lines.map((l) => l.what.length), 0);
  for (const l of lines) out(`  ${l.result === 'write' ? (dryRun ? 'would write' : 'wrote') : l.result}  ${l.what.padEnd(w)}  ${l.key}${l.result === 'write' ? detail(l) : ''}`);
  const wrote = lines.filter((l) => l.result === 'write').length;
  out(`${wrote} ${dryRun ? 'to write' : 'written'}, ${lines.length - wrote} skipped${dryRun ? ' (dry run: nothing written; run again without --dry-run to write)' : ''}`);
  return wrote;
}

const summary = (d: StateDoc): string => {
  const maps = d.maps.versions.map((v) => v.version);
  return `${d.drains.length} drain${d.drains.length === 1 ? '' : 's'}, ${d.primaries.length} pointer${d.primaries.length === 1 ? '' : 's'}, ${maps.length ? `map version ${maps.join(', ')}` : 'no published map'}${d.maps.current !== null ? ` (current ${d.maps.current})` : ''}`;
};

/** `geosteer state export [FILE]` and `geosteer state import FILE [--dry-run]`. */
export async function stateCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values, positionals } = parseVerbArgs('state', args);
  const [action, file] = positionals;
  if (action === 'export') {
    if (values['dry-run']) throw new UsageError('--dry-run is for state import');
    return withStores(values, 'state export', async (health, fleet, where) => {
      const doc = await readState(health, fleet, where, err);
      const text = JSON.stringify(doc, null, 2) + '\n';
      if (file === undefined || file === '-') out(text.trimEnd());
      else {
        writeAtomic(file, text);
        err(`exported ${summary(doc)}, ${doc.audit.length} audit entries from ${where} to ${file}`);
      }
      return 0;
    });
  }
  if (action !== 'import') throw new UsageError(`ACTION must be export or import, not "${action}"`);
  if (file === undefined) throw new UsageError('state import needs FILE (a geosteer state export)');
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return withStores(values, 'state import', async (health, fleet, where) => {
    const doc = parseStateDoc(text, file, await health.now());
    const dryRun = values['dry-run'] === true;
    out(`${dryRun ? 'would import' : 'importing'} ${summary(doc)} from ${file} (${doc.source}, taken ${when(doc.at)}) into ${where}:`);
    const wrote = printPlan(await restoreInto(health, fleet, doc, dryRun), doc, dryRun, out);
    if (!dryRun) await health.audit({ action: 'state-import', by: values.by ?? operator(), from: file, source: doc.source, wrote });
    return 0;
  });
}

/** One place recover may read from: a serve's admin port (URL) or a file (export or snapshot). */
interface Source {
  label: string;
  doc: StateDoc | null;
  /** Why it was not used. */
  skipped?: string;
}

async function fromUrl(url: string, token: string | null, storeNow: number): Promise<Source> {
  const u = new URL(url);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/api/state';
  try {
    const r = await fetch(u, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!r.ok) return { label: u.href, doc: null, skipped: `HTTP ${r.status}${r.status === 401 ? ' (set GEOSTEER_ADMIN_TOKEN)' : ''}` };
    const doc = parseStateDoc(await r.text(), u.href, storeNow);
    return { label: `${doc.source} at ${u.href}`, doc };
  } catch (e) {
    return { label: u.href, doc: null, skipped: (e as Error).name === 'TimeoutError' ? `no answer within ${FETCH_TIMEOUT_MS} ms` : (e as Error).message };
  }
}

/** The published-map copy a serve keeps beside its health snapshot (geosteer-ID-map.json). */
function copyBeside(snapshot: string): PublishedMap | null {
  const path = snapshot.replace(/-health\.json$/, '-map.json');
  if (path === snapshot) return null;
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as PublishedMap;
    const bundle = parseBundle(JSON.stringify(v.bundle));
    return typeof bundle === 'string' || !Number.isInteger(v.version) ? null : { ...v, bundle };
  } catch {
    return null;
  }
}

function fromFile(path: string, maxAgeMs: number, storeNow: number): Source {
  let text: string;
  try {
    if (!statSync(path).isFile()) return { label: path, doc: null, skipped: 'not a regular file' };
    text = readFileSync(path, 'utf8');
  } catch (e) {
    return { label: path, doc: null, skipped: (e as Error).message };
  }
  try {
    if (/"geosteer"\s*:\s*"state"/.test(text.slice(0, 200))) {
      const doc = parseStateDoc(text, path, storeNow);
      return { label: `${doc.source} (file ${path})`, doc };
    }
    const doc = stateFromSnapshot(text, path, copyBeside(path), storeNow);
    const age = Date.now() - doc.savedAt;
    if (age > maxAgeMs) return { label: `snapshot ${path}`, doc: null, skipped: `saved ${ago(age)} ago, older than --max-age ${ago(maxAgeMs)}` };
    return { label: `snapshot ${path} (saved ${ago(Math.max(0, age))} ago)`, doc };
  } catch (e) {
    return { label: path, doc: null, skipped: e instanceof StateDocError ? e.message.replace(`${path}: `, '') : (e as Error).message };
  }
}

/** Each registered host's admin port (a wildcard listen address is reached at the host's first DNS address). */
function adminUrl(admin: string, addresses: string[]): string | null {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(admin);
  if (!m) return null;
  let host = m[1];
  if (host === '0.0.0.0' || host === '[::]') {
    const first = addresses[0] ? /^(\[[^\]]+\]|[^:]+):\d+$/.exec(addresses[0]) : null;
    if (!first || first[1] === '0.0.0.0' || first[1] === '[::]') return null;
    host = first[1];
  }
  return `http://${host}:${m[2]}/api/state`;
}

/**
 * `geosteer recover [--dry-run] [--from URL|FILE]...`: rebuilds a Redis that
 * came back empty from what the fleet still holds: each serve's /api/state
 * (the registered hosts, or --from URL), snapshot files on this host
 * (`$TMPDIR/geosteer-*-health.json` and their map copies, or --from FILE),
 * exports. Merged (mergeStates), shown, then written fenced: nothing newer in
 * the table is overwritten, no expired drain comes back.
 */
export async function recoverCommand(args: string[], out: Out, err: Out): Promise<number> {
  const { values } = parseVerbArgs('recover', args);
  const maxAgeMs = values['max-age'] === undefined ? DEFAULT_MAX_AGE_MS : parseDurationMs(values['max-age']);
  if (maxAgeMs === null || maxAgeMs <= 0) throw new UsageError(`--max-age must be a duration such as 10m, not "${values['max-age']}"`);
  const dryRun = values['dry-run'] === true;
  return withStores(values, 'recover', async (health, fleet, where) => {
    const storeNow = await health.now();
    const token = adminTokenFromEnv();
    const sources: Source[] = [];
    const given = values.from ?? [];
    for (const f of given) sources.push(/^https?:\/\//.test(f) ? await fromUrl(f, token, storeNow) : fromFile(f, maxAgeMs, storeNow));
    if (given.length === 0) {
      // The fleet re-registers within a beat (5 s) of Redis coming back: each host's admin port, then this host's files.
      const reg = await fleet.hosts();
      const urls = reg.hosts.filter((h) => hostAlive(h, reg.now) && h.admin).map((h) => adminUrl(h.admin ?? '', h.addresses));
      sources.push(...(await Promise.all(urls.filter((u): u is string => u !== null).map((u) => fromUrl(u, token, storeNow)))));
      let names: string[] = [];
      try {
        names = readdirSync(tmpdir()).filter((n) => /^geosteer-.+-health\.json$/.test(n));
      } catch {
        names = [];
      }
      sources.push(...names.sort().map((n) => fromFile(join(tmpdir(), n), maxAgeMs, storeNow)));
      if (reg.hosts.length === 0) err('no serve is registered yet (each re-registers within 5 s of Redis coming back); reading the files on this host');
    }
    out(`recover ${where}${dryRun ? ' (dry run)' : ''} from:`);
    for (const s of sources) out(`  ${s.doc ? 'use ' : 'skip'}  ${s.label}${s.doc ? `: ${summary(s.doc)}` : `: ${s.skipped}`}`);
    const used = sources.filter((s): s is Source & { doc: StateDoc } => s.doc !== null);
    if (used.length === 0) {
      err(`recover: no usable source${given.length ? '' : ' (give --from URL|FILE: a serve admin port, a snapshot, a state export)'}; nothing written`);
      return 1;
    }
    const { doc, notes } = mergeStates(
      used.map((s) => s.doc),
      storeNow,
    );
    for (const n of notes) out(`note: ${n}`);
    out(dryRun ? 'would write:' : 'writing:');
    const wrote = printPlan(await restoreInto(health, fleet, doc, dryRun), doc, dryRun, out);
    if (!dryRun) await health.audit({ action: 'recover', by: values.by ?? operator(), sources: used.map((s) => s.doc.source), wrote });
    return 0;
  });
}
