import { createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { ConfigError, type ConfigIssue } from '../common/errors';
import { runChild, type Spawner } from '../common/worker';
import type { loadMapBundle, MapConfig } from '../config';
import { unpackTables } from './pack';
import { readPackedFile, tableBytes, type PackedFile } from './pack-file';
import { buildServices, type RoutingTables } from './tables';
import type { Validity, ZoneKey } from '../dnssec';
import type { ZoneTransfer } from './transfer';

/**
 * A map version loaded and built off the answering thread: a worker thread
 * parses and validates the map and its zone files, builds every answer and
 * packs the tables into typed arrays that are transferred, not copied
 * (pack.ts). What is left for the answering thread is wiring the services'
 * live state to the packed answers: microseconds per service, nothing per
 * record. Knot and NSD load in a background thread the same way; gdnsd swaps
 * one pointer.
 */

export type BuildSource = { kind: 'file'; path: string } | { kind: 'bundle'; bundle: Parameters<typeof loadMapBundle>[0]; id: string };

export interface BuildJob {
  source: BuildSource;
  /** A reload beside a serving map: the worker thread lowers its CPU priority (common/worker.ts lowerThreadPriority). */
  background: boolean;
  /** The map now serving: when the loaded map is the same (version, and the ASN blocks it read), nothing is built (a touch, an unchanged SIGHUP). */
  unless: Serving | null;
}

export interface Serving {
  version: string;
  asnDigest: string | null;
}

/** What the worker signed, and the keys of the signed zones (for the on-demand NXDOMAIN proofs). */
export interface SigningReport {
  zones: Array<{ zone: string; keys: ZoneKey[] }>;
  validity: Validity;
  /** When (ms) the keys' timing metadata was read: the answering thread signs with the keys active then. */
  at: number;
  /** The next key timing event (seconds since the epoch) of any signed zone: serve rebuilds then. */
  nextKeyEvent: number | null;
  /** Signatures made and CPU seconds spent making them, in this build. */
  signatures: number;
  seconds: number;
}

/** What the build process sends back: the tables' arrays are in `file`; the signing keys' private parts as PKCS#8 DER. */
export type ChildReply =
  | { ok: true; unchanged: true; version: string }
  | { ok: true; unchanged: false; map: MapConfig; file: PackedFile; records: number; signing: Omit<SigningReport, 'zones'> & { zones: Array<{ zone: string; keys: Array<Omit<ZoneKey, 'privateKey'> & { privateKey: Uint8Array }> }> } }
  | { ok: false; issues: ConfigIssue[] | null; message: string };

/** Tables ready for `new Router(map, classifier, health, prebuilt)`. */
export interface Prebuilt {
  tables: RoutingTables;
  transfers: Map<string, ZoneTransfer>;
  /** The signed zones' keys and what signing them cost; null when no zone is signed. */
  signing: SigningReport | null;
  /** Bytes of the tables' SharedArrayBuffer: pass to releaseTablesLater once a swap retires them. */
  bytes: number;
}

export interface Fresh {
  unchanged: false;
  map: MapConfig;
  prebuilt: Prebuilt;
  records: number;
}

export type Built = { unchanged: true; version: string } | Fresh;

/**
 * Loads and builds the map of `source` in a child process (common/worker.ts runChild says why not a thread). The map returned
 * has no zone records (they live only in the packed answers). Rejects with
 * ConfigError for a map that does not load, as loadMapFile throws it.
 * With `unless` (even null) it is a reload beside the serving map: the worker
 * runs at a lower CPU priority than the answering thread, so on a busy
 * machine the build waits, not the queries; at start nothing answers yet and
 * the build runs at full priority. `spawner`: fork the build process from there
 * (a reload of a server already holding big tables), not from this process.
 */
export function buildInWorker(source: BuildSource): Promise<Fresh>;
export function buildInWorker(source: BuildSource, unless: Serving | null, spawner?: Spawner): Promise<Built>;
export function buildInWorker(source: BuildSource, unless?: Serving | null, spawner?: Spawner): Promise<Built> {
  const job: BuildJob = { source, unless: unless ?? null, background: unless !== undefined };
  const file = join(__dirname, 'build-worker.js');
  // A reload forks its build from the spawner made at start (common/worker.ts Spawner: fork() from a big process blocks it).
  const reply = spawner ? spawner.run<ChildReply>(file, job) : runChild<ChildReply>(file, job);
  return reply.then(async (m) => {
    if (!m.ok) throw m.issues ? new ConfigError(m.issues) : new Error(m.message);
    if (m.unchanged) return { unchanged: true, version: m.version };
    const packed = await readPackedFile(m.file);
    const { tables, transfers } = unpackTables(packed, buildServices(m.map));
    // Cloned across the process, a key's Buffers arrived as Uint8Arrays.
    const zones = m.signing.zones.map((z) => ({
      zone: z.zone,
      keys: z.keys.map((k) => ({ ...k, rdata: Buffer.from(k.rdata), privateKey: createPrivateKey({ key: Buffer.from(k.privateKey), format: 'der', type: 'pkcs8' }) })),
    }));
    const signing = zones.length ? { ...m.signing, zones } : null;
    return { unchanged: false, map: m.map, prebuilt: { tables, transfers, signing, bytes: tableBytes(packed) }, records: m.records };
  });
}
