import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { dnskeyText, dsRecord, generateKey, loadZoneKeys } from '../../src/dnssec';
import { dig } from '../helpers/dig';
import { keyDir, signedMapText } from '../helpers/dnssec';
import { stopChild } from '../helpers/process';
import { startServer } from '../helpers/server';
import { startUnbound } from '../helpers/unbound';

// A ZSK roll by pre-publication, driven by BIND's timing metadata, while unbound keeps validating.
// unbound caps its cache at 2 s (cache-max-ttl), so "wait a TTL" between steps is a 3 s sleep.

const stamp = (ms: number): string => new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14);
/** Sets a timing field in a key's .private, as dnssec-settime does. */
function setTime(keyFile: string, field: string, ms: number): void {
  const p = keyFile.replace(/\.key$/, '.private');
  const text = readFileSync(p, 'utf8').replace(new RegExp(`^${field}: .*\\n`, 'm'), '');
  writeFileSync(p, `${text}${field}: ${stamp(ms)}\n`);
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('ZSK pre-publish roll, then a double-DS KSK roll: AD at every step', async () => {
  const k = keyDir(); // the KSK (flags 257)
  const zsk1 = join(k.keys, generateKey('example.com', k.keys, 13, false).keyFile);
  const mapPath = join(k.dir, 'map.yaml');
  writeFileSync(mapPath, signedMapText('keys'));
  const anchor = join(k.dir, 'anchor.txt');
  writeFileSync(anchor, loadZoneKeys(k.keys, 'example.com').filter((x) => x.flags === 257).map((x) => dnskeyText(x, 3600)).join('\n') + '\n');
  const gs = await startServer({ config: mapPath });
  let ub = await startUnbound(k.dir, 'unbound-roll', gs.port, anchor, '  cache-max-ttl: 2\n  cache-max-negative-ttl: 2\n');
  const tags = async (): Promise<{ dnskey: number; signers: number[] }> => {
    const d = await dig(gs.port, ['example.com', 'DNSKEY', '+norec']);
    const a = await dig(gs.port, ['www.example.com', 'A', '+norec', '+dnssec']);
    return { dnskey: d.answer.length, signers: a.answer.filter((rr) => rr[3] === 'RRSIG').map((rr) => Number(rr[10])) };
  };
  const validates = async (step: string): Promise<void> => {
    for (const q of [['www.example.com', 'A'], [`${step}-nx.example.com`, 'A'], ['example.com', 'DNSKEY']]) {
      const r = await dig(ub.port, [...q, '+dnssec', '+time=5']);
      assert.ok(r.flags.includes('ad') && r.status === 'NOERROR', `${step} ${q.join(' ')}: no AD\n${r.raw}\n${ub.log}`);
    }
  };
  try {
    const tag1 = Number(/\+(\d+)\.key$/.exec(zsk1)?.[1]);
    assert.deepEqual(await tags(), { dnskey: 2, signers: [tag1] });
    await validates('s0');
    // 1. Publish ZSK2 (Activate in the future): in the DNSKEY RRset, not signing.
    const zsk2 = join(k.keys, generateKey('example.com', k.keys, 13, false).keyFile);
    const tag2 = Number(/\+(\d+)\.key$/.exec(zsk2)?.[1]);
    setTime(zsk2, 'Activate', Date.now() + 86400_000);
    assert.equal(await gs.reload('SIGHUP'), true);
    assert.deepEqual(await tags(), { dnskey: 3, signers: [tag1] });
    await validates('s1');
    await sleep(3000); // the DNSKEY TTL
    // 2. ZSK2 signs, ZSK1 stays published (Inactive) for signatures still in caches.
    setTime(zsk2, 'Activate', Date.now() - 1000);
    setTime(zsk1, 'Inactive', Date.now() - 1000);
    assert.equal(await gs.reload('SIGHUP'), true);
    assert.deepEqual(await tags(), { dnskey: 3, signers: [tag2] });
    await validates('s2');
    await sleep(3000); // the largest TTL of the old signatures
    // 3. ZSK1 deleted: out of the DNSKEY RRset.
    setTime(zsk1, 'Delete', Date.now() - 1000);
    assert.equal(await gs.reload('SIGHUP'), true);
    assert.deepEqual(await tags(), { dnskey: 2, signers: [tag2] });
    await validates('s3');
    // 4. Double-DS KSK roll. The parent (here unbound's trust anchors) gets the new DS beside the old one first.
    const ksk1 = loadZoneKeys(k.keys, 'example.com').find((x) => x.flags === 257);
    const ksk2File = join(k.keys, generateKey('example.com', k.keys, 13, true).keyFile);
    setTime(ksk2File, 'Publish', Date.now() + 86400_000);
    setTime(ksk2File, 'Activate', Date.now() + 86400_000);
    assert.equal(await gs.reload('SIGHUP'), true);
    assert.equal((await tags()).dnskey, 2); // not published yet
    const ksk2 = loadZoneKeys(k.keys, 'example.com').find((x) => x.file === ksk2File);
    assert.ok(ksk1 && ksk2);
    const restart = async (anchors: string[]): Promise<void> => {
      await stopChild(ub.proc, ub.exited);
      writeFileSync(anchor, anchors.join('\n') + '\n');
      ub = await startUnbound(k.dir, 'unbound-roll', gs.port, anchor, '  cache-max-ttl: 2\n  cache-max-negative-ttl: 2\n');
    };
    await restart([dsRecord(ksk1), dsRecord(ksk2)]);
    await validates('s4');
    await sleep(3000); // the parent's DS TTL
    // 5. The new KSK in, the old one out, at once (both DS are at the parent); the CDS follows.
    setTime(ksk2File, 'Publish', Date.now() - 1000);
    setTime(ksk2File, 'Activate', Date.now() - 1000);
    setTime(ksk1.file, 'Delete', Date.now() - 1000);
    assert.equal(await gs.reload('SIGHUP'), true);
    const cds = await dig(gs.port, ['example.com', 'CDS', '+norec']);
    assert.deepEqual(cds.answer.map((rr) => Number(rr[4])), [ksk2.tag]);
    await validates('s5');
    await sleep(3000);
    // 6. The parent drops the old DS.
    await restart([dsRecord(ksk2)]);
    await validates('s6');
  } finally {
    await stopChild(ub.proc, ub.exited);
    await gs.close();
  }
});
