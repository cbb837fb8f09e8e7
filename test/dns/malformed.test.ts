import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { TcpClient } from '../helpers/tcp-client';
import { parseQuery, ParseResult, Query } from '../../src/dns/wire';
import { buildQuery, ecsOption, frame, rcodeOf, tcpExchange, udpExchange } from '../helpers/packet';
import { startServer, type TestServer } from '../helpers/server';

// Hostile input against a real server: whatever arrives, the process stays up,
// every reply is a well-formed response to the packet it answers, and good
// queries keep getting answers. Deterministic: every random choice comes from a
// seeded PRNG.

let s: TestServer;
const extraServers: TestServer[] = [];

before(async () => {
  s = await startServer();
});
after(async () => {
  await Promise.all([s?.close(), ...extraServers.map((x) => x.close())]);
});

/** mulberry32: tiny seeded PRNG. */
function prng(seed: number): { int(n: number): number; bytes(n: number): Buffer } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  const int = (n: number): number => Math.floor((next() / 0x1_0000_0000) * n);
  return {
    int,
    bytes(n: number): Buffer {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = int(256);
      return b;
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(5);
  }
  return true;
}

const WWW = (id: number): Buffer => buildQuery({ id, name: 'www.example.com', type: 1, rd: true });

let aliveId = 0x7000;
/** A good UDP query for www.example.com A gets a NOERROR answer with one record. */
async function assertAlive(port = s.port): Promise<void> {
  const id = aliveId++;
  const reply = await udpExchange(port, WWW(id), 1000);
  assert.ok(reply, 'the server did not answer a good query');
  assert.equal(reply.readUInt16BE(0), id);
  assert.equal(reply[2] & 0x80, 0x80);
  assert.equal(rcodeOf(reply), 0);
  assert.equal(reply.readUInt16BE(6), 1, 'ANCOUNT');
}

/** Rcodes a reply may carry for hostile input (16 = BADVERS, extended). SERVFAIL would mean an internal error. */
const ALLOWED_RCODES = new Set([0, 1, 3, 4, 5, 16]);

/** Skips a name in a reply (backwards pointers only). */
function replyName(b: Buffer, start: number): number {
  let off = start;
  let end = -1;
  for (let jumps = 0; ; ) {
    assert.ok(off < b.length, 'name runs past the reply');
    const len = b[off];
    if (len === 0) return end >= 0 ? end : off + 1;
    if ((len & 0xc0) === 0xc0) {
      assert.ok(off + 1 < b.length, 'pointer cut');
      const target = ((len & 0x3f) << 8) | b[off + 1];
      assert.ok(target < off, 'forward pointer in a reply');
      assert.ok(++jumps < 128, 'pointer loop in a reply');
      if (end < 0) end = off + 2;
      off = target;
      continue;
    }
    assert.equal(len & 0xc0, 0, 'bad label type in a reply');
    off += 1 + len;
  }
}

/**
 * Checks that `reply` is a well-formed response to `query`: QR set, id and
 * opcode echoed, question echoed byte for byte when present, the counts match
 * the records, at most one OPT (root owner), and an allowed rcode. Returns the
 * full (extended) rcode.
 */
function checkReply(query: Buffer, reply: Buffer): number {
  assert.ok(reply.length >= 12, 'reply shorter than a header');
  assert.ok(query.length >= 12, 'a packet shorter than a header was answered');
  assert.equal(query[2] & 0x80, 0, 'a response (QR=1) was answered');
  assert.equal(reply[2] & 0x80, 0x80, 'QR not set in reply');
  assert.equal(reply.readUInt16BE(0), query.readUInt16BE(0), 'id not echoed');
  assert.equal((reply[2] >> 3) & 0x0f, (query[2] >> 3) & 0x0f, 'opcode not echoed');
  // RD and CD are QUERY flags (RFC 6895 2): echoed for opcode 0, cleared in replies to the others (NOTIMP, or FORMERR).
  if (((query[2] >> 3) & 0x0f) === 0) assert.equal(reply[2] & 0x01, query[2] & 0x01, 'RD not echoed');
  else assert.equal(reply[2] & 0x01 | reply[3] & 0x10, 0, 'RD or CD set in a reply to an opcode other than QUERY');
  const qd = reply.readUInt16BE(4);
  assert.ok(qd <= 1, 'QDCOUNT > 1 in reply');
  let off = 12;
  if (qd === 1) {
    off = replyName(reply, 12) + 4;
    assert.ok(off <= reply.length);
    assert.ok(reply.subarray(12, off).equals(query.subarray(12, off)), 'question not echoed verbatim');
  }
  const records = reply.readUInt16BE(6) + reply.readUInt16BE(8) + reply.readUInt16BE(10);
  let ext = 0;
  let opts = 0;
  for (let i = 0; i < records; i++) {
    const nameStart = off;
    off = replyName(reply, off);
    assert.ok(off + 10 <= reply.length, 'record header past the end of the reply');
    const type = reply.readUInt16BE(off);
    const rdlen = reply.readUInt16BE(off + 8);
    if (type === 41) {
      opts++;
      assert.equal(off, nameStart + 1, 'OPT owner is not the root');
      ext = reply[off + 4];
      if (rdlen >= 4 && reply.readUInt16BE(off + 10) === 8) {
        const family = reply.readUInt16BE(off + 14);
        const bits = family === 1 ? 32 : 128;
        assert.ok(reply[off + 16] <= bits && reply[off + 17] <= bits, 'ECS prefix out of range in reply');
      }
    }
    off += 10 + rdlen;
    assert.ok(off <= reply.length, 'record data past the end of the reply');
  }
  assert.equal(off, reply.length, 'reply has bytes past its last record');
  assert.ok(opts <= 1, 'more than one OPT in reply');
  const rcode = (ext << 4) | rcodeOf(reply);
  assert.ok(ALLOWED_RCODES.has(rcode), `unexpected rcode ${rcode}`);
  return rcode;
}

/** Whether the parser would answer this packet at all. */
function answerable(pkt: Buffer): boolean {
  return parseQuery(pkt, new Query()) !== ParseResult.DROP;
}

/**
 * Sends packets from one UDP socket in small paced batches (so loopback never
 * overflows a socket buffer) and returns every reply received.
 */
async function blast(packets: Buffer[], expectedReplies: number, port = s.port): Promise<Buffer[]> {
  const sock = createSocket('udp4');
  const replies: Buffer[] = [];
  sock.on('message', (m) => replies.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  let expectedSoFar = 0;
  try {
    for (let i = 0; i < packets.length; i += 25) {
      const batch = packets.slice(i, i + 25);
      await Promise.all(batch.map((p) => new Promise<void>((r) => sock.send(p, port, '127.0.0.1', () => r()))));
      expectedSoFar += batch.filter(answerable).length;
      await until(() => replies.length >= expectedSoFar, 1000);
    }
    await until(() => replies.length >= expectedReplies, 1000);
    await sleep(20); // anything extra would show up as a count mismatch
  } finally {
    sock.close();
  }
  return replies;
}

test('2000 random datagrams (lengths 0..600) get only well-formed replies, then a good query is answered', async () => {
  const rnd = prng(1);
  const packets: Buffer[] = [];
  for (let i = 0; i < 2000; i++) {
    const p = rnd.bytes(rnd.int(601));
    // Bias a quarter of them towards a plausible header so the parser gets past the counts.
    if (p.length >= 12 && i % 4 === 0) {
      p[2] &= 0x7f;
      p[4] = 0;
      p[5] = 1;
    }
    packets.push(p);
  }
  const ids = new Map<number, Buffer[]>();
  for (const p of packets) if (p.length >= 2) ids.set(p.readUInt16BE(0), [...(ids.get(p.readUInt16BE(0)) ?? []), p]);
  const expected = packets.filter(answerable).length;
  assert.ok(expected > 500);
  const replies = await blast(packets, expected);
  assert.equal(replies.length, expected);
  for (const reply of replies) {
    const candidates = ids.get(reply.readUInt16BE(0)) ?? [];
    assert.ok(candidates.length > 0, 'reply id matches no packet sent');
    // Several packets may share a random id: at least one of them must fit the reply.
    const fits = candidates.some((c) => {
      try {
        checkReply(c, reply);
        return true;
      } catch {
        return false;
      }
    });
    if (!fits) checkReply(candidates[0], reply); // fails with the reason
  }
  await assertAlive();
});

test('every truncation of a query with EDNS+ECS: short ones dropped, the rest FORMERR with the id echoed', async () => {
  const full = buildQuery({ id: 0x5151, name: 'www.example.com', rd: true, edns: { dnssecOk: true, options: [ecsOption('192.0.2.0', 24)] } });
  for (let len = 0; len <= full.length; len++) {
    const pkt = full.subarray(0, len);
    const out = s.dns.handle(pkt, '127.0.0.1', false);
    if (len < 12) {
      assert.equal(out, null, `prefix ${len} must be dropped`);
      continue;
    }
    assert.ok(out, `prefix ${len} got no reply`);
    assert.equal(checkReply(pkt, out), len === full.length ? 0 : 1, `prefix ${len}`);
  }
  // The same over the socket: answers for prefixes of 12 bytes and more...
  for (let len = 12; len <= full.length; len++) {
    const pkt = full.subarray(0, len);
    const reply = await udpExchange(s.port, pkt, 1000);
    assert.ok(reply, `prefix ${len} got no UDP reply`);
    assert.equal(checkReply(pkt, reply), len === full.length ? 0 : 1, `prefix ${len} over UDP`);
  }
  // ...and silence for the shorter ones.
  const replies = await blast(
    Array.from({ length: 12 }, (_, len) => full.subarray(0, len)),
    0,
  );
  await sleep(100);
  assert.equal(replies.length, 0);
  await assertAlive();
});

/** Offset of the OPT record's RDLENGTH in a query whose OPT directly follows the question, or -1. */
function optRdlenOffset(pkt: Buffer): number {
  const q = new Query();
  if (parseQuery(pkt, q) !== ParseResult.OK || !q.edns || pkt.readUInt16BE(6) + pkt.readUInt16BE(8) !== 0) return -1;
  return q.questionEnd + 9;
}

/** One structure-aware mutation of a valid query. */
function mutate(base: Buffer, rnd: ReturnType<typeof prng>): Buffer {
  let p: Buffer = Buffer.from(base);
  switch (rnd.int(7)) {
    case 0: {
      // Flip a few bytes anywhere.
      for (let k = 1 + rnd.int(4); k > 0; k--) p[rnd.int(p.length)] ^= 1 + rnd.int(255);
      break;
    }
    case 1: {
      // A count field claims 0xffff (or another large number) of records.
      p.writeUInt16BE(rnd.int(2) ? 0xffff : rnd.int(0x10000), 4 + 2 * rnd.int(4));
      break;
    }
    case 2: {
      // Compression pointers: forward, to itself, backwards loops, over a name or inserted.
      const at = 12 + rnd.int(p.length - 13);
      const variant = rnd.int(5);
      const ptr = (target: number): Buffer => Buffer.from([0xc0 | ((target >> 8) & 0x3f), target & 0xff]);
      let piece: Buffer;
      if (variant === 0) piece = ptr(at + 2 + rnd.int(40)); // forward
      else if (variant === 1) piece = ptr(at); // itself
      else if (variant === 2) piece = Buffer.concat([Buffer.from([1, 0x61]), ptr(at)]); // label, then back to it: a loop
      else if (variant === 3) piece = Buffer.concat([ptr(at + 2), ptr(at)]); // two pointers at each other
      else piece = ptr(rnd.int(0x4000)); // anywhere, even past the end
      if (rnd.int(2)) p = Buffer.concat([p.subarray(0, at), piece, p.subarray(at)]);
      else piece.copy(p, at);
      break;
    }
    case 3: {
      // A question label of length 63..255, with or without that many bytes behind it.
      const len = 63 + rnd.int(193);
      const filler = rnd.int(2) ? Buffer.alloc(len, 0x61) : Buffer.alloc(0);
      p = Buffer.concat([p.subarray(0, 12), Buffer.from([len]), filler, p.subarray(12)]);
      break;
    }
    case 4: {
      // The OPT record's RDLENGTH lies.
      const off = optRdlenOffset(p);
      if (off < 0) {
        p[p.length - 1] ^= 0xff;
        break;
      }
      const real = p.readUInt16BE(off);
      const lie = [0, 1, 3, real - 1, real + 1, real + 4, 0xffff, rnd.int(0x10000)][rnd.int(8)];
      p.writeUInt16BE(Math.max(0, Math.min(0xffff, lie)), off);
      break;
    }
    case 5: {
      // Cut somewhere and append garbage.
      p = Buffer.concat([p.subarray(0, rnd.int(p.length + 1)), rnd.bytes(rnd.int(40))]);
      break;
    }
    default: {
      // Two mutations in a row.
      p = mutate(mutate(p, rnd), rnd);
    }
  }
  return p;
}

/** ECS option data with a raw source prefix and address (address length as the prefix needs). */
function ecsRaw(family: number, source: number, addr: Buffer): { code: number; data: Buffer } {
  const head = Buffer.from([0, family, source, 0]);
  return { code: 8, data: Buffer.concat([head, addr]) };
}

test('2000 structure-aware mutations and the ECS prefix sweep: every reply is well-formed, then a good query is answered', async () => {
  const rnd = prng(7);
  const bases = [
    buildQuery({ name: 'www.example.com', rd: true, edns: { options: [ecsOption('192.0.2.0', 24)] } }),
    buildQuery({ name: 'www.example.com', type: 28 }),
    buildQuery({ name: 'Mail.Example.com', edns: { dnssecOk: true, options: [ecsOption('2001:db8:ab00::', 40), { code: 10, data: Buffer.alloc(8, 9) }] } }),
    buildQuery({ name: '_sip._udp.example.com', type: 33, edns: { udpSize: 512 } }),
  ];
  const packets: Buffer[] = [];
  const expectEcs = new Map<number, number>(); // packet index -> expected rcode for the ECS sweep
  // Every source prefix 0..255 for both families, half of them with stray bits past the prefix.
  for (const family of [1, 2]) {
    const bits = family === 1 ? 32 : 128;
    for (let source = 0; source <= 255; source++) {
      const n = (source + 7) >> 3;
      const addr = rnd.bytes(n);
      if (rnd.int(2) && n > 0 && source & 7) addr[n - 1] &= 0xff << (8 - (source & 7));
      const clean = n === 0 || (source & 7) === 0 || (addr[n - 1] & (0xff >> (source & 7))) === 0;
      expectEcs.set(packets.length, source <= bits && clean ? 0 : 1);
      packets.push(buildQuery({ name: 'www.example.com', edns: { options: [ecsRaw(family, source, addr)] } }));
    }
  }
  while (packets.length < 2000) packets.push(mutate(bases[rnd.int(bases.length)], rnd));
  // Unique ids so each UDP reply can be matched to its packet.
  packets.forEach((p, i) => {
    if (p.length >= 2) p.writeUInt16BE(i, 0);
  });

  // The whole packet path, packet by packet, for UDP and TCP sizes.
  const rcodes = new Map<number, number>();
  for (const [i, p] of packets.entries()) {
    for (const tcp of [false, true]) {
      const out = s.dns.handle(p, '127.0.0.1', tcp);
      if (!out) {
        assert.ok(!answerable(p), `packet ${i} (${p.toString('hex')}) got no reply`);
        continue;
      }
      let rcode: number;
      try {
        rcode = checkReply(p, out);
      } catch (err) {
        throw new Error(`packet ${i} ${p.toString('hex')} -> ${out.toString('hex')}: ${(err as Error).message}`);
      }
      if (expectEcs.has(i)) assert.equal(rcode, expectEcs.get(i), `ECS sweep packet ${i}`);
      if (!tcp) rcodes.set(i, rcode);
    }
  }
  const kinds = new Set(rcodes.values());
  assert.ok(kinds.has(0) && kinds.has(1), 'the mutations should produce both answers and FORMERRs');

  // The same packets through the UDP socket.
  const replies = await blast(packets, rcodes.size);
  assert.equal(replies.length, rcodes.size);
  for (const reply of replies) {
    const i = reply.readUInt16BE(0);
    assert.ok(i < packets.length && rcodes.has(i), `reply to unknown packet ${i}`);
    assert.equal(checkReply(packets[i], reply), rcodes.get(i), `packet ${i} over UDP`);
  }
  await assertAlive();
});

test('a packet with QR=1 gets no reply', async () => {
  const pkt = WWW(0x1111);
  pkt[2] |= 0x80;
  assert.equal(await udpExchange(s.port, pkt, 300), null);
  await assertAlive();
});

test('a datagram from source port 0 is dropped without calling send', () => {
  const sock = {
    send(): void {
      throw new Error('send must not be called for port 0');
    },
  };
  const before = s.dns.stats.dropped;
  const msg = WWW(0x2222);
  const rinfo: RemoteInfo = { address: '127.0.0.1', port: 0, family: 'IPv4', size: msg.length };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  assert.doesNotThrow(() => (s.dns as any).onDatagram(sock, msg, rinfo));
  assert.equal(s.dns.stats.dropped, before + 1);
});

test('TCP: a 0xffff length prefix followed by a few bytes does not block other clients', async () => {
  const stuck = await TcpClient.open(s.port);
  stuck.write(Buffer.from([0xff, 0xff, 0x12, 0x34, 0x01, 0x00]));
  await sleep(50);
  await assertAlive();
  const other = await tcpExchange(s.port, frame(WWW(0x3333)), 1);
  assert.equal(other.replies.length, 1);
  assert.equal(checkReply(WWW(0x3333), other.replies[0]), 0);
  assert.equal(stuck.closed, false);
  assert.equal(stuck.replies.length, 0);
  stuck.destroy();
});

test('TCP: the idle timeout closes a connection stuck in a huge frame, and one that trickles bytes', async () => {
  const idle = await startServer({ dns: { tcpIdleTimeoutMs: 300 } });
  extraServers.push(idle);
  const stuck = await TcpClient.open(idle.port);
  const t0 = Date.now();
  stuck.write(Buffer.from([0xff, 0xff, 0x12, 0x34, 0x01]));
  assert.ok(await until(() => stuck.closed, 2000), 'the stuck connection was not closed');
  const took = Date.now() - t0;
  assert.ok(took >= 200, `closed after ${took} ms, before the idle timeout`);

  // One byte every 100 ms never completes a query: it must not keep the connection open for ever.
  const trickle = await TcpClient.open(idle.port);
  trickle.write(Buffer.from([0xff, 0xff]));
  const t1 = Date.now();
  while (!trickle.closed && Date.now() - t1 < 2000) {
    trickle.write(Buffer.from([0x61]));
    await sleep(100);
  }
  assert.ok(trickle.closed, 'a byte trickle kept the connection open for 2 s with a 300 ms idle timeout');

  // A connection that completes queries within the timeout stays open across several timeouts' worth of time.
  const busy = await TcpClient.open(idle.port);
  for (let i = 0; i < 6; i++) {
    busy.write(frame(WWW(0x4000 + i)));
    await sleep(100);
  }
  assert.ok(await busy.wait(6));
  assert.equal(busy.replies.length, 6);
  assert.equal(busy.closed, false);
  busy.destroy();
  await assertAlive(idle.port);
});

test('TCP: a length prefix shorter than a DNS header closes the connection', async () => {
  for (const len of [0, 1, 11]) {
    const r = await tcpExchange(s.port, Buffer.concat([Buffer.from([0, len]), Buffer.alloc(len)]), 1, 2000);
    assert.equal(r.replies.length, 0, `length ${len}`);
    assert.equal(r.closed, true, `length ${len}`);
  }
  // A good query before the bad frame is still answered.
  const r = await tcpExchange(s.port, Buffer.concat([frame(WWW(0x3401)), Buffer.from([0, 5, 1, 2, 3, 4, 5])]), 2, 2000);
  assert.equal(r.replies.length, 1);
  assert.equal(checkReply(WWW(0x3401), r.replies[0]), 0);
  assert.equal(r.closed, true);
});

test('TCP: a query sent one byte at a time gets a correct answer', async () => {
  const c = await TcpClient.open(s.port);
  const data = frame(WWW(0x3501));
  for (const byte of data) {
    c.write(Buffer.from([byte]));
    await sleep(3);
  }
  assert.ok(await c.wait(1));
  assert.equal(c.replies.length, 1);
  assert.equal(checkReply(WWW(0x3501), c.replies[0]), 0);
  assert.equal(c.replies[0].readUInt16BE(6), 1);
  c.destroy();
});

test('TCP: three pipelined queries in one write get three answers in order', async () => {
  const qs = [WWW(0x3601), buildQuery({ id: 0x3602, name: 'mail.example.com' }), buildQuery({ id: 0x3603, name: 'ns1.example.com', edns: {} })];
  const r = await tcpExchange(s.port, Buffer.concat(qs.map(frame)), 3);
  assert.equal(r.replies.length, 3);
  r.replies.forEach((reply, i) => {
    assert.equal(checkReply(qs[i], reply), 0);
    assert.equal(reply.readUInt16BE(6), 1);
  });
});

test('TCP: a malformed query between two good ones gets FORMERR and does not end the connection', async () => {
  const bad = Buffer.from(WWW(0x3702).subarray(0, 12));
  const qs = [WWW(0x3701), bad, WWW(0x3703)];
  const r = await tcpExchange(s.port, Buffer.concat(qs.map(frame)), 3);
  assert.equal(r.replies.length, 3);
  assert.deepEqual(
    r.replies.map((reply, i) => checkReply(qs[i], reply)),
    [0, 1, 0],
  );
  assert.deepEqual(
    r.replies.map((reply) => reply.readUInt16BE(0)),
    [0x3701, 0x3702, 0x3703],
  );
});

test('TCP: with a cap of 5 connections, 5 of 10 are served, and a new one is once they close', async () => {
  const capped = await startServer({ dns: { tcpMaxConnections: 5 } });
  extraServers.push(capped);
  const clients: TcpClient[] = [];
  for (let i = 0; i < 10; i++) clients.push(await TcpClient.open(capped.port));
  clients.forEach((c, i) => c.write(frame(WWW(0x3800 + i))));
  assert.ok(await until(() => clients.every((c) => c.replies.length > 0 || c.closed), 3000));
  const served = clients.filter((c) => c.replies.length > 0);
  assert.equal(served.length, 5);
  assert.equal(capped.dns.stats.tcpRejected, 5);
  for (const c of served) assert.equal(c.closed, false);
  for (const c of clients) c.destroy();
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const conns = (capped.dns as any).conns as Set<unknown>;
  assert.ok(await until(() => conns.size === 0, 2000), 'the server did not notice the closed connections');
  const r = await tcpExchange(capped.port, frame(WWW(0x3811)), 1);
  assert.equal(r.replies.length, 1);
  assert.equal(checkReply(WWW(0x3811), r.replies[0]), 0);
  assert.equal(capped.dns.stats.internalErrors, 0);
});

test('TCP: 500 random frames on 5 connections get one well-formed reply each (responses excepted), in order', async () => {
  const rnd = prng(99);
  const conns = await Promise.all(Array.from({ length: 5 }, () => TcpClient.open(s.port)));
  const sent: Buffer[][] = conns.map(() => []);
  for (let i = 0; i < 500; i++) {
    const p = rnd.bytes(12 + rnd.int(300));
    if (i % 3 === 0) {
      p[2] &= 0x07; // a QUERY with RD maybe set, so the parser reads on
      p.writeUInt16BE(1, 4);
    }
    sent[i % 5].push(p);
  }
  conns.forEach((c, k) => c.write(Buffer.concat(sent[k].map(frame))));
  for (const [k, c] of conns.entries()) {
    const expected = sent[k].filter(answerable);
    assert.ok(await c.wait(expected.length, 3000));
    assert.equal(c.replies.length, expected.length);
    assert.equal(c.closed, false);
    c.replies.forEach((reply, i) => checkReply(expected[i], reply));
    c.destroy();
  }
  await assertAlive();
});

test('no packet caused an internal error and the server still answers', async () => {
  await assertAlive();
  assert.equal(s.dns.stats.internalErrors, 0);
  for (const x of extraServers) assert.equal(x.dns.stats.internalErrors, 0);
  assert.equal(s.dns.stats.rcodes[2], 0, 'SERVFAIL answers');
});
