import { isUtf8 } from 'node:buffer';
import { readFileSync, statSync } from 'node:fs';

/** Largest map or zone file read (bytes): far above any real map, far below what would stall a reload. */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;

/** Why a file could not be read as text; `line`/`col` point into the file itself, 0 when the problem is not at a position. */
export class TextFileError extends Error {
  constructor(
    message: string,
    readonly line = 0,
    readonly col = 0,
  ) {
    super(message);
    this.name = 'TextFileError';
  }
}

/**
 * Reads a map or zone file as UTF-8. Bytes that are not UTF-8 are an error
 * at their line and column (Node would silently turn them into U+FFFD and the
 * file would pass `check` meaning something else); a BOM is kept for the
 * parsers, which skip it. Throws TextFileError.
 */
export function readTextFile(path: string): string {
  let buf: Buffer;
  try {
    const size = statSync(path).size;
    if (size > MAX_FILE_BYTES) throw new TextFileError(`file is ${size} bytes; the limit is ${MAX_FILE_BYTES} (${MAX_FILE_BYTES >> 20} MiB)`);
    buf = readFileSync(path);
  } catch (err) {
    throw err instanceof TextFileError ? err : new TextFileError((err as Error).message);
  }
  return decodeUtf8(buf);
}

/** The text of `buf`, or a TextFileError at the first byte that is not UTF-8. */
export function decodeUtf8(buf: Buffer): string {
  if (isUtf8(buf)) return buf.toString('utf8');
  const at = firstInvalidUtf8(buf);
  const lineStart = at === 0 ? 0 : buf.lastIndexOf(0x0a, at - 1) + 1;
  let line = 1;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < at; i = buf.indexOf(0x0a, i + 1)) line++;
  const col = buf.subarray(lineStart, at).toString('utf8').length + 1;
  throw new TextFileError(`not valid UTF-8 (byte 0x${buf[at].toString(16).padStart(2, '0')}); save the file as UTF-8`, line, col);
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629), or -1. */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let need: number;
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    let lo = 0x80;
    let hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0;
      if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}
