import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyDir, signedMapText } from '../helpers/dnssec';
import { parseQuery, ParseResult, Query } from '../../src/dns/wire';
import { checkReply, encode, frame, Generator, mulberry32, nameWire, packetsOf, SERVER_TCP_QUERY_CAP, StreamModel, structuredPacket, type Msg } from './mutators';

// A small deterministic slice of the fuzzing campaign (test/fuzz/README.md),
// plus checks that the generator is deterministic, reaches every parser
// verdict, and that the reply checker does catch broken replies.

const SLICE = 20_000;

/** The generator's sequence digest after `packets` packets, sent the way the campaign asks for them. */
function digestAfter(seed: number, packets: number): { digest: string; kinds: Record<string, number> } {
  const gen = new Generator(seed);
  const kinds: Record<string, number> = { udp: 0, tcp: 0, loris: 0 };
  for (let sent = 0; sent < packets; ) {
    const a = gen.next(packets - sent);
    const n = packetsOf(a);
    sent += n;
    kinds[a.kind === 'loris' ? 'loris' : a.kind === 'udp' ? 'udp' : 'tcp'] += n;
  }
  return { digest: gen.digest(), kinds };
}

test('the same seed gives the same packet sequence, another seed another one; the mix is ~80/15/5', () => {
  const a = digestAfter(1, SLICE);
  assert.equal(digestAfter(1, SLICE).digest, a.digest);
  assert.notEqual(digestAfter(2, SLICE).digest, a.digest);
  assert.equal(a.kinds.udp + a.kinds.tcp + a.kinds.loris, SLICE);
  const share = (n: number): number => n / SLICE;
  assert.ok(Math.abs(share(a.kinds.udp) - 0.8) < 0.03, `UDP share ${share(a.kinds.udp)}`);
  assert.ok(Math.abs(share(a.kinds.tcp) - 0.15) < 0.03, `TCP share ${share(a.kinds.tcp)}`);
  assert.ok(Math.abs(share(a.kinds.loris) - 0.05) < 0.02, `slow-loris share ${share(a.kinds.loris)}`);
});

test('structure-aware mutations reach every parser verdict and most FORMERR reasons', () => {
  const r = mulberry32(1);
  const q = new Query();
  const verdicts = new Set<ParseResult>();
  const reasons = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    verdicts.add(parseQuery(structuredPacket(r), q));
    if (q.error) reasons.add(q.error.replace(/\d+/g, 'N'));
  }
  for (const v of [ParseResult.OK, ParseResult.DROP, ParseResult.FORMERR, ParseResult.NOTIMP, ParseResult.BADVERS]) assert.ok(verdicts.has(v), `verdict ${v} never reached`);
  assert.ok(reasons.size >= 12, `only ${reasons.size} FORMERR reasons reached: ${[...reasons].join('; ')}`);
});

test('the stream model frames like the server: split anywhere, short frames close, the cap closes', () => {
  const q = encode({ id: 1, b2: 1, b3: 0, qd: [{ name: nameWire('www.example.com'), type: 1, klass: 1 }], an: [], ns: [], ar: [], opt: null }).buf;
  const stream = Buffer.concat([frame(q), frame(q), Buffer.from([0, 5, 1, 2, 3, 4, 5]), frame(q)]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const m = new StreamModel();
    const frames = [...m.feed(stream.subarray(0, cut)), ...m.feed(stream.subarray(cut))];
    assert.equal(frames.length, 2, `cut at ${cut}`);
    assert.ok(frames.every((f) => f.equals(q)));
    assert.equal(m.closed, true);
  }
  const m = new StreamModel();
  assert.equal(m.feed(Buffer.from([0xff, 0xff, 1, 2, 3])).length, 0);
  assert.equal(m.closed, false);
  assert.equal(m.pending, 5);
  const capped = new StreamModel();
  assert.equal(capped.feed(Buffer.concat(new Array(SERVER_TCP_QUERY_CAP + 5).fill(frame(q)))).length, SERVER_TCP_QUERY_CAP);
  assert.equal(capped.closed, true);
});

test('the reply checker catches broken replies', () => {
  const msg: Msg = { id: 0x1234, b2: 0x01, b3: 0, qd: [{ name: nameWire('www.example.com'), type: 1, klass: 1 }], an: [], ns: [], ar: [], opt: null };
  const query = encode(msg).buf;
  // A minimal well-formed reply: QR, RD echoed, the question, NOERROR, no records.
  const good = Buffer.from(query);
  good[2] |= 0x84;
  assert.equal(checkReply(query, good, false), null);
  const broken = (edit: (b: Buffer) => Buffer | void): Buffer => {
    const b = Buffer.from(good);
    return edit(b) ?? b;
  };
  const cases: Array<[string, Buffer, Buffer, boolean]> = [
    ['QR not set', query, broken((b) => void (b[2] &= 0x7f)), false],
    ['id not echoed', query, broken((b) => void (b[1] ^= 1)), false],
    ['question not echoed', query, broken((b) => void (b[14] ^= 0x20)), false],
    ['SERVFAIL', query, broken((b) => void (b[3] = 2)), false],
    ['FORMERR for a good query', query, broken((b) => void (b[3] = 1)), false],
    ['trailing byte', query, broken((b) => Buffer.concat([b, Buffer.from([0])])), false],
    ['OPT without EDNS', query, broken((b) => Buffer.concat([b, Buffer.from([0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0])])), false],
    ['TC over TCP', query, broken((b) => void (b[2] |= 0x02)), true],
    ['reply to a response', Buffer.from([...query.subarray(0, 2), query[2] | 0x80, ...query.subarray(3)]), good, false],
    [
      'UDP reply over 512 bytes',
      query,
      broken((b) => {
        b.writeUInt16BE(1, 6);
        const rr = Buffer.alloc(12 + 600);
        rr.writeUInt16BE(0xc00c, 0);
        rr.writeUInt16BE(16, 2);
        rr.writeUInt16BE(1, 4);
        rr.writeUInt16BE(600, 10);
        return Buffer.concat([b, rr]);
      }),
      false,
    ],
  ];
  for (const [what, q, reply, tcp] of cases) assert.notEqual(checkReply(q, reply, tcp), null, what);
});

test(`the campaign slice: ${SLICE} packets, seed 1, against a spawned server`, { timeout: 60_000 }, async () => {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, [join(__dirname, 'fuzz.js'), '--packets', String(SLICE), '--seed', '1', '--json', '--quiet'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.equal(code, 0, `fuzz exited ${code}\n${out}\n${err}`);
  const line = out.split('\n').find((l) => l.startsWith('FUZZ_SUMMARY '));
  assert.ok(line, out);
  const s = JSON.parse(line.slice('FUZZ_SUMMARY '.length)) as Record<string, unknown> & {
    rcodes: Record<string, number>;
    rssMb: { growth: number; limit: number };
  };
  assert.equal(s.pass, true);
  assert.equal(s.packets, SLICE);
  assert.equal((s.udpPackets as number) + (s.tcpPackets as number) + (s.lorisPackets as number), SLICE);
  assert.equal(s.digest, digestAfter(1, SLICE).digest, 'the campaign sent the seeded sequence');
  assert.equal(s.crashes, 0);
  assert.equal(s.wrongReplies, 0, JSON.stringify(s.wrongReasons));
  assert.equal(s.wrongControl, 0, JSON.stringify(s.controlFailures));
  assert.equal(s.batches, 2);
  assert.equal(s.controlChecks, 8, '2 batches x 2 control queries x UDP and TCP');
  assert.ok((s.replies as number) > SLICE / 2, `only ${s.replies} replies`);
  assert.ok((s.tcpReplies as number) > 500, `only ${s.tcpReplies} TCP replies`);
  for (const rcode of ['NOERROR', 'FORMERR', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'BADVERS']) assert.ok(s.rcodes[rcode] > 0, `no ${rcode} reply`);
  assert.equal(s.rcodes.SERVFAIL, undefined);
  assert.ok(s.rssMb.growth < s.rssMb.limit);
});

test('a smaller slice against a signed zone (DO=1 packets get signed answers): no crash, no wrong reply, no SERVFAIL', { timeout: 60_000 }, async () => {
  const k = keyDir();
  const config = join(k.dir, 'map.yaml');
  writeFileSync(config, signedMapText('keys'));
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const packets = 5000;
  const child = spawn(process.execPath, [join(__dirname, 'fuzz.js'), '--packets', String(packets), '--seed', '2', '--config', config, '--json', '--quiet'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.equal(code, 0, `fuzz exited ${code}\n${out}`);
  const line = out.split('\n').find((l) => l.startsWith('FUZZ_SUMMARY '));
  assert.ok(line, out);
  const s = JSON.parse(line.slice('FUZZ_SUMMARY '.length)) as Record<string, unknown> & { rcodes: Record<string, number> };
  assert.equal(s.pass, true, out);
  assert.equal(s.crashes, 0);
  assert.equal(s.wrongReplies, 0, JSON.stringify(s.wrongReasons));
  assert.equal(s.rcodes.SERVFAIL, undefined);
  assert.ok((s.replies as number) > packets / 2, `only ${s.replies} replies`);
});
