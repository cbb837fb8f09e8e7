import { StateDocError } from '../common/errors';
import type { PublishedMap } from './fleet-model';
import { parseBundle, parseVersionInfo } from './fleet-store';
import { drainKey, type Drain, type PrimaryPointer } from './model';
import { parseDrain, parsePrimary } from './validate';

/**
 * The whole shared state as one JSON document: what `geosteer state export`
 * writes, `state import` and `recover` write back, and each serve offers on
 * its admin port (`/api/state`) from its mirror and its published-map copy.
 * Times are ms on the store clock (Redis TIME) of the table it came from.
 */
export interface StateDoc {
  geosteer: 'state';
  format: 1;
  /** Where it was taken: `redis HOST:PORT`, `serve ID`, `snapshot PATH`. */
  source: string;
  /** When it was taken (store clock), ms. */
  at: number;
  drains: Drain[];
  primaries: PrimaryPointer[];
  /** The fencing counter (leader lease epoch); 0 when unknown. */
  epoch: number;
  /** Audit entries, newest first (only a Redis export has them). */
  audit: Array<Record<string, unknown>>;
  /** Published map versions held, and which one was current (null: unknown or none). */
  maps: { current: number | null; versions: PublishedMap[] };
}


export function emptyState(source: string, at: number): StateDoc {
  return { geosteer: 'state', format: 1, source, at, drains: [], primaries: [], epoch: 0, audit: [], maps: { current: null, versions: [] } };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Reads a state document (an export, a serve's /api/state) and checks every
 * entry as the mirror checks Redis (validate.ts): one bad entry rejects the
 * whole document with WHERE and the entry, so an import never half-trusts a file.
 */
export function parseStateDoc(text: string, where: string, storeNow: number): StateDoc {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StateDocError(`${where}: not JSON`);
  }
  if (!isObj(v) || v.geosteer !== 'state') throw new StateDocError(`${where}: not a geosteer state document (no "geosteer": "state")`);
  if (v.format !== 1) throw new StateDocError(`${where}: format ${JSON.stringify(v.format)} is not one this geosteer reads (1)`);
  const list = (name: string): unknown[] => {
    const x = v[name];
    if (x === undefined) return [];
    if (!Array.isArray(x)) throw new StateDocError(`${where}: "${name}" is not a list`);
    return x;
  };
  const drains = list('drains').map((d, i) => {
    const r = parseDrain(JSON.stringify(d), storeNow);
    if (!r.ok) throw new StateDocError(`${where}: drains[${i}] ${r.reason}`);
    return r.value;
  });
  const primaries = list('primaries').map((p, i) => {
    const r = parsePrimary(JSON.stringify(p), storeNow);
    if (!r.ok) throw new StateDocError(`${where}: primaries[${i}] ${r.reason}`);
    return r.value;
  });
  const audit = list('audit').filter(isObj);
  const maps = isObj(v.maps) ? v.maps : {};
  const versions = (Array.isArray(maps.versions) ? maps.versions : []).map((m, i) => {
    const info = parseVersionInfo(JSON.stringify(m));
    const bundle = isObj(m) ? parseBundle(JSON.stringify(m.bundle)) : 'missing';
    if (!info || typeof bundle === 'string') throw new StateDocError(`${where}: maps.versions[${i}] is not a published map${typeof bundle === 'string' ? ` (${bundle})` : ''}`);
    return { ...info, bundle };
  });
  const current = Number.isInteger(maps.current) && (maps.current as number) > 0 ? (maps.current as number) : null;
  const epoch = Number.isInteger(v.epoch) && (v.epoch as number) >= 0 ? (v.epoch as number) : 0;
  return {
    geosteer: 'state',
    format: 1,
    source: typeof v.source === 'string' ? v.source : where,
    at: typeof v.at === 'number' ? v.at : 0,
    drains,
    primaries,
    epoch,
    audit,
    maps: { current, versions },
  };
}

/** What a merge chose, and where it saw a conflict (said to the operator before anything is written). */
export interface MergedState {
  doc: StateDoc;
  notes: string[];
}

// By the time the table wrote it: epochs restart from 1 when Redis comes back empty, so a
// newer leader's pointer can carry a smaller epoch than the one it replaced.
const newer = (a: PrimaryPointer, b: PrimaryPointer): boolean => a.at > b.at || (a.at === b.at && a.epoch > b.epoch);

/**
 * One state from several sources (each serve's view, snapshot files, an
 * export): per drain and per pointer the latest written (`at`), the highest epoch, every map version any source holds, and as
 * current the version most sources saw as current (ties: the higher), else
 * the highest version held. Which drain is still running is not decided
 * here: the store does that on its own clock when it writes (RESTORE).
 */
export function mergeStates(docs: StateDoc[], at: number): MergedState {
  const notes: string[] = [];
  const drains = new Map<string, Drain>();
  const primaries = new Map<string, PrimaryPointer>();
  const versions = new Map<number, PublishedMap>();
  const currentVotes = new Map<number, number>();
  let epoch = 0;
  let audit: Array<Record<string, unknown>> = [];
  for (const d of docs) {
    for (const x of d.drains) {
      const k = drainKey(x.service, x.dc);
      const cur = drains.get(k);
      if (!cur || x.at > cur.at) drains.set(k, x);
    }
    for (const p of d.primaries) {
      const cur = primaries.get(p.service);
      if (cur && cur.dc !== p.dc && cur.epoch === p.epoch && cur.at === p.at) notes.push(`pointer ${p.service}: two sources disagree at the same epoch and time (${cur.dc}, ${p.dc}); kept ${cur.dc}`);
      if (!cur || newer(p, cur)) primaries.set(p.service, p);
      epoch = Math.max(epoch, p.epoch);
    }
    epoch = Math.max(epoch, d.epoch);
    if (d.audit.length > audit.length) audit = d.audit;
    for (const m of d.maps.versions) {
      const cur = versions.get(m.version);
      if (!cur) versions.set(m.version, m);
      else if (cur.hash !== m.hash) notes.push(`map version ${m.version}: sources hold different content (${cur.hash} kept, ${m.hash} from ${d.source} ignored)`);
    }
    if (d.maps.current !== null) currentVotes.set(d.maps.current, (currentVotes.get(d.maps.current) ?? 0) + 1);
  }
  const held = [...currentVotes.entries()].filter(([v]) => versions.has(v)).sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  for (const [v] of currentVotes) if (!versions.has(v)) notes.push(`map version ${v} was current for some source, but no source holds its content`);
  const highest = Math.max(0, ...versions.keys());
  const current = held.length > 0 ? held[0][0] : highest > 0 ? highest : null;
  const doc: StateDoc = {
    geosteer: 'state',
    format: 1,
    source: `merge of ${docs.length} source${docs.length === 1 ? '' : 's'}`,
    at,
    drains: [...drains.values()].sort((a, b) => drainKey(a.service, a.dc).localeCompare(drainKey(b.service, b.dc))),
    primaries: [...primaries.values()].sort((a, b) => a.service.localeCompare(b.service)),
    epoch,
    audit,
    maps: { current, versions: [...versions.values()].sort((a, b) => a.version - b.version) },
  };
  return { doc, notes };
}

/** A mirror snapshot file (`geosteer-ID-health.json`) as a state document; `copy` is its published-map copy, if any. */
export function stateFromSnapshot(text: string, path: string, copy: PublishedMap | null, storeNow: number): StateDoc & { savedAt: number } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new StateDocError(`${path}: not JSON`);
  }
  if (!isObj(v) || !Array.isArray(v.drains) || !Array.isArray(v.primaries)) throw new StateDocError(`${path}: not a geosteer health snapshot`);
  // Older snapshots kept what Redis lost apart from the table; both count.
  const lost = isObj(v.lost) ? v.lost : {};
  const drains = [...v.drains, ...(Array.isArray(lost.drains) ? lost.drains : [])];
  const primaries = [...v.primaries, ...(Array.isArray(lost.primaries) ? lost.primaries : [])];
  const doc = parseStateDoc(JSON.stringify({ geosteer: 'state', format: 1, source: `snapshot ${path}`, drains, primaries, maps: { current: null, versions: copy ? [copy] : [] } }), path, storeNow);
  const savedAt = typeof v.savedAt === 'number' ? v.savedAt : 0;
  return { ...doc, at: savedAt, savedAt };
}
