import type { CityResponse } from 'maxmind';
import type { MmdbTree } from './database';

/**
 * Direct access to an MMDB search tree and a decoder that reads only the fields the region rules use
 * (country, registered_country, subdivisions[0], continent). Decoding whole City records with mmdb-lib costs
 * ~22 us each (names in eight languages); this reads a record in about 1 us by skipping everything else.
 * Format: https://maxmind.github.io/MaxMind-DB/ (the same rules as mmdb-lib's decoder.js).
 */

/** Reads the left (bit 0) or right (bit 1) record of a node. */
export type RecordReader = (node: number, bit: number) => number;

export function recordReader(t: MmdbTree): RecordReader {
  const b = t.buffer;
  switch (t.recordSize) {
    case 24:
      return (n, bit) => {
        const o = n * 6 + bit * 3;
        return (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
      };
    case 28:
      return (n, bit) => {
        const o = n * 7;
        if (bit === 0) return ((b[o + 3] & 0xf0) << 20) | (b[o] << 16) | (b[o + 1] << 8) | b[o + 2];
        return ((b[o + 3] & 0x0f) << 24) | (b[o + 4] << 16) | (b[o + 5] << 8) | b[o + 6];
      };
    case 32:
      return (n, bit) => b.readUInt32BE(n * 8 + bit * 4);
  }
  throw new Error(`unsupported MMDB record size ${t.recordSize}`);
}

/** The node (or terminal record value) where IPv4 addresses start: ::/96 in an IPv6 tree, like mmdb-lib. */
export function ipv4Start(t: MmdbTree, read: RecordReader): number {
  if (t.ipVersion === 4) return 0;
  let v = 0;
  for (let i = 0; i < 96 && v < t.nodeCount; i++) v = read(v, 0);
  return v;
}

const T_POINTER = 1;
const T_STRING = 2;
const T_MAP = 7;
const T_ARRAY = 11;
const T_BOOLEAN = 14;

const KEY_COUNTRY = Buffer.from('country');
const KEY_REGISTERED = Buffer.from('registered_country');
const KEY_SUBDIVISIONS = Buffer.from('subdivisions');
const KEY_CONTINENT = Buffer.from('continent');
const KEY_ISO_CODE = Buffer.from('iso_code');
const KEY_CODE = Buffer.from('code');
// The flat schema of the @ip-location-db MMDBs (DB-IP Lite): country_code and state1 (a name) as plain strings.
const KEY_COUNTRY_CODE = Buffer.from('country_code');
const KEY_STATE1 = Buffer.from('state1');

/** Longest pointer chain followed (the format allows none to a pointer; mmdb-lib follows them). */
const MAX_POINTER_HOPS = 4;
/** Nesting limit while skipping values, against malicious files. */
const MAX_DEPTH = 64;

/**
 * The fields of a record that the region rules read, in the shape of a CityResponse (for buildMatch),
 * or of the flat ip-location-db schema (`country_code`, `state1`).
 */
export type PartialRecord = Pick<CityResponse, 'country' | 'registered_country' | 'subdivisions' | 'continent'> & {
  country_code?: string;
  state1?: string;
};

export class FieldDecoder {
  private readonly b: Buffer;
  private readonly dataBase: number;
  // Header of the value last read by head(): type, size, payload offset, offset after the whole value if it was a pointer.
  private t = 0;
  private size = 0;
  private p = 0;
  /**
   * Field values of shared sub-records (country, continent and subdivision maps are stored once and pointed
   * to from every record), keyed by the pointer target: per key name, and for `subdivisions` arrays.
   */
  private readonly shared = new Map<Buffer, Map<number, string | undefined>>([
    [KEY_ISO_CODE, new Map()],
    [KEY_CODE, new Map()],
  ]);
  private readonly sharedFirst = new Map<number, string | undefined>();

  constructor(t: MmdbTree) {
    this.b = t.buffer;
    this.dataBase = t.searchTreeSize + 16;
  }

  /** File offset of the record that a search-tree record value (> nodeCount) points to. */
  recordOffset(t: MmdbTree, value: number): number {
    return value - t.nodeCount + t.searchTreeSize;
  }

  /**
   * The rule fields of the record at file offset `off`; null if it is not a map.
   * Throws on malformed data (the caller treats that like an unknown address, as the classifier does).
   */
  decode(off: number): PartialRecord | null {
    let o = this.resolve(off);
    if (this.t !== T_MAP) return null;
    const n = this.size;
    o = this.p;
    let country: string | undefined;
    let registered: string | undefined;
    let sub: string | undefined;
    let continent: string | undefined;
    let countryCode: string | undefined;
    let state1: string | undefined;
    for (let i = 0; i < n; i++) {
      const key = this.key(o);
      o = this.next;
      // Later duplicates overwrite earlier ones, as in a decoded JS object.
      if (key === KEY_COUNTRY) country = this.field(o, KEY_ISO_CODE);
      else if (key === KEY_REGISTERED) registered = this.field(o, KEY_ISO_CODE);
      else if (key === KEY_CONTINENT) continent = this.field(o, KEY_CODE);
      else if (key === KEY_SUBDIVISIONS) sub = this.firstElementField(o, KEY_ISO_CODE);
      else if (key === KEY_COUNTRY_CODE) countryCode = this.stringAt(o);
      else if (key === KEY_STATE1) state1 = this.stringAt(o);
      o = this.skip(o, 0);
    }
    // Only the fields buildMatch reads; the casts stand in for the full MaxMind shapes.
    const rec: { -readonly [K in keyof PartialRecord]: PartialRecord[K] } = {};
    if (country !== undefined) rec.country = { iso_code: country } as PartialRecord['country'];
    if (registered !== undefined) rec.registered_country = { iso_code: registered } as PartialRecord['registered_country'];
    if (continent !== undefined) rec.continent = { code: continent } as PartialRecord['continent'];
    if (sub !== undefined) rec.subdivisions = [{ iso_code: sub }] as unknown as PartialRecord['subdivisions'];
    if (countryCode !== undefined) rec.country_code = countryCode;
    if (state1 !== undefined) rec.state1 = state1;
    return rec;
  }

  // Offset after the last key read by key().
  private next = 0;

  /** Reads the control byte(s) at `o` into t/size/p. For a pointer, p is the target and the return is the offset after it. */
  private head(o: number): number {
    const b = this.b;
    const c = b[o++];
    let type = c >> 5;
    if (type === T_POINTER) {
      const ps = (c >> 3) & 3;
      let v: number;
      if (ps === 0) v = ((c & 7) << 8) | b[o];
      else if (ps === 1) v = (((c & 7) << 16) | (b[o] << 8) | b[o + 1]) + 2048;
      else if (ps === 2) v = (((c & 7) << 24) | (b[o] << 16) | (b[o + 1] << 8) | b[o + 2]) + 526336;
      else v = b.readUInt32BE(o);
      this.t = T_POINTER;
      this.size = 0;
      this.p = this.dataBase + v;
      return o + ps + 1;
    }
    if (type === 0) {
      type = 7 + b[o++];
      if (type < 8) throw new Error(`invalid extended type at ${o - 1}`);
    }
    let size = c & 0x1f;
    if (size === 29) size = 29 + b[o++];
    else if (size === 30) {
      size = 285 + ((b[o] << 8) | b[o + 1]);
      o += 2;
    } else if (size === 31) {
      size = 65821 + ((b[o] << 16) | (b[o + 1] << 8) | b[o + 2]);
      o += 3;
    }
    if (o >= b.length) throw new Error(`data offset ${o} outside the file`);
    this.t = type;
    this.size = size;
    this.p = o;
    return o;
  }

  /** Reads the header of the value at `o`, following pointers; returns the offset after the value's header at `o`. */
  private resolve(o: number): number {
    const after = this.head(o);
    for (let hops = 0; this.t === T_POINTER; hops++) {
      if (hops >= MAX_POINTER_HOPS) throw new Error(`pointer chain too long at ${o}`);
      this.head(this.p);
    }
    return after;
  }

  /** resolve(o), returning the type of the value (a method call, so TypeScript does not keep an older narrowing of `t`). */
  private resolveType(o: number): number {
    this.resolve(o);
    return this.t;
  }

  /** The known key at `o` (one of the KEY_ buffers) or null; sets `next` to the offset after it. */
  private key(o: number): Buffer | null {
    const after = this.head(o);
    if (this.t === T_POINTER) {
      this.next = after;
      this.resolve(this.p);
    } else if (this.t === T_STRING) {
      this.next = this.p + this.size;
    } else {
      // Not a string key (malformed): step over the whole value, as a full decode would.
      this.next = this.skip(o, 0);
      return null;
    }
    if (this.t !== T_STRING) return null;
    return this.knownKey(this.p, this.size);
  }

  private knownKey(p: number, len: number): Buffer | null {
    const b = this.b;
    switch (len) {
      case 4:
        return this.eq(p, KEY_CODE) ? KEY_CODE : null;
      case 7:
        return this.eq(p, KEY_COUNTRY) ? KEY_COUNTRY : null;
      case 8:
        return this.eq(p, KEY_ISO_CODE) ? KEY_ISO_CODE : null;
      case 9:
        return this.eq(p, KEY_CONTINENT) ? KEY_CONTINENT : null;
      case 6:
        return this.eq(p, KEY_STATE1) ? KEY_STATE1 : null;
      case 12:
        if (this.eq(p, KEY_COUNTRY_CODE)) return KEY_COUNTRY_CODE;
        return this.eq(p, KEY_SUBDIVISIONS) ? KEY_SUBDIVISIONS : null;
      case 18:
        return b[p] === 0x72 && this.eq(p, KEY_REGISTERED) ? KEY_REGISTERED : null;
    }
    return null;
  }

  private eq(p: number, key: Buffer): boolean {
    const b = this.b;
    for (let i = 0; i < key.length; i++) if (b[p + i] !== key[i]) return false;
    return true;
  }

  /** The string at `o` (following pointers); undefined for any other type, as a JS read of a non-string. */
  private stringAt(o: number): string | undefined {
    this.resolve(o);
    return this.t === T_STRING ? this.b.toString('utf8', this.p, this.p + this.size) : undefined;
  }

  /** If the value at `o` is a map, its string value under `name` (last one wins); else undefined. */
  private field(o: number, name: Buffer): string | undefined {
    this.head(o);
    if (this.t !== T_POINTER) return this.t === T_MAP ? this.mapField(this.p, this.size, name) : undefined;
    const target = this.p;
    const cache = this.shared.get(name) as Map<number, string | undefined>;
    if (cache.has(target)) return cache.get(target);
    const out = this.resolveType(target) === T_MAP ? this.mapField(this.p, this.size, name) : undefined;
    cache.set(target, out);
    return out;
  }

  private mapField(o: number, n: number, name: Buffer): string | undefined {
    let out: string | undefined;
    for (let i = 0; i < n; i++) {
      const key = this.key(o);
      o = this.next;
      if (key === name) {
        this.resolve(o);
        // A non-string value reads as undefined in JS (`rec.country.iso_code` is then not a string): no code.
        out = this.t === T_STRING ? this.b.toString('utf8', this.p, this.p + this.size) : undefined;
      }
      o = this.skip(o, 0);
    }
    return out;
  }

  /** `value[0][name]` for an array value whose first element is a map; else undefined. */
  private firstElementField(o: number, name: Buffer): string | undefined {
    this.head(o);
    if (this.t !== T_POINTER) return this.t === T_ARRAY && this.size > 0 ? this.field(this.p, name) : undefined;
    const target = this.p;
    if (this.sharedFirst.has(target)) return this.sharedFirst.get(target);
    const out = this.resolveType(target) === T_ARRAY && this.size > 0 ? this.field(this.p, name) : undefined;
    this.sharedFirst.set(target, out);
    return out;
  }

  /** Offset after the value at `o` (a pointer counts as its own bytes). */
  private skip(o: number, depth: number): number {
    if (depth > MAX_DEPTH) throw new Error(`data nested too deep at ${o}`);
    const after = this.head(o);
    const t = this.t;
    if (t === T_POINTER) return after;
    const size = this.size;
    let q = this.p;
    if (t === T_MAP) {
      for (let i = 0; i < size * 2; i++) q = this.skip(q, depth + 1);
      return q;
    }
    if (t === T_ARRAY) {
      for (let i = 0; i < size; i++) q = this.skip(q, depth + 1);
      return q;
    }
    if (t === T_BOOLEAN) return q;
    // Strings, bytes, numbers: `size` payload bytes. Containers/end markers are invalid in records (mmdb-lib throws too).
    if (t === 12 || t === 13 || t > 15) throw new Error(`invalid data type ${t} at ${o}`);
    return q + size;
  }
}
