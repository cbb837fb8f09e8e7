import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { SocketAddress } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { parseQuery, ParseResult, Query } from '../../src/dns/wire';
import { batchLoadError, formatIpv6, loadBatchAddon, sharedPortHazard } from '../../src/dns/udp-batch';
import { CLI, cliEnv } from '../helpers/cli';
import { dig } from '../helpers/dig';
import { buildQuery, ecsOption, rcodeOf } from '../helpers/packet';
import { stopChild } from '../helpers/process';
import { freePort } from '../helpers/redis';
import { startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// The batched UDP path (src/dns/native, src/dns/udp-batch.ts): many datagrams
// per recvmmsg and one sendmmsg for their replies. The DNS suites run against
// both paths (GEOSTEER_UDP); these tests hold what only this path has.

const addon = loadBatchAddon();
const noAddon = addon === null ? `addon not built: ${batchLoadError()}` : false;

test('on a machine that can build the addon (Linux, Node headers, cc), npm install built it and it loads', (t) => {
  // So `npm test` cannot pass on the dgram fallback by accident where the batched path was meant to run (CI installs cc).
  const prefix = resolve(process.execPath, '../..');
  const cc = spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' });
  if (process.platform !== 'linux' || !existsSync(join(prefix, 'include/node/node_api.h')) || cc.error || cc.status !== 0) {
    t.skip('this machine cannot build the addon (not Linux, no Node headers or no cc)');
    return;
  }
  assert.ok(addon, `the addon should have been built by npm install: ${batchLoadError()}`);
});

test('source addresses read like dgram writes them (libuv inet_ntop), for runs of zeros anywhere', () => {
  let seed = 7;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const fixed = ['::', '::1', '1::', '::ffff:1.2.3.4', '::1.2.3.4', '2001:db8::1', '2001:db8:0:0:1:0:0:1', '1:0:2:0:3:0:4:0', 'fe80::1:0:0:0'];
  const cases = fixed.map(toBytes);
  for (let i = 0; i < 2000; i++) {
    const b = Buffer.alloc(16);
    for (let g = 0; g < 8; g++) if (rnd(3) === 0) b.writeUInt16BE(rnd(3) === 0 ? rnd(16) : rnd(65536), g * 2);
    cases.push(b);
  }
  for (const b of cases) {
    const ours = formatIpv6(b);
    assert.equal(ours, new SocketAddress({ address: ours, family: 'ipv6' }).address, b.toString('hex'));
    assert.deepEqual(toBytes(ours), b, `${ours} does not read back as ${b.toString('hex')}`);
  }
});

/** IPv6 text (after Node's own parse and format) to 16 bytes. */
function toBytes(text: string): Buffer {
  const canonical = new SocketAddress({ address: text, family: 'ipv6' }).address;
  const [head, tail] = canonical.includes('::') ? canonical.split('::') : [canonical, null];
  const words = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').flatMap((w) => (w.includes('.') ? ((p) => [(p[0] << 8) | p[1], (p[2] << 8) | p[3]])(w.split('.').map(Number)) : [parseInt(w, 16)]));
  const h = words(head);
  const t = tail === null ? [] : words(tail);
  const all = tail === null ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

describe('batched path', { skip: noAddon }, () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ dns: { udp: 'batched' } });
  });
  after(async () => {
    await s?.close();
  });

  test('the server says it runs the batched path', () => {
    assert.equal(s.dns.udpPath, 'batched');
    assert.equal(s.dns.udpFallback, null);
  });

  const BURST = 240;
  test('a burst of good and malformed datagrams: each good one answered correctly, each bad one as alone, in batches', async () => {
    // Receive buffer: the replies to one burst must not overflow the client's own socket.
    const client = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
    await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
    const replies = new Map<number, Buffer>();
    client.on('message', (m) => replies.set(m.readUInt16BE(0), m));
    const batchesBefore = s.dns.stats.udpBatch(1);
    const packetsBefore = s.dns.stats.udpBatch(2);
    const sent: Array<{ id: number; kind: 'good' | 'formerr' | 'drop' }> = [];
    const q = new Query();
    for (let i = 0; i < BURST; i++) {
      const id = 0x1000 + i;
      const kind = i % 3 === 0 ? 'good' : i % 3 === 1 ? 'formerr' : 'drop';
      let pkt = buildQuery({ id, name: 'www.example.com', type: 1, rd: true, edns: { options: [ecsOption('183.6.0.0', 24)] } });
      if (kind === 'formerr') pkt = pkt.subarray(0, pkt.length - 3); // truncated OPT: FORMERR
      if (kind === 'drop') pkt[2] |= 0x80; // QR=1: a response, dropped
      assert.equal(parseQuery(pkt, q), kind === 'good' ? ParseResult.OK : kind === 'formerr' ? ParseResult.FORMERR : ParseResult.DROP);
      sent.push({ id, kind });
      client.send(pkt, s.port, '127.0.0.1');
    }
    await until('replies to the good and malformed datagrams', () => replies.size >= (BURST * 2) / 3 || null, 10_000).catch(() => null);
    await new Promise((r) => setTimeout(r, 200)); // room for a reply that should not come
    client.close();
    for (const { id, kind } of sent) {
      const r = replies.get(id);
      if (kind === 'drop') {
        assert.equal(r, undefined, `id ${id}: a response was answered`);
        continue;
      }
      assert.ok(r, `id ${id} (${kind}) unanswered`);
      assert.equal(rcodeOf(r), kind === 'good' ? 0 : 1, `id ${id}`);
      if (kind === 'good') assert.ok(r.includes(Buffer.from([192, 0, 2, 10])), `id ${id}: not the gz address`);
    }
    const batches = s.dns.stats.udpBatch(1) - batchesBefore;
    const packets = s.dns.stats.udpBatch(2) - packetsBefore;
    assert.equal(packets, BURST);
    assert.ok(batches < packets, `${batches} recvmmsg calls for ${packets} datagrams: nothing was batched`);
  });

  test('IPv4 and IPv6 clients get their own address back as the client (query log and RRL key)', async () => {
    const seen: string[] = [];
    s.dns.stats.setSampler({ every: 1, sample: (_q, client) => seen.push(client) });
    try {
      await dig(s.port, ['www.example.com', 'A']);
    } finally {
      s.dns.stats.setSampler(null);
    }
    assert.deepEqual(seen, ['127.0.0.1']);
  });

  test('a second server on the same port fails with EADDRINUSE instead of sharing it', async () => {
    await assert.rejects(startServer({ listen: [`127.0.0.1:${s.port}`], dns: { udp: 'batched' } }), /EADDRINUSE/);
    await assert.rejects(startServer({ listen: [`127.0.0.1:${s.port}`], dns: { udp: 'dgram' } }), /EADDRINUSE/);
    assert.equal((await dig(s.port, ['www.example.com', 'A'])).status, 'NOERROR');
  });

  test('alone, the port is exclusive: a client that asks to share it (dig -b 0.0.0.0#PORT sets SO_REUSEPORT) cannot bind it', () => {
    // dig binds port 0 with SO_REUSEPORT; when the server's socket allowed sharing, the kernel could hand dig
    // the server's port, and dig read its own query back (QR clear, "query response not set"). Asking for the
    // port explicitly is that case made certain.
    const r = digFrom(s.port);
    assert.match(r, /address in use/, r);
    assert.doesNotMatch(r, /query response not set/, r);
  });

  test('shared by workers (udpReusePort), a port in the ephemeral range is named in a warning, and the hazard it names is real', async () => {
    const shared = await startServer({ dns: { udp: 'batched', udpReusePort: true } }); // port 0: the kernel picks from the range
    try {
      assert.match(shared.dns.udpPortWarning ?? '', new RegExp(`UDP port ${shared.port} is shared .* ephemeral range`));
      const r = digFrom(shared.port);
      assert.match(r, /query response not set/, r); // dig joined the port and got its own query
    } finally {
      await shared.close();
    }
    assert.equal(s.dns.udpPortWarning, null);
  });

  test('a UDP port held by a plain socket is not shared either', async () => {
    const holder: UdpSocket = createSocket('udp4');
    await new Promise<void>((r) => holder.bind(0, '127.0.0.1', () => r()));
    try {
      await assert.rejects(startServer({ listen: [`127.0.0.1:${holder.address().port}`], dns: { udp: 'batched' } }), /EADDRINUSE/);
    } finally {
      holder.close();
    }
  });

  test('IPv6 listener: answers ::1 over the batched socket', async () => {
    const v6 = await startServer({ listen: ['[::1]:0'], dns: { udp: 'batched' } });
    try {
      assert.equal(v6.dns.udpPath, 'batched');
      const seen: string[] = [];
      v6.dns.stats.setSampler({ every: 1, sample: (_q, client) => seen.push(client) });
      const r = await dig(v6.addresses[0].port, ['www.example.com', 'A'], '::1');
      assert.equal(r.status, 'NOERROR');
      assert.deepEqual(seen, ['::1']);
    } finally {
      await v6.close();
    }
  });
});

test('serve falls back to dgram, with one log line saying why, when the addon cannot load', async () => {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--listen', `127.0.0.1:${port}`, '--workers', '1', '--metrics-listen', 'off'], {
    env: cliEnv({ GEOSTEER_UDP_ADDON: '/nonexistent/udp_batch.node', LOG_LEVEL: 'info' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await until('serving', () => (out.includes('geosteer serving') ? true : null), 20_000);
    const lines = out.split('\n').filter((l) => l.includes('UDP path'));
    assert.equal(lines.length, 1, out);
    assert.match(lines[0], /"udp":"dgram".*UDP path: dgram \(batched path unavailable: native addon not loaded \(\/nonexistent\/udp_batch\.node/);
    assert.equal((await dig(port, ['www.example.com', 'A'])).status, 'NOERROR');
  } finally {
    await stopChild(child, exited);
  }
});

test('sharedPortHazard: only ports inside ip_local_port_range are named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-range-'));
  try {
    const file = join(dir, 'range');
    writeFileSync(file, '32768\t60999\n');
    assert.match(sharedPortHazard(45000, file) ?? '', /UDP port 45000 .* ephemeral range 32768-60999/);
    assert.equal(sharedPortHazard(32767, file), null);
    assert.equal(sharedPortHazard(53, file), null);
    assert.equal(sharedPortHazard(45000, join(dir, 'missing')), null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** dig from source port PORT to 127.0.0.1#PORT: its whole output. */
function digFrom(port: number): string {
  const r = spawnSync('dig', ['+tries=1', '+time=2', '-b', `0.0.0.0#${port}`, '@127.0.0.1', '-p', String(port), 'www.example.com', 'A'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`;
}

test('serve --udp takes batched or dgram only', async () => {
  const child = spawn(process.execPath, [CLI, 'serve', '--udp', 'fast', '--metrics-listen', 'off'], { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 2, err);
  assert.match(err, /--udp must be batched or dgram/);
});
