import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIp } from '../../src/common/ip';
import { ServerCookies, siphash24 } from '../../src/dns/cookie';

// The SipHash-2-4 implementation and the RFC 9018 server cookie, against published vectors.

test('SipHash-2-4 matches the reference vectors (key 00..0f, messages 00 01 02 ... of length 0, 1, 7, 8, 15, 22, 23)', () => {
  // From the SipHash reference implementation's vectors (byte arrays, the 64-bit result little-endian).
  const key = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
  const msg = Buffer.from(Array.from({ length: 64 }, (_, i) => i));
  const out = Buffer.alloc(8);
  const at = (len: number): string => {
    siphash24(key, msg, 0, len, out, 0);
    return out.toString('hex');
  };
  assert.equal(at(0), '310e0edd47db6f72');
  assert.equal(at(1), 'fd67dc93c539f874');
  assert.equal(at(7), '37d1018bf50002ab');
  assert.equal(at(8), '6224939a79f5f593');
  assert.equal(at(15), 'e545be4961ca29a1');
  assert.equal(at(22), '883ea3e395675393');
  assert.equal(at(23), 'c8ce5ccd8c030ca8');
});

const hex = (s: string): Buffer => Buffer.from(s, 'hex');
const ip = (s: string): Uint8Array => parseIp(s) as Uint8Array;

test('RFC 9018 A.1 and A.2: the server cookies for 198.51.100.100', () => {
  const c = new ServerCookies(hex('e5e973e5a6b2a43f48e7dc849e37bfcf'));
  const out = Buffer.alloc(24);
  c.make(hex('2464c4abcf10c957'), 0, ip('198.51.100.100'), 1559731985, out);
  assert.equal(out.toString('hex'), '2464c4abcf10c957010000005cf79f111f8130c3eee29480');
  c.make(hex('2464c4abcf10c957'), 0, ip('198.51.100.100'), 1559734385, out);
  assert.equal(out.toString('hex'), '2464c4abcf10c957010000005cf7a871d4a564a1442aca77');
  // A.2's query carries A.1's cookie, 40 minutes old: still valid.
  assert.ok(c.valid(hex('2464c4abcf10c957010000005cf79f111f8130c3eee29480'), 0, 24, ip('198.51.100.100'), 1559734385));
});

test('RFC 9018 A.3: reserved bytes are hashed; the fresh cookie has them zero', () => {
  const c = new ServerCookies(hex('e5e973e5a6b2a43f48e7dc849e37bfcf'));
  // Its hash checked at the time it was made (by 11:38:20 it is nearly two hours old: past our one-hour window).
  assert.ok(c.valid(hex('fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5'), 0, 24, ip('203.0.113.203'), 1559727985));
  const out = Buffer.alloc(24);
  c.make(hex('fc93fc62807ddb86'), 0, ip('203.0.113.203'), 1559734700, out);
  assert.equal(out.toString('hex'), 'fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e');
});

test('RFC 9018 A.4: IPv6, the old secret validates the old cookie, the new secret makes the new one', () => {
  const client = ip('2001:db8:220:1:59de:d0f4:8769:82b8');
  const old = new ServerCookies(hex('dd3bdf9344b678b185a6f5cb60fca715'));
  assert.ok(old.valid(hex('22681ab97d52c298010000005cf7c57926556bd0934c72f8'), 0, 24, client, 1559741961));
  const out = Buffer.alloc(24);
  new ServerCookies(hex('445536bcd2513298075a5d379663c962')).make(hex('22681ab97d52c298'), 0, client, 1559741961, out);
  assert.equal(out.toString('hex'), '22681ab97d52c298010000005cf7c609a6bb79d16625507a');
});

test('a cookie is refused for another address, a changed byte, too old or from the future', () => {
  const c = new ServerCookies(hex('e5e973e5a6b2a43f48e7dc849e37bfcf'));
  const good = hex('2464c4abcf10c957010000005cf79f111f8130c3eee29480');
  const t = 1559731985;
  assert.ok(c.valid(good, 0, 24, ip('198.51.100.100'), t));
  assert.ok(!c.valid(good, 0, 24, ip('198.51.100.101'), t));
  const bad = Buffer.from(good);
  bad[23] ^= 1;
  assert.ok(!c.valid(bad, 0, 24, ip('198.51.100.100'), t));
  assert.ok(!c.valid(good, 0, 24, ip('198.51.100.100'), t + 3601), 'older than an hour');
  assert.ok(!c.valid(good, 0, 24, ip('198.51.100.100'), t - 301), 'more than 5 minutes ahead');
});
