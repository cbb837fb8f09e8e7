import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dnskeyText, generateKey, loadZoneKeys } from '../../src/dnssec';
import { DEFAULT_MAP } from './server';

// The signed sample map and its keys, for the DNSSEC tests.

const NS_LINE = '    ns: [ns1.example.com, ns2.example.com]';
const EXTRA = `      sub        NS     ns.sub
      ns.sub     A      127.0.0.53
      a.b.ent    TXT    "deep"
`;

/** The sample map with a delegation and an empty non-terminal, signed with the keys in `keys` when given. */
export function signedMapText(keys: string | null): string {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('      sip        A      192.0.2.26\n', (l) => l + EXTRA);
  assert.ok(text.includes('ns.sub'));
  return keys === null ? text : text.replace(NS_LINE, `${NS_LINE}\n    dnssec: { keys: ${keys} }`);
}

/** A directory with a fresh combined key for example.com, and delv's trust-anchor file for it. */
export function keyDir(algorithm: 13 | 15 = 13): { dir: string; keys: string; anchor: string } {
  const dir = mkdtempSync(join(tmpdir(), 'gs-dnssec-'));
  const keys = join(dir, 'keys');
  mkdirSync(keys);
  generateKey('example.com', keys, algorithm, true);
  const [k] = loadZoneKeys(keys, 'example.com');
  const f = dnskeyText(k, 3600).split(/\s+/);
  const anchor = join(dir, 'anchor.conf');
  writeFileSync(anchor, `trust-anchors {\n  example.com. static-key ${f[4]} ${f[5]} ${f[6]} "${f.slice(7).join('')}";\n};\n`);
  return { dir, keys, anchor };
}

