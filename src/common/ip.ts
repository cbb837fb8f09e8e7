import { isIPv4, isIPv6 } from 'node:net';

/**
 * Small IP helpers shared by config (CIDR validation), geo (prefix arithmetic)
 * and dns (ECS addresses). Addresses are byte arrays: 4 bytes for IPv4, 16 for
 * IPv6, so prefix maths is the same for both families.
 */

export type IpBytes = Uint8Array;

/** Parses a textual IPv4/IPv6 address (no zone id). Returns null if invalid. */
export function parseIp(text: string): IpBytes | null {
  // The common forms by hand (a big zone parses a million addresses, then encodes them); anything else, valid
  // or not, goes to net.isIPv4 / isIPv6 and the general parser, which decide.
  return parseDottedQuad(text) ?? parseHexIpv6(text) ?? parseIpGeneral(text);
}

/** A dotted quad exactly as net.isIPv4 accepts it (0-255, no leading zeros), else null. */
function parseDottedQuad(text: string): IpBytes | null {
  const out = new Uint8Array(4);
  return writeDottedQuad(text, out, 0) ? out : null;
}

/**
 * Writes the 4 bytes of a dotted quad in net.isIPv4's form (0-255, no leading zeros) at `out[at]`; false for
 * anything else (bytes past `at` may then be scribbled on). For parseIp and the answer encoder, which writes
 * a zone's addresses straight into its buffer.
 */
export function writeDottedQuad(text: string, out: Uint8Array, at: number): boolean {
  const n = text.length;
  if (n < 7 || n > 15) return false;
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = value;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57 && !(digits === 1 && value === 0)) {
      value = value * 10 + c - 48;
      if (++digits > 3 || value > 255) return false;
    } else return false;
  }
  return part === 4;
}

/** Hex value of a character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * IPv6 of hex groups only (no embedded IPv4, no zone id): eight groups of 1-4 hex digits, or at most seven
 * with one "::", which is what net.isIPv6 accepts of such text. Null for anything else (the general parser decides).
 */
function parseHexIpv6(text: string): IpBytes | null {
  const out = new Uint8Array(16);
  return writeHexIpv6(text, out, 0) ? out : null;
}

/**
 * Writes the 16 bytes of parseHexIpv6's form at `out[at]`; false for anything else (the 16 bytes from `at` may
 * then be scribbled on). For parseHexIpv6 and the answer encoder (no array per address: a 1M-record build
 * encodes hundreds of thousands of AAAA answers).
 */
export function writeHexIpv6(text: string, out: Uint8Array, at: number): boolean {
  const n = text.length;
  if (n < 2 || n > 39) return false;
  let count = 0;
  let gap = -1; // groups before the "::"
  let digits = 0;
  let value = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 58) {
      if (i + 1 < n && text.charCodeAt(i + 1) === 58) {
        if (gap >= 0) return false;
        if (digits > 0) {
          out[at + count * 2] = value >> 8;
          out[at + count++ * 2 + 1] = value & 0xff;
        } else if (i !== 0) return false; // ":" then "::"
        gap = count;
        i++;
        if (i + 1 < n && text.charCodeAt(i + 1) === 58) return false; // ":::"
      } else {
        if (digits === 0 || i + 1 === n || count === 7) return false; // empty group, or a trailing single ":"
        out[at + count * 2] = value >> 8;
        out[at + count++ * 2 + 1] = value & 0xff;
      }
      digits = 0;
      value = 0;
      continue;
    }
    const v = hexValue(c);
    if (v < 0 || ++digits > 4) return false;
    value = value * 16 + v;
  }
  if (digits > 0) {
    if (count === 8) return false;
    out[at + count * 2] = value >> 8;
    out[at + count++ * 2 + 1] = value & 0xff;
  }
  if (gap < 0 ? count !== 8 : count > 7) return false;
  if (gap >= 0) {
    // The groups after "::" move to the end (last first, as the ranges may overlap); the gap is zeros.
    const tail = count - gap;
    for (let g = tail - 1; g >= 0; g--) {
      out[at + (8 - tail + g) * 2] = out[at + (gap + g) * 2];
      out[at + (8 - tail + g) * 2 + 1] = out[at + (gap + g) * 2 + 1];
    }
    for (let b = gap * 2; b < (8 - tail) * 2; b++) out[at + b] = 0;
  }
  return true;
}

/** The general parser (net.isIPv4 / isIPv6 decide validity); exported so a test can hold the fast paths to it. */
export function parseIpGeneral(text: string): IpBytes | null {
  if (isIPv4(text)) {
    const out = new Uint8Array(4);
    const parts = text.split('.');
    for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
    return out;
  }
  if (!isIPv6(text) || text.includes('%')) return null;
  const out = new Uint8Array(16);
  let head = text;
  let tail = '';
  const dbl = text.indexOf('::');
  if (dbl >= 0) {
    head = text.slice(0, dbl);
    tail = text.slice(dbl + 2);
  }
  const toGroups = (s: string): number[] => {
    if (s === '') return [];
    const groups: number[] = [];
    for (const part of s.split(':')) {
      if (part.includes('.')) {
        const v4 = parseIp(part);
        if (!v4) return [NaN];
        groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
      } else {
        groups.push(parseInt(part, 16));
      }
    }
    return groups;
  };
  const h = toGroups(head);
  const t = toGroups(tail);
  const all = dbl >= 0 ? [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t] : h;
  if (all.length !== 8 || all.some((g) => Number.isNaN(g))) return null;
  for (let i = 0; i < 8; i++) {
    out[i * 2] = all[i] >> 8;
    out[i * 2 + 1] = all[i] & 0xff;
  }
  return out;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run as ::). */
export function formatIp(bytes: IpBytes): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** True for an IPv4-mapped IPv6 address (::ffff:a.b.c.d). Allocates nothing: usable on the query path. */
export function isIpv4Mapped(bytes: IpBytes): boolean {
  if (bytes.length !== 16 || bytes[10] !== 0xff || bytes[11] !== 0xff) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** If `bytes` is an IPv4-mapped IPv6 address (::ffff:a.b.c.d), the IPv4 bytes; else null. */
export function unmapIpv4(bytes: IpBytes): IpBytes | null {
  return isIpv4Mapped(bytes) ? bytes.slice(12) : null;
}

/** Copy of `bytes` with every bit after the first `prefix` bits cleared. */
export function maskIp(bytes: IpBytes, prefix: number): IpBytes {
  const out = new Uint8Array(bytes.length);
  const full = prefix >> 3;
  for (let i = 0; i < full && i < bytes.length; i++) out[i] = bytes[i];
  const rem = prefix & 7;
  if (rem && full < bytes.length) out[full] = bytes[full] & (0xff << (8 - rem));
  return out;
}

/** Number of leading bits two same-family addresses share. */
export function commonPrefixLength(a: IpBytes, b: IpBytes): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ^ b[i];
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return a.length * 8;
}

export interface Cidr {
  bytes: IpBytes;
  prefix: number;
}

/**
 * Parses `addr/len` (or a bare address, as a host route). Rejects host bits set
 * beyond the prefix, because `10.1.2.3/8` is almost always a typo for something.
 */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf('/');
  const addrText = slash >= 0 ? text.slice(0, slash) : text;
  const bytes = parseIp(addrText);
  if (!bytes) return `"${addrText}" is not an IPv4 or IPv6 address`;
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
      return `prefix length "${lenText}" must be 0-${max}`;
    }
    prefix = Number(lenText);
  }
  const masked = maskIp(bytes, prefix);
  for (let i = 0; i < bytes.length; i++) {
    if (masked[i] !== bytes[i]) return `host bits set after /${prefix} (did you mean ${formatIp(masked)}/${prefix}?)`;
  }
  return { bytes, prefix };
}

/** True when `addr` (same family) lies inside `net/prefix`. */
export function cidrContains(net: Cidr, addr: IpBytes): boolean {
  if (net.bytes.length !== addr.length) return false;
  return commonPrefixLength(net.bytes, addr) >= net.prefix;
}
