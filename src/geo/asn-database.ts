import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Reader, type AsnResponse } from 'maxmind';
import { AsnDbError } from '../common/errors';
import { formatIp, parseIp, type Cidr } from '../common/ip';
import type { MmdbTree } from './database';
import { ipv4Start, recordReader } from './mmdb-raw';

/**
 * The address blocks of a few AS numbers, from an ASN database: the CSV files of the `@ip-location-db/asn`
 * npm package (the default), or a MaxMind GeoLite2-ASN / GeoIP2-ISP MMDB given by path. Only the blocks of
 * the AS numbers asked for are kept, so the memory cost is that of the map's carriers, not of the whole
 * table (the default CSVs are 30 MB of text). Read at map load, never while answering.
 */

/** One AS number's share of the database. */
export interface AsnInfo {
  asn: number;
  /** The organisation as the database names it, printable ASCII only (it goes into TXT answers), '' if none. */
  org: string;
  v4Blocks: number;
  v6Blocks: number;
}

export interface AsnData {
  /** 'default' or the absolute path read. */
  source: string;
  /** '@ip-location-db/asn 2.3.2026061719 (CSV)' or 'GeoLite2-ASN built 2026-01-02 (MMDB)'. */
  description: string;
  /** CIDR blocks (IPv4 as 4 bytes), disjoint, in database order. */
  blocks: { cidr: Cidr; asn: number }[];
  /** Per AS number asked for, found or not. */
  info: Map<number, AsnInfo>;
  /** Short hash of the blocks kept: tells whether a re-read changed anything the map uses. */
  digest: string;
}

/** Largest ASN database read (bytes): GeoLite2-ASN is ~10 MB, the default IPv4 CSV ~21 MB. */
const MAX_ASN_DB_BYTES = 512 * 1024 ** 2;
const ORG_MAX = 60;

const fail = (where: string, reason: string, cause?: unknown): never => {
  throw new AsnDbError(`ASN database ${where}: ${reason}`, cause === undefined ? undefined : { cause });
};

/** The files of the default: numeric IPv4 ranges (fast to scan) and textual IPv6 ranges. */
export function defaultAsnFiles(): { dir: string; version: string; v4: string; v6: string } {
  let pkgPath: string;
  try {
    pkgPath = require.resolve('@ip-location-db/asn/package.json');
  } catch (err) {
    return fail('default', 'the npm package @ip-location-db/asn is not installed (npm install, or give geoip.asn_database PATH)', err);
  }
  const dir = dirname(pkgPath);
  const version = (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version?: string }).version ?? '?';
  return { dir, version, v4: join(dir, 'asn-ipv4-num.csv'), v6: join(dir, 'asn-ipv6.csv') };
}

/** Reads a regular file (not a FIFO or device; opened O_NONBLOCK so a FIFO cannot block), size-capped. */
function readDb(path: string): Buffer {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) return fail(path, 'cannot read: not a regular file');
    if (st.size > MAX_ASN_DB_BYTES) return fail(path, `cannot read: file is ${st.size} bytes; the limit is ${MAX_ASN_DB_BYTES}`);
    const buf = Buffer.allocUnsafe(st.size);
    let len = 0;
    for (let n = 1; n > 0 && len < buf.length; len += n) n = readSync(fd, buf, len, buf.length - len, null);
    return buf.subarray(0, len);
  } catch (err) {
    if (err instanceof AsnDbError) throw err;
    return fail(path, `cannot read: ${(err as Error).message}`, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Printable ASCII, spaces collapsed, at most ORG_MAX characters. */
export function cleanOrg(s: string): string {
  const t = s.replace(/[^\x20-\x7e]+/g, '?').replace(/\s+/g, ' ').trim();
  return t.length > ORG_MAX ? t.slice(0, ORG_MAX - 3) + '...' : t;
}

/** The CIDR blocks covering the inclusive range [start, end] of `bits`-bit addresses, widest first from the left. */
export function rangeToCidrs(start: bigint, end: bigint, bits: 32 | 128): Cidr[] {
  const out: Cidr[] = [];
  const bytes = bits / 8;
  const one = 1n;
  let s = start;
  while (s <= end) {
    // The largest block aligned at s that does not pass end.
    let size = bits;
    while (size > 0) {
      const span = one << BigInt(bits - size + 1);
      if (s % span !== 0n || s + span - one > end) break;
      size--;
    }
    const b = new Uint8Array(bytes);
    let x = s;
    for (let i = bytes - 1; i >= 0; i--) {
      b[i] = Number(x & 0xffn);
      x >>= 8n;
    }
    out.push({ bytes: b, prefix: size });
    s += one << BigInt(bits - size);
  }
  return out;
}

function bigOf(a: Uint8Array): bigint {
  let x = 0n;
  for (const v of a) x = (x << 8n) | BigInt(v);
  return x;
}

/** The fourth CSV field, unquoted ("a, b" with "" for a quote). */
function csvField(line: string, from: number): string {
  if (line[from] !== '"') return line.slice(from);
  let out = '';
  for (let i = from + 1; i < line.length; i++) {
    if (line[i] === '"') {
      if (line[i + 1] === '"') {
        out += '"';
        i++;
      } else break;
    } else out += line[i];
  }
  return out;
}

class Collector {
  readonly blocks: { cidr: Cidr; asn: number }[] = [];
  readonly info = new Map<number, AsnInfo>();
  constructor(wanted: Iterable<number>) {
    for (const asn of wanted) this.info.set(asn, { asn, org: '', v4Blocks: 0, v6Blocks: 0 });
  }

  add(asn: number, org: string, cidrs: Cidr[]): void {
    const i = this.info.get(asn);
    if (!i) return;
    if (i.org === '' && org) i.org = cleanOrg(org);
    for (const cidr of cidrs) {
      this.blocks.push({ cidr, asn });
      if (cidr.bytes.length === 4) i.v4Blocks++;
      else i.v6Blocks++;
    }
  }
}

/**
 * Scans CSV text `start,end,asn,org` (addresses as text or, for IPv4, as numbers): only rows of wanted AS
 * numbers are parsed beyond their third field, which keeps a 400k-line scan at about 0.1 s.
 */
function scanCsv(text: string, where: string, c: Collector): number {
  let rows = 0;
  let pos = 0;
  let lineNo = 0;
  while (pos < text.length) {
    let nl = text.indexOf('\n', pos);
    if (nl < 0) nl = text.length;
    const line = text.charCodeAt(nl - 1) === 13 ? text.slice(pos, nl - 1) : text.slice(pos, nl);
    pos = nl + 1;
    lineNo++;
    if (line === '' || line[0] === '#') continue;
    const c1 = line.indexOf(',');
    const c2 = c1 < 0 ? -1 : line.indexOf(',', c1 + 1);
    let c3 = c2 < 0 ? -1 : line.indexOf(',', c2 + 1);
    if (c2 < 0) return fail(where, `line ${lineNo}: expected "start,end,asn,org"`);
    if (c3 < 0) c3 = line.length;
    const asn = Number(line.slice(c2 + 1, c3));
    if (!Number.isInteger(asn)) {
      // A header line is fine; anything else is not this format.
      if (rows === 0 && lineNo === 1) continue;
      return fail(where, `line ${lineNo}: AS number "${line.slice(c2 + 1, c3)}" is not an integer`);
    }
    rows++;
    if (!c.info.has(asn)) continue;
    const a = line.slice(0, c1);
    const b = line.slice(c1 + 1, c2);
    let cidrs: Cidr[];
    if (/^\d+$/.test(a) && /^\d+$/.test(b)) {
      const s = BigInt(a);
      const e = BigInt(b);
      if (e > 0xffffffffn) return fail(where, `line ${lineNo}: numeric ranges are read as IPv4 only`);
      cidrs = s <= e ? rangeToCidrs(s, e, 32) : [];
    } else {
      const s = parseIp(a);
      const e = parseIp(b);
      if (!s || !e || s.length !== e.length) return fail(where, `line ${lineNo}: "${a}" - "${b}" is not an address range`);
      cidrs = rangeToCidrs(bigOf(s), bigOf(e), s.length === 4 ? 32 : 128);
    }
    c.add(asn, c3 < line.length ? csvField(line, c3 + 1) : '', cidrs);
  }
  return rows;
}

function readCsv(path: string, c: Collector): number {
  const buf = readDb(path);
  const rows = scanCsv(buf.toString('utf8'), path, c);
  if (rows === 0) return fail(path, 'no rows of "start,end,asn,org"');
  return rows;
}

/** What a record may hold: a file that is not an ASN database has neither field. */
type AsnRecord = Partial<Record<keyof AsnResponse, unknown>>;

/**
 * Walks a GeoLite2-ASN-format MMDB's search tree and keeps the networks of wanted AS numbers. Each distinct
 * data record is decoded once, through maxmind's reader (a lookup of the first address of the network).
 */
function readMmdbAsn(path: string, c: Collector): string {
  const buf = readDb(path);
  let reader: Reader<AsnResponse>;
  try {
    reader = new Reader<AsnResponse>(buf);
  } catch (err) {
    return fail(path, `not a CSV (name it *.csv) nor a valid MaxMind DB: ${(err as Error).message}`, err);
  }
  const md = reader.metadata;
  if (md.ipVersion !== 4 && md.ipVersion !== 6) fail(path, `unsupported ipVersion ${String(md.ipVersion)}`);
  if (!(md.searchTreeSize > 0) || md.searchTreeSize + 16 > buf.length) fail(path, 'search tree does not fit in the file: truncated?');
  const tree: MmdbTree = { buffer: buf, nodeCount: md.nodeCount, recordSize: md.recordSize, ipVersion: md.ipVersion, searchTreeSize: md.searchTreeSize };
  const read = recordReader(tree);
  const n = md.nodeCount;
  const asnOf = new Map<number, number>();
  let sawAsnField = false;
  const decode = (value: number, addr: Uint8Array, prefix: number): number => {
    let asn = asnOf.get(value);
    if (asn === undefined) {
      let rec: AsnRecord | null = null;
      try {
        rec = reader.get(formatIp(addr)) as AsnRecord | null;
      } catch (err) {
        fail(path, `corrupt data section near ${formatIp(addr)}/${prefix}: ${(err as Error).message}`, err);
      }
      const a = rec?.autonomous_system_number;
      asn = typeof a === 'number' && Number.isInteger(a) ? a : -1;
      if (asn >= 0) sawAsnField = true;
      asnOf.set(value, asn);
      if (asn >= 0 && c.info.has(asn)) {
        const o = rec?.autonomous_system_organization;
        const i = c.info.get(asn);
        if (i && i.org === '' && typeof o === 'string') i.org = cleanOrg(o);
      }
    }
    return asn;
  };
  const v4start = ipv4Start(tree, read);
  const walk = (v: number, depth: number, bits: number, addr: Uint8Array): void => {
    if (v === n) return; // empty
    if (v > n) {
      const asn = decode(v, addr, depth);
      if (asn >= 0 && c.info.has(asn)) c.add(asn, '', [{ bytes: addr.slice(), prefix: depth }]);
      return;
    }
    // An IPv6 tree reaches the IPv4 subtree from ::/96 and its aliases (::ffff:0:0/96, 2002::/16): walked once, as IPv4.
    if (bits === 128 && v === v4start && depth > 0) return;
    if (depth >= bits) return;
    const byte = depth >> 3;
    const bit = 0x80 >> (depth & 7);
    walk(read(v, 0), depth + 1, bits, addr);
    addr[byte] |= bit;
    walk(read(v, 1), depth + 1, bits, addr);
    addr[byte] &= ~bit;
  };
  walk(v4start, 0, 32, new Uint8Array(4));
  if (md.ipVersion === 6) walk(0, 0, 128, new Uint8Array(16));
  if (!sawAsnField && asnOf.size > 0) fail(path, `database type ${md.databaseType} has no autonomous_system_number field: not an ASN database`);
  if (asnOf.size === 0) fail(path, 'the database holds no networks');
  return `${md.databaseType} built ${md.buildEpoch.toISOString().slice(0, 10)} (MMDB)`;
}

let last: { key: string; data: AsnData } | null = null;

/**
 * The blocks of `wanted` AS numbers from `source` ('default', a *.csv path, or an MMDB path). Throws
 * AsnDbError naming the file and what is wrong. The last result is kept and reused while the file(s)
 * and the AS numbers stay the same, so a map reload that changes only services does not re-read 30 MB.
 */
export function loadAsnData(source: string, wanted: Iterable<number>): AsnData {
  const asns = [...new Set(wanted)].sort((a, b) => a - b);
  const def = source === 'default' ? defaultAsnFiles() : null;
  const files = def ? [def.v4, def.v6] : [source];
  const key = [source, ...files.map(fileStamp), asns.join(',')].join('\n');
  if (last && last.key === key) return last.data;
  const c = new Collector(asns);
  let description: string;
  if (def) {
    readCsv(def.v4, c);
    readCsv(def.v6, c);
    description = `@ip-location-db/asn ${def.version} (CSV)`;
  } else if (/\.csv$/i.test(source)) {
    const rows = readCsv(source, c);
    description = `${source} (CSV, ${rows} rows)`;
  } else {
    description = readMmdbAsn(source, c);
  }
  const h = createHash('sha256');
  for (const b of c.blocks) h.update(`${b.asn} ${formatIp(b.cidr.bytes)}/${b.cidr.prefix}\n`);
  const data: AsnData = { source, description, blocks: c.blocks, info: c.info, digest: h.digest('hex').slice(0, 12) };
  last = { key, data };
  return data;
}

function fileStamp(path: string): string {
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const st = fstatSync(fd);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return fail(path, `cannot read: ${(err as Error).message}`, err);
  }
}
