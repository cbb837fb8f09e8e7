import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { loadMapFile } from '../../src/config';
import { generateKey, resignDelayMs, validityAt } from '../../src/dnssec';
import { keyDir, signedMapText } from '../helpers/dnssec';
import { dig } from '../helpers/dig';
import { runCliSync, showRun } from '../helpers/cli';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';
import { Registry } from '../../src/observability';

// Online signing checked by a real validator: BIND's delv (bind9-dnsutils) with our DNSKEY as trust
// anchor says "fully validated" for answers, CNAME chains, NODATA, empty non-terminals and compact
// NXDOMAIN; without DO the replies are the same bytes as from the unsigned map.

function delv(port: number, anchor: string, name: string, type: string): Promise<string> {
  return new Promise((resolve) => {
    execFile('delv', [`@127.0.0.1`, '-p', String(port), '-a', anchor, '+root=example.com', name, type], { timeout: 20_000 }, (_err, stdout, stderr) => resolve(stdout + stderr));
  });
}

describe('a signed zone, validated by delv', () => {
  let signed: TestServer;
  let plain: TestServer;
  let k: ReturnType<typeof keyDir>;
  before(async () => {
    k = keyDir();
    const mapPath = join(k.dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('keys'));
    signed = await startServer({ config: mapPath });
    plain = await startServer({ mapText: signedMapText(null) });
  });
  after(async () => {
    await signed?.close();
    await plain?.close();
  });

  const cases: Array<[string, string, RegExp]> = [
    ['www.example.com', 'A', /^www\.example\.com\.\s+60\s+IN\s+A\s/m],
    ['www.example.com', 'AAAA', /IN\s+AAAA\s+2001:db8:/],
    ['api.example.com', 'A', /CNAME\s+www\.example\.com\.[\s\S]*IN\s+A\s/],
    ['example.com', 'DNSKEY', /IN\s+DNSKEY\s+257 3 13/],
    ['example.com', 'CDS', /IN\s+CDS\s+\d+ 13 2 /], // RFC 7344, for the parent
    ['example.com', 'CDNSKEY', /IN\s+CDNSKEY\s+257 3 13/],
    ['example.com', 'SOA', /IN\s+SOA\s/],
    ['example.com', 'NS', /IN\s+NS\s+ns1\.example\.com\./],
    ['example.com', 'MX', /IN\s+MX\s+10 mail\.example\.com\./],
    ['_sip._udp.example.com', 'SRV', /IN\s+SRV\s/],
    ['mail.example.com', 'TXT', /negative response, fully validated/], // NODATA
    ['www.example.com', 'MX', /negative response, fully validated/], // NODATA at a service
    ['ent.example.com', 'TXT', /negative response, fully validated/], // empty non-terminal
    ['nope.example.com', 'A', /negative response, fully validated/], // compact NXDOMAIN
    ['Deep.Nope.Example.com', 'AAAA', /negative response, fully validated/], // NXDOMAIN, case kept
    ['sub.example.com', 'DS', /negative response, fully validated/], // no DS at the cut
  ];
  for (const [name, type, shows] of cases) {
    test(`${name} ${type}: fully validated`, async () => {
      const out = await delv(signed.port, k.anchor, name, type);
      assert.match(out, /fully validated/, out);
      assert.match(out, shows, out);
    });
  }

  test('without DO the replies are the same bytes as the unsigned map gives (ECS, NXDOMAIN, referral, CNAME)', async () => {
    const queries = [
      buildQuery({ name: 'www.example.com', edns: { options: [ecsOption('113.108.0.0', 24)] } }),
      buildQuery({ name: 'www.example.com', type: 28 }),
      buildQuery({ name: 'api.example.com', edns: {} }),
      buildQuery({ name: 'nope.example.com', edns: {} }),
      buildQuery({ name: 'x.sub.example.com', edns: {} }),
      buildQuery({ name: 'example.com', type: 48, edns: {} }),
      buildQuery({ name: 'example.com', type: 15, edns: {} }),
    ];
    for (const q of queries.slice(0, 5).concat(queries.slice(6))) {
      assert.deepEqual(await udpExchange(signed.port, q), await udpExchange(plain.port, q));
    }
    // DNSKEY is a record of the signed zone only; without DO it comes without its RRSIG.
    const dnskey = await dig(signed.port, ['example.com', 'DNSKEY', '+norec']);
    assert.equal(dnskey.answer.length, 1);
  });

  test('the CDS at the apex is what geosteer ds prints, the CDNSKEY the DNSKEY; signed by the KSK, in the apex NSEC', async () => {
    const ds = runCliSync(['ds', 'example.com', '--dir', k.keys]);
    assert.equal(ds.code, 0, showRun(ds));
    const cds = await dig(signed.port, ['example.com', 'CDS', '+norec', '+dnssec']);
    assert.deepEqual(cds.answer.map((rr) => rr[3]), ['CDS', 'RRSIG']);
    const text = (rr: string[]): string => `${rr.slice(4, 7).join(' ')} ${rr.slice(7).join('').toUpperCase()}`;
    assert.equal(`example.com. IN DS ${text(cds.answer[0])}\n`, ds.stdout);
    const cdnskey = await dig(signed.port, ['example.com', 'CDNSKEY', '+norec']);
    const dnskey = await dig(signed.port, ['example.com', 'DNSKEY', '+norec']);
    assert.deepEqual(cdnskey.answer.map((rr) => rr.slice(4).join('')), dnskey.answer.map((rr) => rr.slice(4).join('')));
    assert.equal(cdnskey.answer.length, 1); // without DO: no RRSIG
    const nodata = await dig(signed.port, ['example.com', 'LOC', '+norec', '+dnssec']);
    assert.match(nodata.authority.map((rr) => rr.join(' ')).join('\n'), /NSEC .*DNSKEY.*CDS CDNSKEY/);
  });

  test('DO=1: each RRset with its RRSIG, DO echoed, ECS scope still set, the reply within 1232 bytes', async () => {
    const r = await dig(signed.port, ['www.example.com', 'A', '+dnssec', '+norec', '+subnet=113.108.0.0/24']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((rr) => rr[3]), ['A', 'RRSIG']);
    assert.equal(r.answer[0][4], '192.0.2.10'); // south -> gz
    assert.equal(r.edns?.flags, 'do');
    assert.ok(r.ecs && r.ecs.scope > 0, r.raw);
    const nx = await dig(signed.port, ['nope.example.com', 'A', '+dnssec', '+norec']);
    assert.equal(nx.status, 'NOERROR'); // compact denial: the name "exists" with no data
    assert.deepEqual(nx.authority.map((rr) => rr[3]), ['SOA', 'RRSIG', 'NSEC', 'RRSIG']);
    assert.match(nx.authority[2].join(' '), /\\000\.nope\.example\.com\. RRSIG NSEC TYPE128/);
    const ref = await dig(signed.port, ['x.sub.example.com', 'A', '+dnssec', '+norec']);
    assert.deepEqual(ref.authority.map((rr) => rr[3]), ['NS', 'NSEC', 'RRSIG']);
    assert.ok(!ref.flags.includes('aa'));
    for (const q of ['www.example.com', 'example.com']) {
      const reply = await udpExchange(signed.port, buildQuery({ name: q, type: 255, edns: { dnssecOk: true } }));
      assert.ok(reply && reply.length <= 1232);
    }
  });
});

describe('signing metrics and the on-demand NXDOMAIN cache', () => {
  test('signatures made at build and per NXDOMAIN name, cache hits, expiry and keys; no private key in /metrics', async () => {
    const k = keyDir(15);
    const mapPath = join(k.dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('keys'));
    const registry = new Registry();
    const s = await startServer({ config: mapPath, registry });
    try {
      const value = async (name: string, labels = ''): Promise<number> => {
        const text = await registry.metrics();
        const m = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
        return m ? Number(m[1]) : NaN;
      };
      assert.ok((await value('geosteer_dnssec_signatures_total', '{when="build"}')) > 20);
      assert.equal(await value('geosteer_dnssec_signatures_total', '{when="denial"}'), 0);
      for (const name of ['a.example.com', 'A.example.com', 'b.example.com']) await dig(s.port, [name, '+dnssec', '+norec']);
      assert.equal(await value('geosteer_dnssec_signatures_total', '{when="denial"}'), 2); // a (any case) and b
      assert.equal(await value('geosteer_dnssec_denial_cache_hits_total'), 1);
      const expiry = await value('geosteer_dnssec_signature_expiry_timestamp_seconds', '{zone="example.com"}');
      assert.ok(Math.abs(expiry - (Date.now() / 1000 + 14 * 86400)) < 600, String(expiry));
      assert.equal(await value('geosteer_dnssec_keys', '{zone="example.com"}'), 1);
      const secret = /PrivateKey: (\S+)/.exec(readFileSync(join(k.keys, readdirSync(k.keys).find((f) => f.endsWith('.private')) as string), 'utf8'))?.[1] as string;
      assert.ok(!(await registry.metrics()).includes(secret));
      // RFC 9824 3.5: a question for NXNAME is FORMERR.
      assert.equal((await dig(s.port, ['www.example.com', 'TYPE128', '+norec'])).status, 'FORMERR');
      // Without DO a missing name is still a plain NXDOMAIN.
      assert.equal((await dig(s.port, ['c.example.com', '+norec'])).status, 'NXDOMAIN');
    } finally {
      await s.close();
    }
  });
});

describe('re-signing', () => {
  test('the re-sign comes halfway through the validity, up to an hour early, never at once', () => {
    const v = validityAt(0);
    assert.equal(v.inception, -3600);
    assert.equal(v.expiration, 14 * 86400);
    assert.equal(resignDelayMs(v, 0, () => 0), 7 * 86400 * 1000);
    assert.equal(resignDelayMs(v, 0, () => 1), 7 * 86400 * 1000 - 3_600_000);
    assert.equal(resignDelayMs(v, v.expiration * 1000 + 5000, () => 0.5), 1000);
  });

  test('SIGHUP rebuilds an unchanged signed map: new signatures with a later expiry, the same answers', async () => {
    const k = keyDir();
    const mapPath = join(k.dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('keys'));
    const s = await startServer({ config: mapPath });
    try {
      const before = s.router.signing?.validity.expiration ?? 0;
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await s.reload('SIGHUP'), true);
      assert.equal(s.reloads.ok, 1);
      assert.ok((s.router.signing?.validity.expiration ?? 0) > before);
      const out = await delv(s.port, k.anchor, 'www.example.com', 'A');
      assert.match(out, /fully validated/, out);
    } finally {
      await s.close();
    }
  });
});

describe('dnssec in the map', () => {
  test('a key directory without keys for the zone: a map error at the dnssec key, naming the directory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gs-dnssec-'));
    const mapPath = join(dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('empty-keys'));
    mkdirSync(join(dir, 'empty-keys'));
    assert.throws(
      () => loadMapFile(mapPath),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.issues.length === 1 &&
        e.issues[0].path === 'zones.example.com.dnssec.keys' &&
        e.issues[0].line === signedMapText('x').split('\n').findIndex((l) => l.includes('dnssec:')) + 1 &&
        e.issues[0].message.includes(join(dir, 'empty-keys')),
    );
  });

  test('a new key is a new map version (the reload signs with it)', () => {
    const k = keyDir();
    const mapPath = join(k.dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('keys'));
    const before = loadMapFile(mapPath).version;
    generateKey('example.com', k.keys, 13, false);
    assert.notEqual(loadMapFile(mapPath).version, before);
    assert.equal(loadMapFile(mapPath).zones[0].dnssec?.keys, k.keys);
  });
});
