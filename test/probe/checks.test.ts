import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { runCheck } from '../../src/probe/check';
import type { DnsCheckConfig, HttpCheckConfig, TcpCheckConfig } from '../../src/config';

const TIMING = { intervalMs: 5000, timeoutMs: 2000, fall: 3, rise: 2, perAddress: false };

function httpCfg(port: number, extra: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return {
    ...TIMING,
    type: 'http',
    port,
    path: '/health',
    method: 'GET',
    expectStatus: [[200, 299]],
    bodyContains: null,
    host: null,
    ...extra,
  };
}

interface Seen {
  method: string;
  url: string;
  host: string | undefined;
  userAgent: string | undefined;
  servername?: string | false | null;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Starts an HTTP(S) server on a kernel-chosen port, recording each request; closed after the test. */
async function serveHttp(
  t: TestContext,
  handler: Handler,
  opts: { host?: string; tls?: { key: Buffer; cert: Buffer } } = {},
): Promise<{ port: number; seen: Seen[] }> {
  const seen: Seen[] = [];
  const onRequest: Handler = (req, res) => {
    const entry: Seen = { method: req.method ?? '', url: req.url ?? '', host: req.headers.host, userAgent: req.headers['user-agent'] };
    if (opts.tls) entry.servername = (req.socket as TLSSocket).servername;
    seen.push(entry);
    handler(req, res);
  };
  const server = opts.tls ? https.createServer(opts.tls, onRequest) : http.createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host ?? '127.0.0.1', () => resolve());
  });
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

const reply =
  (status: number, body = 'ok\n'): Handler =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(body);
  };

/** A port that was just free: bind, note, close. */
async function closedTcpPort(): Promise<number> {
  const server: TcpServer = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function ipv6Available(): Promise<boolean> {
  const server = createTcpServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(0, '::1', () => server.close(() => resolve(true)));
  });
}

// ---------------------------------------------------------------- HTTP

test('HTTP 200 is a success with detail "HTTP 200" and sends path, method, User-Agent', async (t) => {
  const { port, seen } = await serveHttp(t, reply(200));
  const r = await runCheck(httpCfg(port), '127.0.0.1', 'svc.example');
  assert.equal(r.outcome, 'success');
  assert.equal(r.detail, 'HTTP 200');
  assert.ok(r.latencyMs >= 0 && r.latencyMs < 2000, `latency ${r.latencyMs}`);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].method, 'GET');
  assert.equal(seen[0].url, '/health');
  assert.equal(seen[0].userAgent, 'geosteer-probe');
});

test('HTTP 503 is a failure with detail "HTTP 503"', async (t) => {
  const { port } = await serveHttp(t, reply(503));
  const r = await runCheck(httpCfg(port), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['failure', 'HTTP 503']);
});

test('expectStatus ranges are inclusive: [[200, 399]] accepts 301 and 399, not 400', async (t) => {
  for (const [status, outcome] of [[301, 'success'], [399, 'success'], [400, 'failure'], [200, 'success']] as const) {
    const { port } = await serveHttp(t, reply(status));
    const r = await runCheck(httpCfg(port, { expectStatus: [[200, 399]] }), '127.0.0.1', 'svc.example');
    assert.deepEqual([r.outcome, r.detail], [outcome, `HTTP ${status}`]);
  }
  const { port } = await serveHttp(t, reply(204));
  const several = await runCheck(httpCfg(port, { expectStatus: [[200, 200], [204, 204]] }), '127.0.0.1', 'svc.example');
  assert.equal(several.outcome, 'success');
});

test('bodyContains: present is a success, absent a failure naming the substring', async (t) => {
  const { port } = await serveHttp(t, reply(200, 'status: all good\n'));
  const ok = await runCheck(httpCfg(port, { bodyContains: 'all good' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([ok.outcome, ok.detail], ['success', 'HTTP 200']);
  const bad = await runCheck(httpCfg(port, { bodyContains: 'ok' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([bad.outcome, bad.detail], ['failure', 'HTTP 200, body lacks "ok"']);
});

test('bodyContains finds a substring split across chunks', async (t) => {
  const { port } = await serveHttp(t, (_req, res) => {
    res.writeHead(200);
    res.write('xxxx hea');
    setTimeout(() => res.end('lthy xxxx'), 20);
  });
  const r = await runCheck(httpCfg(port, { bodyContains: 'healthy' }), '127.0.0.1', 'svc.example');
  assert.equal(r.outcome, 'success');
});

test('a 1 MB body is read only up to the 64 KiB cap', async (t) => {
  const big = Buffer.alloc(1024 * 1024, 'x');
  const { port } = await serveHttp(t, (_req, res) => {
    res.writeHead(200, { 'content-length': big.length + 6 });
    res.end(Buffer.concat([big, Buffer.from('needle')]));
  });
  const lacking = await runCheck(httpCfg(port, { bodyContains: 'needle' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([lacking.outcome, lacking.detail], ['failure', 'HTTP 200, body lacks "needle"']);

  const early = await serveHttp(t, (_req, res) => {
    res.writeHead(200);
    res.end(Buffer.concat([Buffer.from('needle'), big]));
  });
  const found = await runCheck(httpCfg(early.port, { bodyContains: 'needle' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([found.outcome, found.detail], ['success', 'HTTP 200']);
});

test('HEAD method is used as configured (and bodyContains is ignored for it)', async (t) => {
  const { port, seen } = await serveHttp(t, reply(200));
  const r = await runCheck(httpCfg(port, { method: 'HEAD', bodyContains: 'absent' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'HTTP 200']);
  assert.equal(seen[0].method, 'HEAD');
});

test('Host header is cfg.host, or the service name when host is null', async (t) => {
  const { port, seen } = await serveHttp(t, reply(200));
  await runCheck(httpCfg(port, { host: 'health.internal' }), '127.0.0.1', 'svc.example');
  await runCheck(httpCfg(port, { host: null }), '127.0.0.1', 'svc.example');
  assert.deepEqual(
    seen.map((s) => s.host),
    ['health.internal', 'svc.example'],
  );
});

test('a server that accepts but never answers times out within timeoutMs', async (t) => {
  const { port } = await serveHttp(t, () => {
    /* never respond */
  });
  const before = performance.now();
  const r = await runCheck(httpCfg(port, { timeoutMs: 300 }), '127.0.0.1', 'svc.example');
  const elapsed = performance.now() - before;
  assert.deepEqual([r.outcome, r.detail], ['timeout', 'timeout after 300 ms']);
  assert.ok(elapsed >= 290 && elapsed < 5000, `elapsed ${elapsed}`);
});

test('a body that stalls mid-way also times out (the bound covers the body read)', async (t) => {
  const { port } = await serveHttp(t, (_req, res) => {
    res.writeHead(200);
    res.write('partial');
  });
  const r = await runCheck(httpCfg(port, { timeoutMs: 300, bodyContains: 'done' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['timeout', 'timeout after 300 ms']);
});

test('a refused connection is a failure with ECONNREFUSED', async () => {
  const port = await closedTcpPort();
  const r = await runCheck(httpCfg(port), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['failure', 'ECONNREFUSED']);
});

test('HTTP over IPv6 (::1)', async (t) => {
  if (!(await ipv6Available())) return t.skip('::1 unavailable');
  const { port, seen } = await serveHttp(t, reply(200), { host: '::1' });
  const r = await runCheck(httpCfg(port), '::1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'HTTP 200']);
  assert.equal(seen[0].host, 'svc.example');
});

test('an abort signal ends a pending check promptly with "aborted"', async (t) => {
  const { port } = await serveHttp(t, () => {
    /* never respond */
  });
  const controller = new AbortController();
  const before = performance.now();
  setTimeout(() => controller.abort(), 50);
  const r = await runCheck(httpCfg(port, { timeoutMs: 5000 }), '127.0.0.1', 'svc.example', controller.signal);
  assert.deepEqual([r.outcome, r.detail], ['failure', 'aborted']);
  assert.ok(performance.now() - before < 1000);

  const pre = await runCheck(httpCfg(port), '127.0.0.1', 'svc.example', AbortSignal.abort());
  assert.deepEqual([pre.outcome, pre.detail], ['failure', 'aborted']);
});

// ---------------------------------------------------------------- HTTPS

/** A throwaway self-signed cert made with openssl, or null when openssl is missing. */
function selfSignedCert(): { key: Buffer; cert: Buffer } | null {
  if (spawnSync('openssl', ['version']).status !== 0) return null;
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-tls-'));
  try {
    const made = spawnSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
        '-subj', '/CN=not-the-probed-host', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')],
      { stdio: 'ignore' },
    );
    if (made.status !== 0) return null;
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('HTTPS against a self-signed cert succeeds, with SNI = host (none for an IP host)', async (t) => {
  const tls = selfSignedCert();
  if (!tls) return t.skip('openssl unavailable');
  const { port, seen } = await serveHttp(t, reply(200), { tls });
  const r = await runCheck(httpCfg(port, { type: 'https', bodyContains: 'ok' }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'HTTP 200']);
  await runCheck(httpCfg(port, { type: 'https', host: '127.0.0.1' }), '127.0.0.1', 'svc.example');
  assert.equal(seen[0].servername, 'svc.example');
  assert.equal(seen[0].host, 'svc.example');
  assert.equal(seen[1].servername, false);
});

test('HTTPS against a plain-HTTP port is a failure, not a hang', async (t) => {
  const { port } = await serveHttp(t, reply(200));
  const r = await runCheck(httpCfg(port, { type: 'https', timeoutMs: 1500 }), '127.0.0.1', 'svc.example');
  assert.equal(r.outcome, 'failure', r.detail);
});

// ---------------------------------------------------------------- TCP

function tcpCfg(port: number): TcpCheckConfig {
  return { ...TIMING, type: 'tcp', port };
}

test('TCP: an open port is a success, a closed one a failure with ECONNREFUSED', async (t) => {
  const server = createTcpServer((socket) => socket.on('error', () => {}));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const ok = await runCheck(tcpCfg((server.address() as AddressInfo).port), '127.0.0.1', 'svc.example');
  assert.deepEqual([ok.outcome, ok.detail], ['success', 'connected']);

  const refused = await runCheck(tcpCfg(await closedTcpPort()), '127.0.0.1', 'svc.example');
  assert.deepEqual([refused.outcome, refused.detail], ['failure', 'ECONNREFUSED']);
});

// ---------------------------------------------------------------- DNS

function dnsCfg(port: number, extra: Partial<DnsCheckConfig> = {}): DnsCheckConfig {
  return { ...TIMING, type: 'dns', port, name: 'www.example.com', qtype: 1, expectRcode: 0, requireAnswer: true, ...extra };
}

interface DnsBehaviour {
  rcode?: number;
  answers?: number;
  /** Don't answer at all. */
  silent?: boolean;
  /** Answer with the id flipped (must be ignored). */
  wrongId?: boolean;
  /** Answer from another socket (another source port: must be ignored). */
  fromElsewhere?: UdpSocket;
}

/** Builds a reply echoing the query's id and question, with `answers` A records. */
function dnsReply(query: Buffer, rcode: number, answers: number, id = query.readUInt16BE(0)): Buffer {
  let end = 12;
  while (query[end] !== 0) end += query[end] + 1;
  end += 5;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x8400 | rcode, 2); // QR, AA
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(answers, 6);
  const rr = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
  return Buffer.concat([header, query.subarray(12, end), ...Array<Buffer>(answers).fill(rr)]);
}

async function udpSocket(t: TestContext, type: 'udp4' | 'udp6' = 'udp4'): Promise<UdpSocket> {
  const socket = createSocket(type);
  await new Promise<void>((resolve) => socket.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => resolve()));
  t.after(() => new Promise<void>((resolve) => socket.close(() => resolve())));
  return socket;
}

async function serveDns(t: TestContext, how: DnsBehaviour, type: 'udp4' | 'udp6' = 'udp4'): Promise<{ port: number; queries: Buffer[] }> {
  const socket = await udpSocket(t, type);
  const queries: Buffer[] = [];
  socket.on('message', (query, rinfo) => {
    queries.push(query);
    if (how.silent) return;
    const id = query.readUInt16BE(0);
    const out = dnsReply(query, how.rcode ?? 0, how.answers ?? 1, how.wrongId ? id ^ 1 : id);
    (how.fromElsewhere ?? socket).send(out, rinfo.port, rinfo.address);
  });
  return { port: socket.address().port, queries };
}

test('DNS: NOERROR with an answer is a success; the query is well-formed, RD=0', async (t) => {
  const { port, queries } = await serveDns(t, { answers: 1 });
  const r = await runCheck(dnsCfg(port), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'rcode NOERROR, 1 answer']);
  const q = queries[0];
  assert.equal(q.readUInt16BE(2), 0, 'flags: standard query, RD=0');
  assert.deepEqual([q.readUInt16BE(4), q.readUInt16BE(6), q.readUInt16BE(8), q.readUInt16BE(10)], [1, 0, 0, 0]);
  assert.deepEqual(
    q.subarray(12),
    Buffer.from([3, ...Buffer.from('www'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1]),
  );
});

test('DNS: SERVFAIL is a failure "rcode SERVFAIL"', async (t) => {
  const { port } = await serveDns(t, { rcode: 2, answers: 0 });
  const r = await runCheck(dnsCfg(port), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['failure', 'rcode SERVFAIL']);
});

test('DNS: NOERROR without answers fails only when requireAnswer', async (t) => {
  const { port } = await serveDns(t, { answers: 0 });
  const r = await runCheck(dnsCfg(port), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['failure', 'no answer records']);
  const lax = await runCheck(dnsCfg(port, { requireAnswer: false }), '127.0.0.1', 'svc.example');
  assert.deepEqual([lax.outcome, lax.detail], ['success', 'rcode NOERROR, 0 answers']);
});

test('DNS: expectRcode NXDOMAIN accepts an NXDOMAIN reply', async (t) => {
  const { port } = await serveDns(t, { rcode: 3, answers: 0 });
  const r = await runCheck(dnsCfg(port, { expectRcode: 3, requireAnswer: false }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'rcode NXDOMAIN, 0 answers']);
});

test('DNS: a silent server times out', async (t) => {
  const { port, queries } = await serveDns(t, { silent: true });
  const before = performance.now();
  const r = await runCheck(dnsCfg(port, { timeoutMs: 300 }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['timeout', 'timeout after 300 ms']);
  assert.ok(performance.now() - before < 1000);
  assert.equal(queries.length, 1);
});

test('DNS: a reply with the wrong id is ignored (then timeout)', async (t) => {
  const { port, queries } = await serveDns(t, { wrongId: true });
  const r = await runCheck(dnsCfg(port, { timeoutMs: 300 }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['timeout', 'timeout after 300 ms']);
  assert.equal(queries.length, 1);
});

test('DNS: a correct-id reply from another source port is ignored (then timeout)', async (t) => {
  const other = await udpSocket(t);
  const { port } = await serveDns(t, { fromElsewhere: other });
  const r = await runCheck(dnsCfg(port, { timeoutMs: 300 }), '127.0.0.1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['timeout', 'timeout after 300 ms']);
});

test('DNS: a closed UDP port is a failure (ICMP unreachable -> ECONNREFUSED) or, where not reported, a timeout', async () => {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  const r = await runCheck(dnsCfg(port, { timeoutMs: 300 }), '127.0.0.1', 'svc.example');
  assert.ok(
    (r.outcome === 'failure' && r.detail === 'ECONNREFUSED') || r.outcome === 'timeout',
    `${r.outcome} ${r.detail}`,
  );
});

test('DNS over IPv6 (::1)', async (t) => {
  if (!(await ipv6Available())) return t.skip('::1 unavailable');
  const { port } = await serveDns(t, { answers: 2 }, 'udp6');
  const r = await runCheck(dnsCfg(port), '::1', 'svc.example');
  assert.deepEqual([r.outcome, r.detail], ['success', 'rcode NOERROR, 2 answers']);
});

test('DNS: an abort signal ends a pending query promptly', async (t) => {
  const { port } = await serveDns(t, { silent: true });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const before = performance.now();
  const r = await runCheck(dnsCfg(port, { timeoutMs: 5000 }), '127.0.0.1', 'svc.example', controller.signal);
  assert.deepEqual([r.outcome, r.detail], ['failure', 'aborted']);
  assert.ok(performance.now() - before < 1000);
});

test('bad input becomes a failure result, never a rejection', async () => {
  const name = await runCheck(dnsCfg(53, { name: `${'a'.repeat(64)}.example` }), '127.0.0.1', 'svc.example');
  assert.equal(name.outcome, 'failure');
  const addr = await runCheck(tcpCfg(80), 'not-an-ip', 'svc.example');
  assert.equal(addr.outcome, 'failure');
  const port = await runCheck(dnsCfg(70000), '127.0.0.1', 'svc.example');
  assert.equal(port.outcome, 'failure');
  const httpPort = await runCheck(httpCfg(70000), '127.0.0.1', 'svc.example');
  assert.equal(httpPort.outcome, 'failure');
});
