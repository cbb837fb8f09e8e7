// Worker entry of buildRegionTrieInWorker (region-trie.ts): opens the database, builds the trie, transfers it.
import { parentPort, workerData } from 'node:worker_threads';
import { GeoDbError } from '../common/errors';
import { GeoDatabase } from './database';
import { RegionTrie, type WorkerReply } from './region-trie';
import type { RegionRules } from './rules';

interface Job {
  /** One file, or the two of a split database. */
  paths: string[];
  /** The bytes of each file, when the caller handed over a loaded GeoDatabase (copies made by postMessage). */
  bytes?: Uint8Array[];
  rules: RegionRules;
}

function run(job: Job): { reply: WorkerReply; transfer: ArrayBuffer[] } {
  try {
    const bytes = job.bytes;
    const db = bytes
      ? GeoDatabase.fromBuffers(job.paths.map((path, i) => ({ path, buf: Buffer.from(bytes[i].buffer, bytes[i].byteOffset, bytes[i].byteLength) })))
      : GeoDatabase.open(job.paths);
    const parts = RegionTrie.build(db, job.rules).toParts();
    return { reply: { ok: true, parts }, transfer: [parts.kids.buffer as ArrayBuffer] };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return { reply: { ok: false, message, geoDb: err instanceof GeoDbError }, transfer: [] };
  }
}

if (parentPort) {
  const { reply, transfer } = run(workerData as Job);
  parentPort.postMessage(reply, transfer);
}
