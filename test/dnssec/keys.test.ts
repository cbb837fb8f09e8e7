import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { verify } from 'node:crypto';
import { keyTag, loadZoneKeys, nameWire, publicKeyOf, rrsig, signedData, validityAt } from '../../src/dnssec';
import { runCliSync, showRun } from '../helpers/cli';

// Keys as BIND reads and writes them: `geosteer keygen` files that dnssec-dsfromkey (bind9-utils) reads
// to the same DS and key tag as `geosteer ds`, and dnssec-keygen files that `geosteer ds` reads.

const tmp = (): string => mkdtempSync(join(tmpdir(), 'gs-keys-'));

for (const [alg, bindName] of [['13', 'ECDSAP256SHA256'], ['15', 'ED25519']] as const) {
  test(`keygen -a ${alg}: BIND's dnssec-dsfromkey gives the DS and key tag that geosteer ds prints`, () => {
    const dir = tmp();
    const made = runCliSync(['keygen', 'Example.ORG', '--dir', dir, '--algorithm', alg]);
    assert.equal(made.code, 0, showRun(made));
    const base = made.stdout.trim();
    assert.match(base, new RegExp(`^Kexample\\.org\\.\\+0${alg}\\+\\d{5}$`));
    assert.deepEqual(readdirSync(dir).sort(), [base + '.key', base + '.private']);
    assert.equal(statSync(join(dir, base + '.private')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(dir, base + '.private'), 'utf8'), new RegExp(`^Private-key-format: v1\\.3\\nAlgorithm: ${alg} \\(${bindName}\\)\\n`));
    const ours = runCliSync(['ds', 'example.org', '--dir', dir]);
    assert.equal(ours.code, 0, showRun(ours));
    const bind = execFileSync('dnssec-dsfromkey', ['-2', join(dir, base + '.key')], { encoding: 'utf8' });
    assert.equal(ours.stdout, bind);
    // The tag in the file name is the one BIND computes from the DNSKEY.
    assert.equal(Number(bind.split(/\s+/)[3]), Number(base.split('+')[2]));
  });

  test(`dnssec-keygen -a ${bindName} files load: geosteer ds prints what dnssec-dsfromkey prints`, () => {
    const dir = tmp();
    const base = execFileSync('dnssec-keygen', ['-q', '-K', dir, '-a', bindName, '-f', 'KSK', 'example.net'], { encoding: 'utf8' }).trim();
    const ours = runCliSync(['ds', 'example.net', '--dir', dir]);
    assert.equal(ours.code, 0, showRun(ours));
    assert.equal(ours.stdout, execFileSync('dnssec-dsfromkey', ['-2', join(dir, base + '.key')], { encoding: 'utf8' }));
    const [key] = loadZoneKeys(dir, 'example.net');
    assert.equal(key.tag, keyTag(key.rdata));
    assert.equal(key.tag, Number(base.split('+')[2]));
  });
}

test('an RRSIG made with a loaded key verifies against the DNSKEY public key (P-256 in IEEE P1363 form: 64 bytes)', () => {
  const dir = tmp();
  runCliSync(['keygen', 'example.org', '--dir', dir]);
  const [key] = loadZoneKeys(dir, 'example.org');
  const owner = nameWire('www.example.org');
  const rdatas = [Buffer.from([192, 0, 2, 1]), Buffer.from([192, 0, 2, 2])];
  const v = validityAt(Date.now());
  const sig = rrsig(key, owner, 3, 1, 60, rdatas, v);
  const header = sig.subarray(0, 18 + nameWire('example.org').length);
  const signature = sig.subarray(header.length);
  assert.equal(signature.length, 64);
  assert.equal(header.readUInt16BE(16), key.tag);
  assert.equal(header.readUInt32BE(12), v.inception);
  const data = signedData(header, owner, 1, 60, [...rdatas].reverse()); // order of the input does not matter
  assert.ok(verify('sha256', data, { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' }, signature));
  const tampered = Buffer.from(data);
  tampered[tampered.length - 1] ^= 1;
  assert.ok(!verify('sha256', tampered, { key: publicKeyOf(key), dsaEncoding: 'ieee-p1363' }, signature));
});

test('a bad key directory: an error that names the file and never shows the private key', () => {
  const dir = tmp();
  runCliSync(['keygen', 'example.org', '--dir', dir]);
  const priv = readdirSync(dir).find((f) => f.endsWith('.private')) as string;
  const text = readFileSync(join(dir, priv), 'utf8');
  const secret = /PrivateKey: (\S+)/.exec(text)?.[1] as string;
  // Another key's private part under this name: it does not match the .key file.
  writeFileSync(join(dir, priv), text.replace(secret, Buffer.alloc(32, 7).toString('base64')));
  const r = runCliSync(['ds', 'example.org', '--dir', dir]);
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /GS_ERR|does not match/);
  assert.ok(r.stderr.includes(priv), showRun(r));
  assert.ok(!r.stderr.includes(secret) && !r.stderr.includes(Buffer.alloc(32, 7).toString('base64')), showRun(r));
  const none = runCliSync(['ds', 'example.com', '--dir', dir]);
  assert.equal(none.code, 1, showRun(none));
  assert.match(none.stderr, /no key for example\.com/);
});
