// Worker entry of buildRegionTrieInWorker (region-trie.ts): opens the database, builds the trie, transfers it.
import { parentPort, workerData } from 'node:worker_threads';
import { GeoDbError } from '../common/errors';
import { GeoDatabase } from './database';
import { RegionTrie, type WorkerReply } from './region-trie';
import type { RegionRules } from './rules';

interface Job {
  path: string;
  /** The database bytes, when the caller handed over a loaded GeoDatabase (a copy made by postMessage). */
  bytes?: Uint8Array;
  rules: RegionRules;
}

function run(job: Job): { reply: WorkerReply; transfer: ArrayBuffer[] } {
  try {
    const db = job.bytes
      ? GeoDatabase.fromBuffer(Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength), job.path)
      : GeoDatabase.open(job.path);
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
