import { isUtf8 } from 'node:buffer';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

/** Default largest map file (bytes): a map holds config, not data; zone data belongs in a `file:`. */
export const DEFAULT_MAP_FILE_BYTES = 16 * 1024 * 1024;
/** Default largest zone file named by `file:` (bytes): room for millions of records (1M mixed records are about 40 MB). */
export const DEFAULT_ZONE_FILE_BYTES = 512 * 1000 * 1000;
/** Environment variable that overrides DEFAULT_MAP_FILE_BYTES (the map cannot set its own limit: it is read before it is parsed). */
export const MAP_FILE_BYTES_ENV = 'GEOSTEER_MAP_FILE_BYTES';

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

/** The map file limit: GEOSTEER_MAP_FILE_BYTES when set (a SIZE such as 64MiB), else DEFAULT_MAP_FILE_BYTES. Throws TextFileError when the variable is not a size. */
export function mapFileLimit(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[MAP_FILE_BYTES_ENV];
  if (raw === undefined || raw === '') return DEFAULT_MAP_FILE_BYTES;
  const n = parseSize(raw);
  if (n === null) throw new TextFileError(`${MAP_FILE_BYTES_ENV}="${raw.slice(0, 40)}" is not a size (bytes, or a number with KiB, MiB, GiB, KB, MB or GB)`);
  return n;
}

const SIZE_UNITS: Record<string, number> = { '': 1, B: 1, K: 1024, KIB: 1024, KB: 1e3, M: 1024 ** 2, MIB: 1024 ** 2, MB: 1e6, G: 1024 ** 3, GIB: 1024 ** 3, GB: 1e9 };
/** Largest limit accepted: the longest string V8 can hold (2^29 - 24 characters), which the file's text must become. */
export const MAX_SIZE_LIMIT = 0x1fffffe8;

/** `512MB`, `16MiB`, `1048576` → bytes; null when not a size from 1 byte to MAX_SIZE_LIMIT. */
export function parseSize(v: string | number): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 && v <= MAX_SIZE_LIMIT ? v : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
  if (!m) return null;
  const unit = SIZE_UNITS[m[2].toUpperCase()];
  if (unit === undefined) return null;
  const n = Math.floor(Number(m[1]) * unit);
  return n >= 1 && n <= MAX_SIZE_LIMIT ? n : null;
}

/** What a file that is not a regular file is, in the words of `ls -l`; null for a regular file. */
function fileKind(st: Stats): string | null {
  if (st.isFile()) return null;
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isDirectory()) return 'a directory';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Human form of a byte count for messages: `16 MiB`, `512 MB` when exact, else bytes. */
export function formatSize(n: number): string {
  const units = [[1024 ** 3, 'GiB'], [1e9, 'GB'], [1024 ** 2, 'MiB'], [1e6, 'MB'], [1024, 'KiB'], [1e3, 'KB']] as const;
  for (const [u, s] of units) if (n % u === 0) return `${n / u} ${s}`;
  return `${n} bytes`;
}

function statKind(path: string): string | null {
  try {
    return fileKind(statSync(path));
  } catch {
    return null;
  }
}

const CHUNK = 1 << 20;

/**
 * The bytes of a regular file of at most `maxBytes`. Refuses FIFOs, devices,
 * sockets and directories before reading a byte (opened O_NONBLOCK so a FIFO
 * with no writer cannot block the open), refuses a file whose size is over the
 * limit, and reads at most maxBytes + 1 bytes, so a file that grows while it
 * is read (or a /proc file that reports size 0) cannot exhaust memory.
 * Messages never quote the content. Throws TextFileError; `what` names the
 * file's role in the message ("the map and the files it names").
 */
export function readRegularFile(path: string, maxBytes: number, what = 'the map and the files it names'): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    // A Unix socket cannot be opened at all (ENXIO): say what it is rather than the errno.
    const kind = (err as NodeJS.ErrnoException).code === 'ENXIO' ? statKind(path) : null;
    throw new TextFileError(kind ? `is ${kind}: ${what} must be regular files` : (err as Error).message);
  }
  try {
    const st = fstatSync(fd);
    const kind = fileKind(st);
    if (kind) throw new TextFileError(`is ${kind}: ${what} must be regular files`);
    if (st.size > maxBytes) throw new TextFileError(`file is ${st.size} bytes; the limit is ${maxBytes} (${formatSize(maxBytes)})`);
    // Sized by what fstat said (plus one byte to notice growth), grown only up to the limit.
    let buf = Buffer.allocUnsafe(Math.min(maxBytes + 1, Math.max(st.size + 1, 4096)));
    let len = 0;
    for (;;) {
      if (len === buf.length) {
        if (len > maxBytes) break;
        const next = Buffer.allocUnsafe(Math.min(maxBytes + 1, buf.length * 2));
        buf.copy(next, 0, 0, len);
        buf = next;
      }
      const n = readSync(fd, buf, len, Math.min(CHUNK, buf.length - len), null);
      if (n === 0) break;
      len += n;
    }
    if (len > maxBytes) throw new TextFileError(`file grew past the limit of ${maxBytes} bytes (${formatSize(maxBytes)}) while it was read`);
    return buf.subarray(0, len);
  } catch (err) {
    throw err instanceof TextFileError ? err : new TextFileError((err as Error).message);
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads a map or zone file as UTF-8, with readRegularFile's checks. Bytes that
 * are not UTF-8 are an error at their line and column (Node would silently
 * turn them into U+FFFD and the file would pass `check` meaning something
 * else); a BOM is kept for the parsers, which skip it. Throws TextFileError.
 */
export function readTextFile(path: string, maxBytes: number = DEFAULT_ZONE_FILE_BYTES): string {
  return decodeUtf8(readRegularFile(path, maxBytes));
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
