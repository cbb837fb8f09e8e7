import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dsRecord, FLAGS_KSK, generateKey, keyTag, loadZoneKeys } from '../../src/dnssec';
import { freePort } from '../helpers/redis';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// DNSViz (Debian's dnsviz) probes the signed zone and `dnsviz grok` judges it: no errors, no warnings,
// the chain from the DS SECURE. Nothing leaves the machine: authoritative-only probing (-A) of the two
// NS addresses the zone itself names (127.0.0.1 and 127.0.0.2, both on our port), and the delegation and
// DS given on the command line (-N/-D), which dnsviz serves from a local named (bind9) as a stub "com"
// zone, so the root and com are never asked. Every server grok reports is checked to be loopback.
// Three key sets: a combined ECDSA P-256 key (the default; also the three regions by ECS and a wrong DS
// that grok must catch), a combined Ed25519 key, and a KSK + ZSK pair (each RRset signed by the right one).
//
// dnsviz 0.9.4 has no RFC 9824 logic: it reads a compact NXDOMAIN (NOERROR, NSEC to \000.QNAME with
// RRSIG NSEC NXNAME) as NODATA, which is what the RFC means it to be for a validator that does not know
// NXNAME, and validates that proof. It has no CDS/CDNSKEY checks either (it queries and validates their
// RRSIGs like any RRset), so the test holds the CDS to the DS the parent was given itself.

const dnsvizMissing = spawnSync('dnsviz', ['help'], { encoding: 'utf8' }).error ? 'dnsviz not installed (apt-get install dnsviz bind9; .ci/run does)' : false;

const MAP_EXTRA = '      a.b.ent    TXT    "deep"\n'; // b.ent: an empty non-terminal
const NS_LINE = '    ns: [ns1.example.com, ns2.example.com]';

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 180_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Every errors/warnings entry in grok's output, with its JSON path. */
function findings(o: unknown, path = ''): string[] {
  if (Array.isArray(o)) return o.flatMap((v, i) => findings(v, `${path}[${i}]`));
  if (o === null || typeof o !== 'object') return [];
  return Object.entries(o).flatMap(([k, v]) => (k === 'errors' || k === 'warnings' ? [`${path}/${k}: ${JSON.stringify(v)}`] : []).concat(findings(v, `${path}/${k}`)));
}

/** Every value under a key named KEY, anywhere in O. */
function valuesOf(o: unknown, key: string): unknown[] {
  if (Array.isArray(o)) return o.flatMap((v) => valuesOf(v, key));
  if (o === null || typeof o !== 'object') return [];
  return Object.entries(o).flatMap(([k, v]) => (k === key ? [v] : []).concat(valuesOf(v, key)));
}

type Grok = Record<string, { status?: string; delegation?: { status: string }; queries?: Record<string, Record<string, Array<Record<string, unknown>>>> }>;

/** The keys a zone is signed with: a combined key (CSK) of algorithm 13 or 15, or a KSK + ZSK pair (13). */
type KeySet = 'csk13' | 'csk15' | 'split';

/** A signed sample zone served on both of its NS addresses, and what dnsviz needs to reach it. */
interface Signed {
  gs: TestServer;
  dir: string;
  servers: string;
  /** The parent's DS (the KSK's or CSK's), as `-D` takes it: "TAG ALG 2 HEX". */
  ds: string;
  tags: { ksk: number; zsk: number };
}

async function startSigned(keySet: KeySet): Promise<Signed> {
  const dir = mkdtempSync(join(tmpdir(), 'gs-dnsviz-'));
  const keys = join(dir, 'keys');
  mkdirSync(keys);
  generateKey('example.com', keys, keySet === 'csk15' ? 15 : 13, true);
  if (keySet === 'split') generateKey('example.com', keys, 13, false);
  const loaded = loadZoneKeys(keys, 'example.com');
  const ksk = loaded.find((x) => x.flags === FLAGS_KSK);
  const zsk = loaded.find((x) => x.flags !== FLAGS_KSK) ?? ksk;
  assert.ok(ksk && zsk && loaded.length === (keySet === 'split' ? 2 : 1));
  const mapPath = join(dir, 'map.yaml');
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('      sip        A      192.0.2.26\n', (l) => l + MAP_EXTRA).replace(NS_LINE, `${NS_LINE}\n    dnssec: { keys: keys }`);
  assert.ok(text.includes('a.b.ent') && text.includes('dnssec:'));
  writeFileSync(mapPath, text);
  const port = await freePort();
  // The sample zone's own NS glue: ns1 127.0.0.1, ns2 127.0.0.2; dnsviz checks both.
  const gs = await startServer({ config: mapPath, listen: [`127.0.0.1:${port}`, `127.0.0.2:${port}`] });
  return {
    gs,
    dir,
    servers: `ns1.example.com=127.0.0.1:${port},ns2.example.com=127.0.0.2:${port}`,
    ds: dsRecord(ksk).split(/\s+/).slice(3).join(' '),
    tags: { ksk: keyTag(ksk.rdata), zsk: keyTag(zsk.rdata) },
  };
}

/** dnsviz probe (authoritative, loopback only, EDNS diagnostics, ECS SUBNET) of NAMES for TYPES, then grok. */
async function probeAndGrok(z: Signed, label: string, names: string[], types: string, subnet: string, dsText = z.ds): Promise<Grok> {
  const probe = join(z.dir, `probe-${label}.json`);
  await run('dnsviz', ['probe', '-A', '-E', '-e', subnet, '-R', types, '-x', `example.com:${z.servers}`, '-N', `example.com:${z.servers}`, '-D', `example.com:${dsText}`, '-o', probe, ...names]);
  const grok = JSON.parse(await run('dnsviz', ['grok', '-r', probe])) as Grok;
  const queried = new Set(valuesOf(grok, 'servers').flat() as string[]);
  assert.ok(queried.size > 0, JSON.stringify(grok).slice(0, 2000));
  for (const s of queried) assert.match(s, /^(127\.\d+\.\d+\.\d+|::1)$/, `dnsviz asked ${s}, not loopback`);
  return grok;
}

const clean = (g: Grok): void => {
  assert.deepEqual(findings(g), []);
  assert.equal(g['example.com.']?.delegation?.status, 'SECURE', JSON.stringify(g['example.com.']?.delegation));
};
const rrset = (g: Grok, name: string, type: string): Record<string, unknown> => {
  const q = g[name]?.queries?.[`${name}/IN/${type}`];
  const rs = q?.answer?.find((r) => r.type === type);
  assert.ok(rs, `${name} ${type}: ${JSON.stringify(q)}`);
  return rs;
};
/** The RRset's signatures are all VALID, and made by the key with tag TAG. */
const validSigs = (r: Record<string, unknown>, tag: number): void => {
  const sigs = (r.rrsig ?? []) as Array<{ status: string; key_tag: number }>;
  assert.ok(sigs.length > 0 && sigs.every((s) => s.status === 'VALID'), JSON.stringify(r));
  assert.deepEqual([...new Set(sigs.map((s) => s.key_tag))], [tag], `${String(r.description)}: signed by ${sigs.map((s) => s.key_tag).join(', ')}, not ${tag}`);
};

const ZONE_NAMES = ['example.com', 'www.example.com', 'api.example.com', 'mail.example.com', '_sip._udp.example.com', 'b.ent.example.com', 'no-such-name.example.com'];
const ZONE_TYPES = 'A,AAAA,TXT,MX,NS,SOA,CDS,CDNSKEY,DNSKEY,CAA,SRV,CNAME';

/** The whole-zone probe: apex, DNSKEY/CDS/CDNSKEY, a service, CNAME, MX, SRV, an empty non-terminal, NODATA, compact NXDOMAIN. */
async function checkZone(z: Signed, label: string): Promise<void> {
  const g = await probeAndGrok(z, label, ZONE_NAMES, ZONE_TYPES, '113.108.0.0/24');
  clean(g);
  for (const n of ZONE_NAMES) assert.equal(g[`${n}.`]?.status, 'NOERROR', n);
  // The key-signing key signs DNSKEY, CDS and CDNSKEY; the zone-signing key everything else (one key for a CSK).
  for (const t of ['DNSKEY', 'CDS', 'CDNSKEY']) validSigs(rrset(g, 'example.com.', t), z.tags.ksk);
  for (const t of ['SOA', 'NS', 'MX', 'TXT', 'CAA']) validSigs(rrset(g, 'example.com.', t), z.tags.zsk);
  // The CDS is the DS the parent holds (dnsviz itself does not compare them).
  const norm = (t: string): string => t.toLowerCase().split(/\s+/).slice(0, 3).join(' ') + ' ' + t.toLowerCase().split(/\s+/).slice(3).join('');
  assert.deepEqual((rrset(g, 'example.com.', 'CDS').rdata as string[]).map(norm), [norm(z.ds)]);
  validSigs(rrset(g, 'www.example.com.', 'A'), z.tags.zsk);
  validSigs(rrset(g, 'api.example.com.', 'CNAME'), z.tags.zsk);
  validSigs(rrset(g, '_sip._udp.example.com.', 'SRV'), z.tags.zsk);
  // NODATA at a name that exists and at the empty non-terminal, and the compact NXDOMAIN: signed NSEC proofs.
  for (const [name, type] of [['mail.example.com.', 'TXT'], ['b.ent.example.com.', 'A'], ['no-such-name.example.com.', 'A']]) {
    const nodata = g[name]?.queries?.[`${name}/IN/${type}`]?.nodata;
    assert.ok(nodata && nodata.length > 0, `${name} ${type}: ${JSON.stringify(g[name])}`);
    const proofs = nodata.flatMap((n) => (n.proof ?? []) as Array<{ status: string; nsec: Array<{ rdata: string[] }> }>);
    assert.ok(proofs.length > 0 && proofs.every((p) => p.status === 'VALID'), JSON.stringify(nodata));
    if (name.startsWith('no-such-name')) assert.deepEqual(proofs[0].nsec[0].rdata, ['\\000.no-such-name.example.com. RRSIG NSEC TYPE128']);
  }
}

describe('dnsviz probe + grok on the signed zone (a combined key, algorithm 13)', { skip: dnsvizMissing }, () => {
  let z: Signed;
  before(async () => {
    z = await startSigned('csk13');
  });
  after(async () => {
    await z?.gs.close();
  });

  test('the zone (apex, DNSKEY/CDS/CDNSKEY, a service, CNAME, MX, SRV, an empty non-terminal, NODATA, compact NXDOMAIN): no errors, no warnings, SECURE', async () => {
    await checkZone(z, 'zone');
  });

  for (const [region, subnet, a, aaaa] of [
    ['south', '113.108.0.0/24', '192.0.2.10', '2001:db8:10::10'],
    ['north', '202.96.0.0/24', '198.51.100.10', '2001:db8:20::10'],
    ['overseas', '8.8.8.0/24', '203.0.113.10', '2001:db8:30::10'],
  ]) {
    test(`www for a client in ${region} (ECS ${subnet}): ${a} and ${aaaa}, signed, no errors, no warnings`, async () => {
      const g = await probeAndGrok(z, region, ['www.example.com'], 'A,AAAA', subnet);
      clean(g);
      const rA = rrset(g, 'www.example.com.', 'A');
      const rAAAA = rrset(g, 'www.example.com.', 'AAAA');
      assert.deepEqual(rA.rdata, [a]);
      assert.deepEqual(rAAAA.rdata, [aaaa]);
      validSigs(rA, z.tags.zsk);
      validSigs(rAAAA, z.tags.zsk);
    });
  }

  test('a DS that does not match our key: grok reports it (the checks above can fail)', async () => {
    const bad = z.ds.replace(/([0-9A-F])$/i, (c) => (c === '0' ? '1' : '0'));
    const g = await probeAndGrok(z, 'bad-ds', ['www.example.com'], 'A', '8.8.8.0/24', bad);
    assert.match(findings(g).join('\n'), /DIGEST_INVALID/);
    assert.equal(g['example.com.']?.delegation?.status, 'BOGUS');
  });
});

for (const [keySet, what] of [
  ['csk15', 'a combined Ed25519 key (algorithm 15)'],
  ['split', 'a KSK + ZSK pair: the KSK signs DNSKEY, CDS and CDNSKEY, the ZSK the rest'],
] as const) {
  describe(`dnsviz probe + grok on the zone signed with ${what}`, { skip: dnsvizMissing }, () => {
    let z: Signed;
    before(async () => {
      z = await startSigned(keySet);
    });
    after(async () => {
      await z?.gs.close();
    });
    test('the zone: no errors, no warnings, SECURE, each RRset signed by the right key', async () => {
      await checkZone(z, 'zone');
    });
  });
}
