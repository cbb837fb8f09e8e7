import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { transferList, type PackedTables } from './pack-writer';

/**
 * Packed tables from the build process to serve: the typed arrays go through
 * one temporary file (written by the builder, read by serve with an async
 * read, so the answering thread copies nothing itself and is never blocked
 * for the hundreds of MB a big zone packs to), the rest (a few KB of plain
 * data) rides the IPC message with this reference.
 *
 * The arrays are read into a SharedArrayBuffer, which V8 does not count as
 * external memory (measured, Node 20: no GC is started by its allocation).
 * A plain buffer of a big zone's tables (250 MB at 1,000,000 records), made
 * while the old tables are still live, sends V8 past its external-memory
 * limit: two scavenges and a mark-compact in a row, a 15 ms stall of the
 * answering thread right at the swap. What V8 does not count it will not
 * collect on its own either, so the server calls releaseTables after a swap.
 */

const ARRAYS = ['names', 'nameEnd', 'slots', 'typeEnd', 'typeCodes', 'typeRefs', 'other', 'any', 'body', 'answers'] as const;
type ArrayKey = (typeof ARRAYS)[number];

export interface PackedFile {
  /** The file, alone in a directory of its own (both removed by readPackedFile). */
  path: string;
  /** Per array: byte offset in the file (8-aligned) and element count. */
  arrays: Array<[ArrayKey, number, number]>;
  rest: Omit<PackedTables, ArrayKey>;
}

/** Writes the arrays of `p` to `path` (a new file); returns what the reader needs. */
export function writePackedFile(p: PackedTables, path: string): PackedFile {
  const fd = openSync(path, 'wx', 0o600);
  const arrays: PackedFile['arrays'] = [];
  try {
    let at = 0;
    const pad = Buffer.alloc(8);
    for (const key of ARRAYS) {
      const v = p[key];
      const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      arrays.push([key, at, v.length]);
      for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off, at + off);
      at += bytes.length;
      const gap = (8 - (at % 8)) % 8;
      if (gap) writeSync(fd, pad, 0, gap, at);
      at += gap;
    }
  } finally {
    closeSync(fd);
  }
  const { names, nameEnd, slots, typeEnd, typeCodes, typeRefs, other, any, body, answers, ...rest } = p;
  void [names, nameEnd, slots, typeEnd, typeCodes, typeRefs, other, any, body, answers];
  return { path, arrays, rest };
}

/** Memory-backed (tmpfs) on Linux: the tables are memory on both sides, and nothing about them needs to reach a disk. */
const SHM = '/dev/shm';

/**
 * Writes the arrays of `p` to a new file in a directory of its own: in /dev/shm when it has room for them twice
 * over, else (no /dev/shm, or a container's 64 MB one) in the temporary directory. On this box's ext4 /tmp the
 * 170 MB of a 1M-record zone took 48-485 ms to write, on /dev/shm 65-93 ms (six runs, alternating).
 */
export function writePackedTemp(p: PackedTables): PackedFile {
  const bytes = tableBytes(p);
  let shm = false;
  try {
    const s = statfsSync(SHM);
    shm = s.bavail * s.bsize > 2 * bytes + (64 << 20);
  } catch {
    // No /dev/shm: the temporary directory.
  }
  if (shm) {
    const dir = mkdtempSync(join(SHM, 'geosteer-build-'));
    try {
      return writePackedFile(p, join(dir, 'tables'));
    } catch {
      // Filled up meanwhile (ENOSPC): the temporary directory instead.
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return writePackedFile(p, join(mkdtempSync(join(tmpdir(), 'geosteer-build-')), 'tables'));
}

const VIEW = { names: Uint16Array, nameEnd: Uint32Array, slots: Int32Array, typeEnd: Uint32Array, typeCodes: Uint16Array, typeRefs: Int32Array, other: Int32Array, any: Int32Array, body: Uint8Array, answers: Int32Array } as const;

/** Bytes per read: each is one trip to the thread pool, between which the answering thread runs. */
const READ_CHUNK = 4 << 20;

/** Reads a PackedFile back (views over one SharedArrayBuffer) and removes it and its directory. */
export async function readPackedFile(f: PackedFile): Promise<PackedTables> {
  try {
    const fh = await open(f.path, 'r');
    let buf: Uint8Array;
    try {
      const { size } = await fh.stat();
      const need = Math.max(0, ...f.arrays.map(([key, at, n]) => at + n * VIEW[key].BYTES_PER_ELEMENT));
      if (size < need) throw new Error(`packed tables ${f.path}: ${size} bytes, the layout needs ${need}`);
      buf = new Uint8Array(new SharedArrayBuffer(size));
      for (let at = 0; at < size; ) {
        const { bytesRead } = await fh.read(buf, at, Math.min(READ_CHUNK, size - at), at);
        if (bytesRead === 0) throw new Error(`packed tables ${f.path}: ended at byte ${at} of ${size}`);
        at += bytesRead;
      }
    } finally {
      await fh.close();
    }
    const views: Partial<Record<ArrayKey, unknown>> = {};
    // The union of VIEW's constructors is typed for ArrayBuffer; each takes a SharedArrayBuffer the same way.
    const shared = buf.buffer as ArrayBuffer;
    for (const [key, at, n] of f.arrays) views[key] = new VIEW[key](shared, at, n);
    return { ...(views as Pick<PackedTables, ArrayKey>), ...f.rest };
  } finally {
    await rm(dirname(f.path), { recursive: true, force: true });
  }
}

/** The bytes of the buffers under a PackedTables' arrays. */
export function tableBytes(p: PackedTables): number {
  return transferList(p).reduce((n, b) => n + b.byteLength, 0);
}

/** V8 starts a mark-compact once external memory grows this much past what it was at the last one. */
const V8_EXTERNAL_STEP = 64 << 20;

/**
 * Tables read by readPackedFile were swapped out: have V8 collect them within
 * a few seconds, not at some later GC (a quiet server may not run one for
 * hours, and every reload would add a table set). A plain ArrayBuffer of
 * their size plus V8's external step, made and dropped at once, counts as
 * external memory and starts an incremental mark-compact that takes the old
 * SharedArrayBuffer with it. It is calloc'd and never touched, so it costs no
 * RSS. Run from a timer of its own, so that no frame of the swap still holds
 * the old tables when marking starts.
 */
export function releaseTablesLater(bytes: number, delayMs = 1000): void {
  if (bytes > 0) setTimeout(release, delayMs, bytes).unref();
}

function release(bytes: number): void {
  const marker = new ArrayBuffer(bytes + V8_EXTERNAL_STEP);
  void marker;
}
