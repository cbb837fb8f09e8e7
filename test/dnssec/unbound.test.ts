import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { dnskeyText, loadZoneKeys } from '../../src/dnssec';
import { dig, type DigResult } from '../helpers/dig';
import { stopChild } from '../helpers/process';
import { startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';
import { keyDir, signedMapText } from '../helpers/dnssec';
import { startUnbound, type Unbound } from '../helpers/unbound';

// A real validating resolver: unbound (validator + subnetcache) with the zone's DNSKEY as trust anchor and
// a stub zone to geosteer, everything on loopback ("." is stubbed to geosteer too, which refuses it, so
// nothing leaves the machine). AD on the answers of the three default regions (the client's ECS is
// forwarded), NODATA, compact NXDOMAIN, an empty non-terminal, a CNAME and the no-DS proof at a delegation;
// a variant that health moves to is validated too; a byte flipped on the way is SERVFAIL.

/** A UDP relay to geosteer that flips one bit of the first answer record's data (the A address) in every reply. */
function tamperingRelay(upstream: number): Promise<{ port: number; close(): void }> {
  return new Promise((resolve) => {
    const front: Socket = createSocket('udp4');
    const back: Socket = createSocket('udp4');
    const clients = new Map<number, RemoteInfo>();
    front.on('message', (msg, rinfo) => {
      clients.set(msg.readUInt16BE(0), rinfo);
      back.send(msg, upstream, '127.0.0.1');
    });
    back.on('message', (msg) => {
      const to = clients.get(msg.readUInt16BE(0));
      if (!to) return;
      let off = 12;
      while (msg[off] !== 0) off += msg[off] + 1;
      off += 5; // root byte, qtype, qclass
      // First answer record: a 2-byte owner pointer, type A, then 4 address bytes after 10 more.
      if (msg.readUInt16BE(6) > 0 && msg[off] === 0xc0 && msg.readUInt16BE(off + 2) === 1) msg[off + 12 + 3] ^= 1;
      front.send(msg, to.port, to.address);
    });
    back.bind(0, '127.0.0.1', () => front.bind(0, '127.0.0.1', () => resolve({ port: front.address().port, close: () => (front.close(), back.close()) })));
  });
}

describe('unbound validates the signed zone', () => {
  let gs: TestServer;
  let ub: Unbound;
  let k: ReturnType<typeof keyDir>;
  before(async () => {
    k = keyDir();
    const mapPath = join(k.dir, 'map.yaml');
    writeFileSync(mapPath, signedMapText('keys'));
    gs = await startServer({ config: mapPath });
    const anchor = join(k.dir, 'anchor.txt');
    writeFileSync(anchor, loadZoneKeys(k.keys, 'example.com').map((key) => dnskeyText(key, 3600)).join('\n') + '\n');
    ub = await startUnbound(k.dir, 'unbound', gs.port, anchor);
  });
  after(async () => {
    if (ub) await stopChild(ub.proc, ub.exited);
    await gs?.close();
  });

  const ask = (args: string[]): Promise<DigResult> => dig(ub.port, [...args, '+dnssec', '+time=5']);
  const secure = (r: DigResult, status = 'NOERROR'): void => {
    assert.equal(r.status, status, r.raw);
    assert.ok(r.flags.includes('ad'), `no AD:\n${r.raw}`);
  };

  for (const [region, subnet, address] of [['south', '113.108.0.0/24', '192.0.2.10'], ['north', '202.96.0.0/24', '198.51.100.10'], ['overseas', '8.8.8.0/24', '203.0.113.10']]) {
    test(`www A for a client in ${region} (ECS ${subnet}): ${address}, AD set`, async () => {
      const r = await ask(['www.example.com', 'A', `+subnet=${subnet}`]);
      secure(r);
      assert.deepEqual(r.answer.filter((rr) => rr[3] === 'A').map((rr) => rr[4]), [address], r.raw);
    });
  }

  test('CNAME to a service: both RRsets validated', async () => {
    const r = await ask(['api.example.com', 'A']);
    secure(r);
    assert.deepEqual(r.answer.filter((rr) => rr[3] !== 'RRSIG').map((rr) => rr[3]), ['CNAME', 'A'], r.raw);
  });

  test('NODATA, an empty non-terminal, compact NXDOMAIN and the no-DS proof at a delegation: AD set', async () => {
    secure(await ask(['mail.example.com', 'TXT']));
    secure(await ask(['b.ent.example.com', 'A']));
    const nx = await ask(['no-such-name.example.com', 'A']);
    secure(nx); // RFC 9824: NOERROR with the NSEC that says the name has no types but NXNAME
    assert.equal(nx.answer.length, 0, nx.raw);
    secure(await ask(['sub.example.com', 'DS']));
    secure(await ask(['example.com', 'DNSKEY']));
  });

  test('after a drain moves south from gz to bj, the bj answer validates (its variant was signed before it was served)', async () => {
    await gs.store.setDrain({ dc: 'gz', service: 'www.example.com', forMs: 600_000, reason: 'test', by: 'test' });
    try {
      await until('geosteer to answer bj for south', async () => {
        const x = await dig(gs.port, ['www.example.com', 'A', '+subnet=183.6.0.0/24', '+norec']);
        return x.answer.some((rr) => rr[4] === '198.51.100.10');
      });
      // Another Guangdong block, outside the ECS scope unbound cached the gz answer for.
      const r = await ask(['www.example.com', 'A', '+subnet=183.6.0.0/24']);
      secure(r);
      assert.deepEqual(r.answer.filter((rr) => rr[3] === 'A').map((rr) => rr[4]), ['198.51.100.10'], r.raw);
    } finally {
      await gs.store.clearDrain('www.example.com', 'gz');
    }
  });

  test('a reply changed on the way (one address bit) is SERVFAIL', async () => {
    const relay = await tamperingRelay(gs.port);
    const anchor = join(k.dir, 'anchor.txt');
    const bad = await startUnbound(k.dir, 'unbound-tampered', relay.port, anchor);
    try {
      const r = await dig(bad.port, ['www.example.com', 'A', '+dnssec', '+time=5', '+tries=1']);
      assert.equal(r.status, 'SERVFAIL', r.raw);
      const cd = await dig(bad.port, ['www.example.com', 'A', '+dnssec', '+cd', '+time=5']);
      assert.equal(cd.answer.find((rr) => rr[3] === 'A')?.[4], '203.0.113.11', cd.raw); // the flipped bit, unchecked with CD
    } finally {
      await stopChild(bad.proc, bad.exited);
      relay.close();
    }
  });
});
