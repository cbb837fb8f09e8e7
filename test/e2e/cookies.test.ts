import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { buildQuery, udpExchange } from '../helpers/packet';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { sleep } from '../helpers/wait';

// DNS cookies (RFC 7873, server cookie of RFC 9018) against a real server: dig +cookie gets a server
// cookie back and dig checks it echoes its client cookie; a query carrying the server cookie we gave
// its address skips response rate limiting (as in BIND and Knot); a forged or missing one does not.

// A tight limit and no exemption, so loopback stands in for an internet source (see e2e/rrl.test.ts).
const MAP = readFileSync(DEFAULT_MAP, 'utf8').replace(
  '  id: ns1.example.com\n',
  '  id: ns1.example.com\n  rrl:\n    responses_per_second: 5\n    errors_per_second: 5\n    window: 1\n    slip: 2\n    exempt: []\n',
);

let s: TestServer;
before(async () => {
  s = await startServer({ mapText: MAP });
});
after(async () => {
  await s.close();
});

/** The `; COOKIE: HEX (good)` line of dig's output. */
function cookieLine(raw: string): { hex: string; good: boolean } | null {
  const m = /^; COOKIE: ([0-9a-f]+)( \(good\))?/m.exec(raw);
  return m ? { hex: m[1], good: m[2] !== undefined } : null;
}

const CLIENT = '0123456789abcdef';

test('dig +cookie: the reply carries our client cookie and a 16-byte version 1 server cookie', async () => {
  const r = await dig(s.port, ['www.example.com', 'A', `+cookie=${CLIENT}`, '+norecurse']);
  assert.equal(r.status, 'NOERROR', r.raw);
  const c = cookieLine(r.raw);
  assert.ok(c, r.raw);
  assert.equal(c.hex.length, 48, 'client 8 + server 16 bytes');
  assert.equal(c.hex.slice(0, 16), CLIENT);
  assert.equal(c.hex.slice(16, 18), '01', 'RFC 9018 version 1');
  assert.equal(c.hex.slice(18, 24), '000000', 'reserved zero');
  const ts = parseInt(c.hex.slice(24, 32), 16);
  assert.ok(Math.abs(ts - Date.now() / 1000) < 60, `timestamp ${ts} is now`);
  // Sent back, the full cookie is accepted and renewed.
  const again = await dig(s.port, ['www.example.com', 'A', `+cookie=${c.hex}`, '+norecurse']);
  assert.equal(again.status, 'NOERROR', again.raw);
  assert.equal(cookieLine(again.raw)?.hex.slice(0, 16), CLIENT);
});

test('a query without a cookie gets no COOKIE option', async () => {
  const r = await dig(s.port, ['www.example.com', 'A', '+nocookie', '+norecurse']);
  assert.equal(cookieLine(r.raw), null, r.raw);
});

test('a COOKIE option of a bad length (5 bytes) is FORMERR', async () => {
  const reply = await udpExchange(s.port, buildQuery({ name: 'www.example.com', edns: { options: [{ code: 10, data: Buffer.alloc(5) }] } }));
  assert.ok(reply);
  assert.equal(reply[3] & 0x0f, 1);
});

/** The COOKIE option's data in a reply's OPT, or null. */
function replyCookie(m: Buffer): Buffer | null {
  const i = m.indexOf(Buffer.from([0x00, 0x0a, 0x00, 0x18])); // option 10, length 24
  return i < 0 ? null : m.subarray(i + 4, i + 28);
}

/** Sends `count` queries for www.example.com A carrying `cookie` from 127.0.0.3 and counts full answers over 700 ms. */
async function flood(cookie: Buffer, count: number): Promise<number> {
  const sock = createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.3', ok));
  let full = 0;
  sock.on('message', (m) => {
    if ((m[2] & 0x02) === 0 && m.readUInt16BE(6) > 0) full++;
  });
  const q = (id: number): Buffer => buildQuery({ id, name: 'www.example.com', type: 1, edns: { options: [{ code: 10, data: cookie }] } });
  for (let i = 0; i < count; i++) sock.send(q(i), s.port, '127.0.0.1');
  await sleep(700);
  sock.close();
  return full;
}

/** One query from 127.0.0.3 with a client cookie: the server cookie it hands back (client + server, 24 bytes). */
async function learnCookie(client: Buffer): Promise<Buffer> {
  const sock = createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, '127.0.0.3', ok));
  const reply = await new Promise<Buffer>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('no reply in 2 s')), 2000);
    sock.on('message', (m) => {
      clearTimeout(timer);
      ok(m);
    });
    sock.send(buildQuery({ id: 1, name: 'mail.example.com', type: 1, edns: { options: [{ code: 10, data: client }] } }), s.port, '127.0.0.1');
  });
  sock.close();
  const c = replyCookie(reply);
  assert.ok(c, 'a server cookie came back');
  return Buffer.from(c);
}

test('a valid server cookie exempts its client from RRL; a forged one or a client cookie alone does not', async () => {
  const client = Buffer.from('a1b2c3d4e5f60718', 'hex');
  const valid = await learnCookie(client);
  assert.equal(await flood(valid, 60), 60, 'every answer in full');
  await sleep(1100); // let the bucket refill
  const forged = Buffer.from(valid);
  forged[23] ^= 0xff;
  const limited = await flood(forged, 60);
  assert.ok(limited < 20, `a forged cookie is rate limited (${limited} full answers of 60)`);
  await sleep(1100);
  const clientOnly = await flood(client, 60);
  assert.ok(clientOnly < 20, `a client cookie alone is rate limited (${clientOnly} full answers of 60)`);
});
