import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import type { DnsOptions } from '../../src/dns';
import { buildQuery, frame } from '../helpers/packet';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { TcpClient } from '../helpers/tcp-client';
import { sleep, until } from '../helpers/wait';

const www = (id: number): Buffer => frame(buildQuery({ id, name: 'www.example.com', type: 1 }));
const servers: TestServer[] = [];
const clients: TcpClient[] = [];

async function server(dns: Partial<DnsOptions>, mapText?: string): Promise<TestServer> {
  const s = await startServer({ dns, ...(mapText !== undefined ? { mapText } : {}) });
  servers.push(s);
  return s;
}

async function open(port: number, from = '127.0.0.1'): Promise<TcpClient> {
  const c = await TcpClient.open(port, from);
  clients.push(c);
  return c;
}

/** The server's open TCP sockets (private; read to check what it holds). */
function serverSockets(s: TestServer): Set<Socket> {
  return (s.dns as unknown as { conns: Set<Socket> }).conns;
}

describe('TCP limits', () => {
  after(async () => {
    for (const c of clients) c.destroy();
    for (const s of servers) await s.close();
  });

  it('per source address: the 4th connection from one address is closed, other addresses are served', async () => {
    const s = await server({ tcpMaxConnectionsPerSource: 3 });
    const same = [await open(s.port, '127.0.0.2'), await open(s.port, '127.0.0.2'), await open(s.port, '127.0.0.2'), await open(s.port, '127.0.0.2')];
    const other = await open(s.port, '127.0.0.3');
    [...same, other].forEach((c, i) => c.write(www(i + 1)));
    await until('every connection answered or closed', () => [...same, other].every((c) => c.replies.length > 0 || c.closed));
    assert.deepEqual(same.map((c) => c.replies.length), [1, 1, 1, 0]);
    assert.equal(same[3].closed, true);
    assert.equal(other.replies.length, 1);
    assert.equal(s.dns.stats.tcpRejectedPerSource, 1);
    // A slot freed by a close is given to the next connection.
    same[0].destroy();
    await until('the server saw the close', () => serverSockets(s).size === 3);
    const again = await open(s.port, '127.0.0.2');
    again.write(www(9));
    assert.ok(await again.wait(1));
    assert.equal(again.replies.length, 1);
  });

  it('a busy connection is closed at its maximum lifetime, after the replies it was owed', async () => {
    const s = await server({ tcpMaxLifetimeMs: 600, tcpIdleTimeoutMs: 10_000 });
    const c = await open(s.port);
    let sent = 0;
    while (!c.closed && sent < 100) {
      c.write(www(++sent));
      await sleep(50);
    }
    assert.equal(c.closed, true, 'still open after 100 queries 50 ms apart');
    assert.equal(s.dns.stats.tcpLifetimeClosed, 1);
    assert.ok(c.replies.length >= 5, `replies before the close: ${c.replies.length}`);
    c.replies.forEach((r, i) => assert.equal(r.readUInt16BE(0), i + 1, 'replies in order, none skipped'));
  });

  it('a client that does not read its replies stops being read: memory held for it is bounded', async () => {
    // 8 TXT strings of 255 bytes: ~2 KB replies, so the kernel's socket buffers fill quickly.
    const big = Array.from({ length: 8 }, (_, i) => `"${String.fromCharCode(97 + i).repeat(255)}"`).join(' ');
    const map = readFileSync(DEFAULT_MAP, 'utf8').replace('      sip        A      192.0.2.26', `      sip        A      192.0.2.26\n      big        TXT    ${big}`);
    const s = await server({ tcpMaxInFlight: 4, tcpMaxQueriesPerConnection: 100_000 }, map);
    const c = await open(s.port);
    c.sock.pause(); // read nothing
    const n = 20_000; // ~40 MB of replies: more than loopback's socket buffers hold
    const queries = Buffer.concat(Array.from({ length: n }, (_, i) => frame(buildQuery({ id: i & 0xffff, name: 'big.example.com', type: 16 }))));
    c.sock.write(queries);
    // Wait until the server stops answering: its count stays put for half a second.
    let last = -1;
    await until('the server stopped reading', async () => {
      const now = s.dns.stats.tcpQueries;
      const still = now === last;
      last = now;
      await sleep(500);
      return still;
    }, 20_000, 1);
    assert.ok(last < n, `the server answered all ${n} queries of a client that reads nothing`);
    for (const sock of serverSockets(s)) assert.ok(sock.writableLength <= 4 * 2200, `held ${sock.writableLength} bytes for one connection`);
    // Once the client reads, every reply comes, in order.
    c.sock.resume();
    assert.ok(await c.wait(n, 30_000), `got ${c.replies.length} of ${n}`);
    for (let i = 0; i < n; i += 997) assert.equal(c.replies[i].readUInt16BE(0), i & 0xffff);
  });
});
