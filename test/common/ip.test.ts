import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIP } from 'node:net';
import { formatIp, parseIp, parseIpGeneral, writeHexIpv6 } from '../../src/common/ip';

// parseIp parses dotted quads and hex-only IPv6 by hand and leaves the rest to net.isIPv4 / isIPv6 and the
// general parser: on any text the two must agree, null for null and byte for byte otherwise.

function same(text: string): void {
  const fast = parseIp(text);
  const general = parseIpGeneral(text);
  assert.deepEqual(fast === null ? null : [...fast], general === null ? null : [...general], JSON.stringify(text));
  assert.equal(fast !== null, isIP(text) !== 0 && !text.includes('%'), JSON.stringify(text));
  // The encoder's in-place writer, into dirty bytes at an offset: true only for IPv6, then exactly its bytes.
  const out = new Uint8Array(20).fill(0xee);
  if (writeHexIpv6(text, out, 2)) assert.deepEqual([...out.subarray(2, 18)], general && general.length === 16 ? [...general] : null, JSON.stringify(text));
  assert.deepEqual([out[0], out[1], out[18], out[19]], [0xee, 0xee, 0xee, 0xee]);
}

test('edge cases agree with the general parser and net.isIP', () => {
  const cases = [
    '0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', '1..2.3', '1.2.3.4.', '.1.2.3', '1.2.3.04', '1.2.3.0',
    '10.0.0.1 ', '', '1', '12', '::', '::1', '1::', '1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1::2:3:4:5:6:7',
    '1::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', ':1::2', '1:::2', '1::2::3', '::1:', ':', ':::', '1:', '12345::',
    'abcd:EF01::', 'g::1', '::ffff:192.0.2.1', '::ffff:1.2.3', 'fe80::1%eth0', '2001:db8::1:1', '2001:0db8:0000:0000:0000:0000:0000:0001',
    '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', ' ::1', '::1 ', '1:2:3:4:5:6:7:', '0:0:0:0:0:0:0:0',
  ];
  for (const c of cases) same(c);
});

test('random texts over the address alphabet agree with the general parser and net.isIP', () => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const alphabets = ['0123456789.', '0123456789abcdefABCDEF:', '01f:.', '0:'];
  let valid = 0;
  for (let k = 0; k < 200_000; k++) {
    const abc = alphabets[k % alphabets.length];
    let s = '';
    const len = 1 + rand(20);
    for (let i = 0; i < len; i++) s += abc[rand(abc.length)];
    same(s);
    if (parseIp(s)) valid++;
  }
  // Valid addresses made from random bytes, written canonically and in full.
  for (let k = 0; k < 20_000; k++) {
    const b = new Uint8Array(k % 2 ? 16 : 4);
    for (let i = 0; i < b.length; i++) b[i] = rand(4) === 0 ? 0 : rand(256);
    const text = formatIp(b);
    same(text);
    assert.deepEqual([...(parseIp(text) as Uint8Array)], [...b]);
    if (b.length === 16) same(Array.from({ length: 8 }, (_, g) => ((b[g * 2] << 8) | b[g * 2 + 1]).toString(16).padStart(4, '0')).join(':'));
  }
  assert.ok(valid > 500, `only ${valid} random texts were addresses`);
});
