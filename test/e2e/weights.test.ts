import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';
import { prng } from '../helpers/random';

// Weighted answers (answers: weighted N) end to end: a real serve, queried over
// UDP with ECS from many /24s (dig for the per-block checks), and per-address
// health from the in-process prober's real TCP checks against loopback
// addresses, one of which stops listening.

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8').trimEnd();
/** Listeners of the per-address check, one per served loopback address. */
const listeners = new Map<string, Server>();
let port = 0;
let s: TestServer;

const listen = (host: string, p: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const srv = createServer((c) => c.destroy());
    srv.once('error', reject);
    srv.listen(p, host, () => resolve(srv));
  });
const close = (srv: Server | undefined): Promise<void> => new Promise((resolve) => (srv ? srv.close(() => resolve()) : resolve()));

const next = prng(12);
/** 2000 distinct random /24s. */
const BLOCKS = [...new Set(Array.from({ length: 2100 }, () => next() >>> 8))].slice(0, 2000).map((x) => `${x >>> 16}.${(x >>> 8) & 255}.${x & 255}.0`);

/** The A addresses of one UDP answer for `name` asked with ECS subnet/24. */
async function answer(name: string, subnet: string, source = 24): Promise<string[]> {
  const reply = await udpExchange(s.port, buildQuery({ name, edns: { options: [ecsOption(subnet, source)] } }), 2000);
  assert.ok(reply, `no reply for ${subnet}`);
  const an = reply.readUInt16BE(6);
  // The question is the name (compressed nowhere) + 4; each A record: pointer (2) + 10 + 4 bytes.
  let off = 12 + name.length + 2 + 4;
  const out: string[] = [];
  for (let i = 0; i < an; i++) {
    const len = reply.readUInt16BE(off + 10);
    if (reply.readUInt16BE(off + 2) === 1) out.push([...reply.subarray(off + 12, off + 12 + len)].join('.'));
    off += 12 + len;
  }
  return out.sort();
}

async function tally(name: string): Promise<Map<string, number>> {
  const count = new Map<string, number>();
  for (const b of BLOCKS) for (const a of await answer(name, b)) count.set(a, (count.get(a) ?? 0) + 1);
  return count;
}

before(async () => {
  const first = await listen('127.0.0.21', 0);
  port = (first.address() as { port: number }).port;
  listeners.set('127.0.0.21', first);
  for (const h of ['127.0.0.22', '127.0.0.23']) listeners.set(h, await listen(h, port));
  s = await startServer({
    mapText: `${SAMPLE}
  w.example.com:
    answers: weighted 1
    datacenters:
      sg: { a: [{ addr: 203.0.113.21, weight: 1 }, { addr: 203.0.113.22, weight: 2 }, { addr: 203.0.113.23, weight: 1 }] }
  w2.example.com:
    answers: weighted 2
    datacenters:
      sg: { a: [{ addr: 203.0.113.31, weight: 3 }, 203.0.113.32, 203.0.113.33] }
  p.example.com:
    answers: weighted 1
    check: { type: tcp, port: ${port}, per_address: true, interval: 200ms, timeout: 100ms, fall: 1, rise: 1 }
    datacenters:
      sg: { a: [127.0.0.21, 127.0.0.22, 127.0.0.23] }
`,
  });
});
after(async () => {
  await s?.close();
  for (const srv of listeners.values()) await close(srv);
});

test('2000 /24s: weighted 1 of three addresses (1:2:1) gives each its share within 4 points', async () => {
  const count = await tally('w.example.com');
  const share = (a: string): number => (100 * (count.get(a) ?? 0)) / BLOCKS.length;
  const want: Record<string, number> = { '203.0.113.21': 25, '203.0.113.22': 50, '203.0.113.23': 25 };
  for (const [a, w] of Object.entries(want)) assert.ok(Math.abs(share(a) - w) <= 4, `${a}: ${share(a).toFixed(1)}%, want ${w}% +- 4`);
  console.log(`# weighted 1 (1:2:1) over 2000 /24s: ${Object.keys(want).map((a) => `${a} ${share(a).toFixed(1)}%`).join(', ')}`);
});

test('2000 /24s: weighted 2 of three (3:1:1): each answer holds two addresses, the heavy one in most', async () => {
  const count = await tally('w2.example.com');
  const total = [...count.values()].reduce((x, y) => x + y, 0);
  assert.equal(total, 2 * BLOCKS.length, 'two addresses per answer');
  // Drawn by weight without replacement: P(31 in the pair) = 3/5 + 2 * (1/5) * (3/4) = 0.9; 32 and 33: 0.55 each.
  const share = (a: string): number => (100 * (count.get(a) ?? 0)) / BLOCKS.length;
  for (const [a, w] of [['203.0.113.31', 90], ['203.0.113.32', 55], ['203.0.113.33', 55]] as const) {
    assert.ok(Math.abs(share(a) - w) <= 5, `${a} in ${share(a).toFixed(1)}% of answers, want ${w}% +- 5`);
  }
  console.log(`# weighted 2 (3:1:1) over 2000 /24s: ${[...count].map(([a, n]) => `${a} in ${((100 * n) / BLOCKS.length).toFixed(1)}%`).join(', ')}`);
});

test('dig: the same /24 gets the same set from any address in it, with scope /24', async () => {
  for (const b of BLOCKS.slice(0, 10)) {
    const base = b.slice(0, b.lastIndexOf('.'));
    const sets = new Set<string>();
    for (const host of ['0', '77', '255']) {
      const r = await dig(s.port, ['w.example.com', 'A', `+subnet=${base}.${host}/24`]);
      sets.add(r.answer.map((x) => x[4]).sort().join(' '));
      assert.equal(r.ecs?.scope, 24, `${base}.${host}/24: ${r.raw}`);
    }
    assert.equal(sets.size, 1, `${b}: ${[...sets].join(' | ')}`);
  }
  // A /16 source: one answer for the whole /16, and the scope says /16 (never wider than what was asked).
  const r = await dig(s.port, ['w.example.com', 'A', '+subnet=100.64.0.0/16']);
  assert.equal(r.ecs?.scope, 16);
});

test('per-address health: an address that stops answering its check leaves the draw; the others keep their blocks; it comes back', async () => {
  const sample = BLOCKS.slice(0, 400);
  const snap = async (): Promise<string[]> => Promise.all(sample.map(async (b) => (await answer('p.example.com', b)).join(' ')));
  const before = await snap();
  assert.ok(before.includes('127.0.0.23'), 'the address is drawn before it dies');
  await close(listeners.get('127.0.0.23'));
  listeners.delete('127.0.0.23');
  const after = await until('127.0.0.23 leaves the answers', async () => {
    const now = await snap();
    return now.includes('127.0.0.23') ? null : now;
  }, 10_000, 100);
  let moved = 0;
  before.forEach((a, i) => {
    if (a === '127.0.0.23') moved++;
    else assert.equal(after[i], a, `${sample[i]}: kept ${a}`);
  });
  assert.ok(moved > 0);
  assert.ok(after.every((a) => a === '127.0.0.21' || a === '127.0.0.22'), 'the datacenter still answers (no failover)');
  // The explanation marks it down.
  const ex = await dig(s.port, ['TXT', '_explain.p.example.com', `+subnet=${sample[0]}/24`]);
  assert.match(ex.raw, /127\.0\.0\.23=1\(down\)/);
  listeners.set('127.0.0.23', await listen('127.0.0.23', port));
  await until('127.0.0.23 comes back', async () => ((await snap()).join(',') === before.join(',') ? true : null), 10_000, 100);
});
