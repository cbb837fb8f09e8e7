import { mkdirSync } from 'node:fs';
import { normalizeName } from '../config';
import { ALGORITHMS, dnskeyText, dsRecord, FLAGS_KSK, generateKey, KeyError, loadZoneKeys, type Algorithm } from '../dnssec';
import { UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

function zoneArg(raw: string): string {
  const zone = normalizeName(raw);
  if (zone === null || zone === '') throw new UsageError(`"${raw}" is not a valid zone name`);
  return zone;
}

/**
 * `geosteer keygen ZONE [--dir DIR] [--algorithm 13|15] [--ksk|--zsk]`: writes a new key pair in BIND's
 * format and prints the files' base name (as dnssec-keygen does). A combined key by default.
 */
export function keygenCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseVerbArgs('keygen', args);
  const zone = zoneArg(positionals[0]);
  const alg = Number(values.algorithm ?? 13);
  if (!ALGORITHMS.includes(alg as Algorithm)) throw new UsageError(`--algorithm must be 13 (ECDSAP256SHA256) or 15 (ED25519), not "${values.algorithm}"`);
  if (values.ksk && values.zsk) throw new UsageError('--ksk and --zsk: choose one (neither makes a combined signing key)');
  const dir = values.dir ?? '.';
  mkdirSync(dir, { recursive: true });
  // A combined key (CSK) and a KSK both carry the SEP flag (257); a ZSK has 256.
  const key = generateKey(zone, dir, alg as Algorithm, !values.zsk);
  out(key.keyFile.replace(/\.key$/, ''));
  return 0;
}

/** `geosteer ds ZONE [--dir DIR] [--dnskey]`: the DS records of the zone's KSKs (or CSK), for the parent zone. */
export function dsCommand(args: string[], out: (s: string) => void): number {
  const { values, positionals } = parseVerbArgs('ds', args);
  const zone = zoneArg(positionals[0]);
  const keys = loadZoneKeys(values.dir ?? '.', zone);
  const sep = keys.filter((k) => k.flags === FLAGS_KSK);
  if (sep.length === 0) throw new KeyError(`no key-signing key (flags 257) for ${zone} in ${values.dir ?? '.'}: make one with geosteer keygen ${zone} --ksk`);
  for (const k of sep) out(values.dnskey ? dnskeyText(k, 3600) : dsRecord(k));
  return 0;
}
