import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIp, parseCidr, parseIp, type Cidr } from '../../src/common/ip';
import { DEFAULT_RRL_CONFIG } from '../../src/config/rrl-config';
import { Query, type RrlConfig } from '../../src/dns';
import { parseIpv4, parseIpv6, RateLimiter, RrlAction } from '../../src/dns/rrl';

const PASS = RrlAction.Pass;
const DROP = RrlAction.Drop;
const SLIP = RrlAction.Slip;

function config(over: Partial<RrlConfig> = {}): RrlConfig {
  return { ...DEFAULT_RRL_CONFIG, responsesPerSecond: 10, errorsPerSecond: 4, window: 1, slip: 2, exempt: [], ...over };
}

function query(qname: string, qtype = 1): Query {
  const q = new Query();
  q.qname = qname;
  q.qtype = qtype;
  return q;
}

/** Runs n checks at one instant and returns how many of each action. */
function burst(l: RateLimiter, n: number, client: string, q: Query, rcode = 0, now = 1000): Record<RrlAction, number> {
  const out = { [PASS]: 0, [DROP]: 0, [SLIP]: 0 } as Record<RrlAction, number>;
  for (let i = 0; i < n; i++) out[l.check(client, q, rcode, now)]++;
  return out;
}

describe('rate limiter (token bucket per prefix and response)', () => {
  it('passes rate*window answers, then slips every second limited one and drops the rest', () => {
    const l = new RateLimiter(config());
    const got = burst(l, 30, '192.0.2.1', query('www.example.com'));
    assert.deepEqual(got, { [PASS]: 10, [DROP]: 10, [SLIP]: 10 });
    assert.equal(l.counters.rrlDropped, 10);
    assert.equal(l.counters.rrlSlipped, 10);
  });

  it('refills at the configured rate', () => {
    const l = new RateLimiter(config());
    const q = query('www.example.com');
    burst(l, 10, '192.0.2.1', q, 0, 1000);
    assert.equal(l.check('192.0.2.1', q, 0, 1000), DROP, 'the first limited response is dropped, the second slipped');
    assert.equal(l.check('192.0.2.1', q, 0, 1000), SLIP);
    // 500 ms later: 5 tokens back (10/s).
    assert.equal(burst(l, 8, '192.0.2.1', q, 0, 1500)[PASS], 5);
    // A long quiet time refills only up to the bucket size (rate * window).
    assert.equal(burst(l, 30, '192.0.2.1', q, 0, 60_000)[PASS], 10);
  });

  it('shares a bucket within the /24 and not across /24s', () => {
    const l = new RateLimiter(config());
    const q = query('www.example.com');
    burst(l, 10, '192.0.2.1', q);
    assert.notEqual(l.check('192.0.2.200', q, 0, 1000), PASS, 'same /24: same bucket');
    assert.equal(burst(l, 10, '192.0.3.1', q)[PASS], 10, 'another /24 is not affected');
  });

  it('keys answers by name and type', () => {
    const l = new RateLimiter(config());
    burst(l, 10, '192.0.2.1', query('www.example.com'));
    assert.equal(l.check('192.0.2.1', query('www.example.com', 28), 0, 1000), PASS, 'AAAA of the same name');
    assert.equal(l.check('192.0.2.1', query('api.example.com'), 0, 1000), PASS, 'another name');
  });

  it('counts NXDOMAIN and errors per rcode, whatever the name (random-name floods)', () => {
    const l = new RateLimiter(config());
    let pass = 0;
    for (let i = 0; i < 20; i++) if (l.check('192.0.2.1', query(`r${i}.example.com`), 3, 1000) === PASS) pass++;
    assert.equal(pass, 4, 'errors_per_second * window');
    assert.equal(l.check('192.0.2.1', query('x.example.com'), 5, 1000), PASS, 'REFUSED has its own bucket');
    assert.equal(l.check('192.0.2.1', query('www.example.com'), 0, 1000), PASS, 'answers are not affected');
  });

  it('uses /56 for IPv6 by default', () => {
    const l = new RateLimiter(config());
    const q = query('www.example.com');
    burst(l, 10, '2001:db8:0:100::1', q);
    assert.notEqual(l.check('2001:db8:0:1ff:ffff::9', q, 0, 1000), PASS, 'same /56');
    assert.equal(l.check('2001:db8:0:200::1', q, 0, 1000), PASS, 'next /56');
  });

  it('never limits exempt sources, loopback by default', () => {
    const l = new RateLimiter({ ...DEFAULT_RRL_CONFIG, responsesPerSecond: 1, window: 1 });
    const q = query('www.example.com');
    assert.equal(burst(l, 100, '127.0.0.1', q)[PASS], 100);
    assert.equal(burst(l, 100, '::1', q)[PASS], 100);
    assert.equal(burst(l, 100, '127.9.9.9', q)[PASS], 100);
    assert.equal(burst(l, 5, '::2', q)[PASS], 1, '::2 is not loopback');
    const l6 = new RateLimiter(config({ exempt: [parseCidr('2001:db8:ab00::/40') as Cidr] }));
    assert.equal(burst(l6, 50, '2001:db8:abcd::1', q)[PASS], 50);
    assert.equal(burst(l6, 50, '2001:db8:ac00::1', q)[PASS], 10);
  });

  it('log_only counts what it would limit and passes everything', () => {
    const l = new RateLimiter(config({ logOnly: true }));
    assert.equal(burst(l, 30, '192.0.2.1', query('www.example.com'))[PASS], 30);
    assert.equal(l.counters.rrlWouldLimit, 20);
    assert.equal(l.counters.rrlDropped + l.counters.rrlSlipped, 0);
  });

  it('slip 0 drops every limited response, slip 1 truncates every one', () => {
    const q = query('www.example.com');
    assert.deepEqual(burst(new RateLimiter(config({ slip: 0 })), 20, '192.0.2.1', q), { [PASS]: 10, [DROP]: 10, [SLIP]: 0 });
    assert.deepEqual(burst(new RateLimiter(config({ slip: 1 })), 20, '192.0.2.1', q), { [PASS]: 10, [DROP]: 0, [SLIP]: 10 });
  });

  it('a reload with new numbers keeps the buckets', () => {
    const l = new RateLimiter(config());
    const q = query('www.example.com');
    burst(l, 10, '192.0.2.1', q);
    l.configure(config({ responsesPerSecond: 20 }));
    // The old bucket is empty; at 20/s, 100 ms brings back 2 tokens.
    assert.equal(burst(l, 10, '192.0.2.1', q, 0, 1100)[PASS], 2);
  });

  it('passes what it cannot parse rather than limit it', () => {
    const l = new RateLimiter(config({ responsesPerSecond: 1 }));
    assert.equal(burst(l, 5, 'not-an-address', query('a.example'))[PASS], 5);
  });
});

describe('allocation-free address parsers', () => {
  it('parseIpv4 agrees with parseIp and rejects malformed text', () => {
    const g = new Uint16Array(8);
    for (const t of ['0.0.0.0', '255.255.255.255', '192.0.2.1', '10.1.2.3', '1.22.33.244']) {
      assert.ok(parseIpv4(t, g), t);
      const b = parseIp(t)!;
      assert.deepEqual([g[0], g[1]], [(b[0] << 8) | b[1], (b[2] << 8) | b[3]], t);
    }
    for (const t of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.a', '1234.1.1.1', '1.2.3.4.']) assert.equal(parseIpv4(t, g), false, t);
  });

  it('parseIpv6 agrees with parseIp on random addresses in canonical and expanded form', () => {
    const g = new Uint16Array(8);
    let seed = 7;
    const rnd = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
    for (let n = 0; n < 2000; n++) {
      const b = new Uint8Array(16);
      for (let i = 0; i < 16; i++) b[i] = rnd() % 4 === 0 ? 0 : rnd() & 0xff; // zero runs for `::`
      if (n % 5 === 0) b.fill(0, 4, 14);
      for (const text of [formatIp(b), Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16)).join(':').toUpperCase()]) {
        assert.ok(parseIpv6(text, g), text);
        for (let i = 0; i < 8; i++) assert.equal(g[i], (b[2 * i] << 8) | b[2 * i + 1], `${text} group ${i}`);
      }
    }
    assert.ok(parseIpv6('::', g) && g.every((x) => x === 0));
    assert.ok(parseIpv6('::ffff:192.0.2.1', g));
    assert.deepEqual(Array.from(g), [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]);
    for (const t of [':', ':::', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '1:2:3:4:5:6:7', 'g::1', '1:', ':1', '1::2:3:4:5:6:7:8']) assert.equal(parseIpv6(t, g), false, t);
  });
});
