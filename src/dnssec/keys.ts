import { createECDH, createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GeosteerError } from '../common/errors';
import { nameWire } from './wire-name';

/**
 * DNSSEC keys in BIND's file format (K<zone>.+<alg>+<tag>.key / .private,
 * "Private-key-format: v1.3"), so `dnssec-dsfromkey`, `dnssec-settime` and
 * BIND users can read what `geosteer keygen` writes and the other way round.
 * Node's own crypto only: ECDSA P-256 (algorithm 13) and Ed25519 (15).
 */

export type Algorithm = 13 | 15;
export const ALGORITHMS: readonly Algorithm[] = [13, 15];
const ALG_NAME: Record<Algorithm, string> = { 13: 'ECDSAP256SHA256', 15: 'ED25519' };
/** DNSKEY flags: ZONE (256), plus SEP (1) for a key-signing or combined key. */
export const FLAGS_ZSK = 256;
export const FLAGS_KSK = 257;

/** A zone key loaded for signing. `privateKey` never leaves the signing code: no toJSON, no logs. */
export interface ZoneKey {
  readonly zone: string;
  readonly flags: number;
  readonly algorithm: Algorithm;
  readonly tag: number;
  /** DNSKEY RDATA: flags, protocol 3, algorithm, public key. */
  readonly rdata: Buffer;
  readonly privateKey: KeyObject;
  /** The .key file it came from (for messages; never the .private). */
  readonly file: string;
  /** BIND's timing metadata (seconds since the epoch), from the .private or the .key comments. */
  readonly timing: KeyTiming;
}

/** The timing metadata a key's files carry (dnssec-keygen -P/-A/-I/-D, dnssec-settime); absent: not set. */
export interface KeyTiming {
  readonly publish?: number;
  readonly activate?: number;
  readonly inactive?: number;
  readonly delete?: number;
}

/** Where a key is at a moment: not yet in the DNSKEY RRset, in it only, in it and signing, or gone. */
export type KeyState = 'unpublished' | 'published' | 'active' | 'deleted';

const TIMING_FIELDS = [['Publish', 'publish'], ['Activate', 'activate'], ['Inactive', 'inactive'], ['Delete', 'delete']] as const;

/**
 * As BIND's dns_dnssec_keyactive: a key with neither Publish nor Activate (a legacy key) is
 * published and active; otherwise it is published from Publish (or Activate, which implies it) and
 * signs from Activate; it stops signing at Inactive and leaves the DNSKEY RRset at Delete.
 */
export function keyState(t: KeyTiming, nowSec: number): KeyState {
  const due = (x: number | undefined): boolean => x !== undefined && x <= nowSec;
  if (due(t.delete)) return 'deleted';
  if (t.publish === undefined && t.activate === undefined) return due(t.inactive) ? 'published' : 'active';
  if (due(t.activate) && !due(t.inactive)) return 'active';
  if (due(t.publish) || due(t.activate)) return 'published';
  return 'unpublished';
}

/** The next moment (seconds) after `nowSec` at which some key changes state, or null. */
export function nextKeyEvent(keys: readonly Pick<ZoneKey, 'timing'>[], nowSec: number): number | null {
  let next: number | null = null;
  for (const k of keys) for (const [, f] of TIMING_FIELDS) {
    const t = k.timing[f];
    if (t !== undefined && t > nowSec && (next === null || t < next)) next = t;
  }
  return next;
}

/** YYYYMMDDHHMMSS (UTC), as BIND writes times, to seconds since the epoch; 0 ("none") is not set. */
function parseStamp(s: string, file: string, field: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(s.trim().split(/\s/)[0]);
  if (!m) {
    if (/^0?$/.test(s.trim().split(/\s/)[0])) return undefined;
    throw new KeyError(`${file}: ${field} is not a time as YYYYMMDDHHMMSS`);
  }
  return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000;
}

/** Timing fields of `Name: value` lines (the .private) or `; Name: value` comments (the .key). */
function parseTiming(text: string, file: string, comments: boolean): KeyTiming {
  const t: { -readonly [K in keyof KeyTiming]: KeyTiming[K] } = {};
  for (const raw of text.split('\n')) {
    const m = (comments ? /^;\s*([A-Za-z]+):\s*(\S+)/ : /^([A-Za-z]+):\s*(\S+)/).exec(raw.trim());
    if (!m) continue;
    const f = TIMING_FIELDS.find(([name]) => name === m[1]);
    if (f) t[f[1]] = parseStamp(m[2], file, m[1]);
  }
  return t;
}

/** Thrown for a key directory that does not give a usable key set; the message never holds key material. */
export class KeyError extends GeosteerError {
  constructor(message: string) {
    super('GS_ERR_DNSSEC_KEY', message);
    this.name = 'KeyError';
  }
}

/** RFC 4034 Appendix B. */
export function keyTag(rdata: Uint8Array): number {
  let ac = 0;
  for (let i = 0; i < rdata.length; i++) ac += i & 1 ? rdata[i] : rdata[i] << 8;
  ac += (ac >> 16) & 0xffff;
  return ac & 0xffff;
}

function dnskeyRdata(flags: number, algorithm: Algorithm, publicKey: Buffer): Buffer {
  const out = Buffer.alloc(4 + publicKey.length);
  out.writeUInt16BE(flags, 0);
  out[2] = 3;
  out[3] = algorithm;
  publicKey.copy(out, 4);
  return out;
}

const b64u = (s: string | undefined): Buffer => Buffer.from(s ?? '', 'base64url');

/** The public key bytes DNSKEY carries (RFC 6605: X | Y; RFC 8080: the 32-byte key) and the private scalar/seed. */
function rawKeys(algorithm: Algorithm, privateKey: KeyObject): { pub: Buffer; priv: Buffer } {
  const jwk = privateKey.export({ format: 'jwk' });
  if (algorithm === 13) return { pub: Buffer.concat([b64u(jwk.x), b64u(jwk.y)]), priv: b64u(jwk.d) };
  return { pub: b64u(jwk.x), priv: b64u(jwk.d) };
}

function privateFromRaw(algorithm: Algorithm, priv: Buffer): KeyObject {
  if (algorithm === 13) {
    if (priv.length !== 32) throw new Error('an ECDSA P-256 private key is 32 bytes');
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(priv);
    const pub = ecdh.getPublicKey(); // 0x04 | X | Y
    return createPrivateKey({
      key: { kty: 'EC', crv: 'P-256', d: priv.toString('base64url'), x: pub.subarray(1, 33).toString('base64url'), y: pub.subarray(33).toString('base64url') },
      format: 'jwk',
    });
  }
  if (priv.length !== 32) throw new Error('an Ed25519 private key is 32 bytes');
  // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), priv]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

const stamp = (d: Date): string => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);

export interface GeneratedKey {
  tag: number;
  /** File names without directory: K<zone>.+0AA+TTTTT.key / .private. */
  keyFile: string;
  privateFile: string;
}

/** File base name BIND uses: K<zone>.+<alg>+<tag>, the zone with its trailing dot. */
export function keyBaseName(zone: string, algorithm: Algorithm, tag: number): string {
  return `K${zone}.+${String(algorithm).padStart(3, '0')}+${String(tag).padStart(5, '0')}`;
}

/** Makes a new key for `zone` and writes its two files into `dir` (the .private mode 0600). */
export function generateKey(zone: string, dir: string, algorithm: Algorithm, ksk: boolean, now = new Date()): GeneratedKey {
  const { privateKey } = algorithm === 13 ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const { pub, priv } = rawKeys(algorithm, privateKey);
  const flags = ksk ? FLAGS_KSK : FLAGS_ZSK;
  const rdata = dnskeyRdata(flags, algorithm, pub);
  const tag = keyTag(rdata);
  const base = keyBaseName(zone, algorithm, tag);
  const kind = ksk ? 'key-signing' : 'zone-signing';
  const t = stamp(now);
  const keyText =
    `; This is a ${kind} key, keyid ${tag}, for ${zone}.\n` +
    `; Created: ${t} (${now.toUTCString()})\n; Publish: ${t}\n; Activate: ${t}\n` +
    `${zone}. IN DNSKEY ${flags} 3 ${algorithm} ${pub.toString('base64')}\n`;
  const privText =
    `Private-key-format: v1.3\nAlgorithm: ${algorithm} (${ALG_NAME[algorithm]})\nPrivateKey: ${priv.toString('base64')}\n` +
    `Created: ${t}\nPublish: ${t}\nActivate: ${t}\n`;
  writeFileSync(join(dir, base + '.key'), keyText, { mode: 0o644, flag: 'wx' });
  writeFileSync(join(dir, base + '.private'), privText, { mode: 0o600, flag: 'wx' });
  return { tag, keyFile: base + '.key', privateFile: base + '.private' };
}

/** Reads the DNSKEY line of a .key file: `zone. [TTL] [IN] DNSKEY flags 3 alg base64...`. */
function parseKeyFile(text: string, file: string, zone: string): { flags: number; algorithm: Algorithm; pub: Buffer } {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/;.*$/, '').trim();
    if (!line) continue;
    const f = line.split(/\s+/);
    const at = f.findIndex((x) => x.toUpperCase() === 'DNSKEY');
    if (at < 1) throw new KeyError(`${file}: not a DNSKEY record`);
    const owner = f[0].toLowerCase().replace(/\.$/, '');
    if (owner !== zone) throw new KeyError(`${file}: the key is for "${owner}", not the zone "${zone}"`);
    const [flags, proto, alg] = f.slice(at + 1, at + 4).map(Number);
    if (proto !== 3 || (flags !== FLAGS_ZSK && flags !== FLAGS_KSK)) throw new KeyError(`${file}: DNSKEY flags must be 256 or 257 and protocol 3`);
    if (alg !== 13 && alg !== 15) throw new KeyError(`${file}: algorithm ${alg} is not supported (13 ECDSAP256SHA256 or 15 ED25519)`);
    return { flags, algorithm: alg, pub: Buffer.from(f.slice(at + 4).join(''), 'base64') };
  }
  throw new KeyError(`${file}: no DNSKEY record`);
}

/** The PrivateKey field of a v1.x .private file; errors say which file, never what it holds. */
function parsePrivateFile(text: string, file: string, algorithm: Algorithm): Buffer {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line.trim());
    if (m) fields.set(m[1], m[2]);
  }
  if (!/^v1\.[0-9]+$/.test(fields.get('Private-key-format') ?? '')) throw new KeyError(`${file}: not a BIND private key file (Private-key-format: v1.x)`);
  const alg = Number((fields.get('Algorithm') ?? '').split(/\s/)[0]);
  if (alg !== algorithm) throw new KeyError(`${file}: its algorithm (${alg}) is not the .key file's (${algorithm})`);
  const pk = fields.get('PrivateKey');
  if (!pk) throw new KeyError(`${file}: no PrivateKey field`);
  return Buffer.from(pk, 'base64');
}

/** Loads one key pair from its .key file path (the .private beside it), checking that the two match. */
export function loadKey(keyPath: string, zone: string): ZoneKey {
  const privPath = keyPath.replace(/\.key$/, '.private');
  let keyText: string;
  let privText: string;
  try {
    keyText = readFileSync(keyPath, 'utf8');
    privText = readFileSync(privPath, 'utf8');
  } catch (err) {
    throw new KeyError(`cannot read ${(err as NodeJS.ErrnoException).path ?? keyPath}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const { flags, algorithm, pub } = parseKeyFile(keyText, keyPath, zone);
  let privateKey: KeyObject;
  try {
    privateKey = privateFromRaw(algorithm, parsePrivateFile(privText, privPath, algorithm));
  } catch (err) {
    if (err instanceof KeyError) throw err;
    throw new KeyError(`${privPath}: the private key does not load (${(err as Error).message.split('\n')[0]})`);
  }
  if (!rawKeys(algorithm, privateKey).pub.equals(pub)) throw new KeyError(`${privPath}: the private key does not match ${keyPath}`);
  const rdata = dnskeyRdata(flags, algorithm, pub);
  // BIND keeps the times in both files (dnssec-settime rewrites both); the .private wins where they differ.
  const timing = { ...parseTiming(keyText, keyPath, true), ...parseTiming(privText, privPath, false) };
  return { zone, flags, algorithm, tag: keyTag(rdata), rdata, privateKey, file: keyPath, timing };
}

/** Every K<zone>.+*.key in `dir`, loaded; at least one key, else KeyError. */
export function loadZoneKeys(dir: string, zone: string): ZoneKey[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new KeyError(`cannot read the key directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const prefix = `K${zone}.+`;
  const keys = names
    .filter((n) => n.toLowerCase().startsWith(prefix.toLowerCase()) && n.endsWith('.key'))
    .sort()
    .map((n) => loadKey(join(dir, n), zone));
  if (keys.length === 0) throw new KeyError(`no key for ${zone} in ${dir} (make one: geosteer keygen ${zone} --dir ${dir})`);
  return keys;
}

/**
 * The key's public part and its state now, for a hash that tells key sets apart (never the private
 * key): a new key, and a key whose time to publish, sign or go has come, is a new map version.
 */
export function publicKeyFingerprint(key: ZoneKey, nowMs = Date.now()): string {
  return createHash('sha256').update(key.rdata).update(keyState(key.timing, Math.floor(nowMs / 1000))).digest('hex').slice(0, 16);
}

/** DS RDATA (RFC 4509, digest type 2: SHA-256 over owner name | DNSKEY RDATA): also the CDS RDATA. */
export function dsRdata(key: Pick<ZoneKey, 'zone' | 'tag' | 'algorithm' | 'rdata'>): Buffer {
  const head = Buffer.from([key.tag >> 8, key.tag & 0xff, key.algorithm, 2]);
  return Buffer.concat([head, createHash('sha256').update(nameWire(key.zone)).update(key.rdata).digest()]);
}

/** DS record (RFC 4509, digest type 2: SHA-256 over owner name | DNSKEY RDATA) in presentation form. */
export function dsRecord(key: Pick<ZoneKey, 'zone' | 'tag' | 'algorithm' | 'rdata'>): string {
  const digest = createHash('sha256').update(nameWire(key.zone)).update(key.rdata).digest('hex').toUpperCase();
  return `${key.zone}. IN DS ${key.tag} ${key.algorithm} 2 ${digest}`;
}

/** DNSKEY in presentation form. */
export function dnskeyText(key: Pick<ZoneKey, 'zone' | 'rdata'>, ttl: number): string {
  const r = key.rdata;
  return `${key.zone}. ${ttl} IN DNSKEY ${r.readUInt16BE(0)} ${r[2]} ${r[3]} ${r.subarray(4).toString('base64')}`;
}

/** The public key for verifying (tests, self-check). */
export function publicKeyOf(key: ZoneKey): KeyObject {
  return createPublicKey(key.privateKey);
}
