import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { batchLoadError, loadBatchAddon } from '../../src/dns/udp-batch';
import { CLI, cliEnv } from '../helpers/cli';
import { NetnsLab, netnsUnavailable } from '../helpers/netns';
import { stopChild } from '../helpers/process';
import { until } from '../helpers/wait';

// The batched path's full-send-buffer case, which loopback never reaches (its packets are delivered,
// and their buffer space freed, inside the send call). Here the server sits in a namespace of its own,
// its replies leave through a veth shaped by a slow token bucket (tbf): sent replies wait in that queue
// and hold the socket's send buffer, so a burst of queries fills it. The addon must then retry once,
// drop the rest of the batch and count it, and never wait: the event loop keeps serving.

const why = loadBatchAddon() === null ? `addon not built: ${batchLoadError()}` : netnsUnavailable();
const lab = new NetnsLab();
let server = '';
let client = '';
let dir = '';
let setupSkip: string | null = null;

const SERVER_ADDR = '10.213.0.1';
const CLIENT_ADDR = '10.213.0.2';
const DNS_PORT = 5300;
const METRICS_PORT = 9153;
const QUERIES = 4000;

before(() => {
  if (why) return;
  NetnsLab.removeStale();
  server = lab.add('sbuf-srv');
  client = lab.add('sbuf-cli');
  lab.link({ ns: server, dev: 'vs', cidr: `${SERVER_ADDR}/30` }, { ns: client, dev: 'vc', cidr: `${CLIENT_ADDR}/30` });
  // 100 kbit/s out of the server, with a queue long enough that tbf never drops: the send buffer fills first.
  const tc = spawnSync('ip', ['netns', 'exec', server, 'tc', 'qdisc', 'add', 'dev', 'vs', 'root', 'tbf', 'rate', '100kbit', 'burst', '1600', 'limit', '50000000'], { encoding: 'utf8' });
  if (tc.status !== 0) setupSkip = `tc tbf unavailable: ${(tc.stderr || tc.error?.message || '').trim()}`;
  dir = mkdtempSync(join(tmpdir(), 'geosteer-sndbuf-'));
  // The benchmark's map with rate limiting off: the burst comes from one address, and RRL would drop most of it first.
  const map = readFileSync(resolve(__dirname, '../../../bench/map.yaml'), 'utf8').replace(/^server:\n/m, 'server:\n  rrl: off\n');
  writeFileSync(join(dir, 'map.yaml'), map);
});

after(() => {
  lab.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs a Node script inside namespace NS; resolves with its stdout. */
function nodeIn(ns: string, script: string, timeoutMs: number): Promise<string> {
  return new Promise((res, rej) => {
    const [cmd, args] = NetnsLab.wrap(ns, process.execPath, ['-e', script]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) res(out);
      else rej(new Error(`node in ${ns} exited ${code}: ${err}`));
    });
  });
}

/** The server's metrics, read from inside its namespace. */
async function metric(name: string): Promise<number> {
  const text = await nodeIn(
    server,
    `require('http').get('http://127.0.0.1:${METRICS_PORT}/metrics', (r) => { let b = ''; r.on('data', (c) => (b += c)); r.on('end', () => process.stdout.write(b)); }).on('error', (e) => { console.error(e.message); process.exit(1); })`,
    10_000,
  );
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} not in the metrics:\n${text.slice(0, 2000)}`);
  return Number(m[1]);
}

// One socket in the client namespace sends QUERIES queries for www.example.test A at once, then counts
// replies until none has come for 3 s (the shaped link drains the queued ones slowly).
const BURST = `
const dgram = require('dgram');
const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 16 << 20 });
const q = (id) => Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\\x03www\\x07example\\x04test\\x00', 'latin1'), Buffer.from([0, 1, 0, 1])]);
let got = 0, last = Date.now();
s.on('message', () => { got++; last = Date.now(); });
s.bind(0, '${CLIENT_ADDR}', () => {
  for (let i = 0; i < ${QUERIES}; i++) s.send(q(i), ${DNS_PORT}, '${SERVER_ADDR}');
  process.stdout.write('sent\\n');
  const t = setInterval(() => { if (Date.now() - last > 3000) { clearInterval(t); process.stdout.write(JSON.stringify({ got }) + '\\n'); s.close(); } }, 200);
});
`;

test('a full send buffer: the rest of the batch is dropped and counted, nothing waits, and the server answers again once it drains', { skip: why ?? false, timeout: 120_000 }, async (t) => {
  if (setupSkip) {
    t.skip(setupSkip);
    return;
  }
  const [cmd, args] = NetnsLab.wrap(server, process.execPath, [CLI, 'serve', '--config', join(dir, 'map.yaml'), '--listen', `${SERVER_ADDR}:${DNS_PORT}`, '--workers', '1', '--no-probe', '--metrics-listen', `127.0.0.1:${METRICS_PORT}`]);
  const child = spawn(cmd, args, { env: cliEnv({ LOG_LEVEL: 'info' }), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  try {
    await until('serving', () => (out.includes('geosteer serving') ? true : null), 30_000);
    assert.match(out, /UDP path: batched/);
    const burst = nodeIn(client, BURST, 90_000);
    // While the replies queue on the shaped link, the event loop is free: the metrics page answers, and
    // the drop counter is already moving (a blocking send would stall both).
    let dropped = 0;
    await until('send drops counted while the link is still draining', async () => ((dropped = await metric('geosteer_dns_udp_send_dropped_total')) > 0 ? true : null), 30_000);
    const result = JSON.parse((await burst).trim().split('\n').pop() as string) as { got: number };
    const sent = await metric('geosteer_dns_udp_send_batches_total');
    dropped = await metric('geosteer_dns_udp_send_dropped_total');
    const answered = await metric('geosteer_dns_udp_batch_datagrams_total');
    t.diagnostic(`queries ${QUERIES}: received by the server ${answered}, replies dropped at a full send buffer ${dropped}, reached the client ${result.got}, sendmmsg calls ${sent}`);
    assert.ok(dropped > 0, 'no reply was dropped: the send buffer never filled');
    assert.ok(result.got > 0, 'no reply reached the client');
    assert.ok(result.got + dropped <= answered, `${result.got} replies + ${dropped} drops > ${answered} queries received`);
    // Drained: a new query gets its answer.
    const again = JSON.parse(
      await nodeIn(
        client,
        `const s = require('dgram').createSocket('udp4'); s.on('message', (m) => { console.log(JSON.stringify({ len: m.length, qr: m[2] >> 7 })); process.exit(0); }); s.send(Buffer.concat([Buffer.from([0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from('\\x03www\\x07example\\x04test\\x00', 'latin1'), Buffer.from([0, 1, 0, 1])]), ${DNS_PORT}, '${SERVER_ADDR}'); setTimeout(() => process.exit(3), 10000);`,
        15_000,
      ),
    ) as { len: number; qr: number };
    assert.equal(again.qr, 1);
  } finally {
    await stopChild(child, exited);
  }
});
