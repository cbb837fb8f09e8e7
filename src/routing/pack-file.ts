import { closeSync, openSync, writeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { PackedTables } from './pack-writer';

/**
 * Packed tables from the build process to serve: the typed arrays go through
 * one temporary file (written by the builder, read by serve with an async
 * read, so the answering thread copies nothing itself and is never blocked
 * for the hundreds of MB a big zone packs to), the rest (a few KB of plain
 * data) rides the IPC message with this reference.
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

const VIEW = { names: Uint16Array, nameEnd: Uint32Array, slots: Int32Array, typeEnd: Uint32Array, typeCodes: Uint16Array, typeRefs: Int32Array, other: Int32Array, any: Int32Array, body: Uint8Array, answers: Int32Array } as const;

/** Reads a PackedFile back (views over one buffer) and removes it and its directory. */
export async function readPackedFile(f: PackedFile): Promise<PackedTables> {
  try {
    let buf = await readFile(f.path);
    // Views need aligned offsets: a buffer of its own starts at 0 (readFile allocates one for a big file; copy a pooled one).
    if (buf.byteOffset % 8 !== 0) buf = Buffer.from(Uint8Array.prototype.slice.call(buf));
    const views: Partial<Record<ArrayKey, unknown>> = {};
    for (const [key, at, n] of f.arrays) views[key] = new VIEW[key](buf.buffer, buf.byteOffset + at, n);
    return { ...(views as Pick<PackedTables, ArrayKey>), ...f.rest };
  } finally {
    await rm(dirname(f.path), { recursive: true, force: true });
  }
}
