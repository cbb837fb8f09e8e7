import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../src/observability';
import { dig } from '../helpers/dig';
import { buildQuery } from '../helpers/packet';
import { promValue, scrape } from '../helpers/prom';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { sleep } from '../helpers/wait';

// The sample map with a tight limit and no exemption, so loopback sources
// stand in for spoofed internet ones: 5 answers a second per (/24, name, type).
const MAP = readFileSync(DEFAULT_MAP, 'utf8').replace(
  '  id: ns1.example.com\n',
  '  id: ns1.example.com\n  rrl:\n    responses_per_second: 5\n    errors_per_second: 5\n    window: 1\n    slip: 2\n    exempt: []\n',
);

interface Tally {
  full: number;
  truncated: number;
  other: number;
}

/** Sends `count` queries for www.example.com A from `source` as fast as it can and tallies the replies for 700 ms. */
async function flood(port: number, source: string, count: number): Promise<Tally> {
  const sock = createSocket('udp4');
  await new Promise<void>((ok) => sock.bind(0, source, ok));
  const tally: Tally = { full: 0, truncated: 0, other: 0 };
  sock.on('message', (m) => {
    const tc = (m[2] & 0x02) !== 0;
    const an = m.readUInt16BE(6);
    if (tc && an === 0) tally.truncated++;
    else if (!tc && an > 0 && (m[3] & 0x0f) === 0) tally.full++;
    else tally.other++;
  });
  for (let i = 0; i < count; i++) sock.send(buildQuery({ id: i, name: 'www.example.com', type: 1 }), port, '127.0.0.1');
  await sleep(700);
  sock.close();
  return tally;
}

describe('response rate limiting (server.rrl)', () => {
  let s: TestServer;
  const lines: string[] = [];
  before(async () => {
    const logger = createLogger({ level: 'warn', destination: { write: (l: string) => void lines.push(l) } });
    s = await startServer({ mapText: MAP, metricsListen: '127.0.0.1:0', logger });
  });
  after(() => s.close());

  it('limits a flood from one source while another /24 is answered in full', async () => {
    const [flooded, bystander] = await Promise.all([flood(s.port, '127.0.0.2', 200), flood(s.port, '127.0.1.1', 5)]);
    assert.deepEqual(bystander, { full: 5, truncated: 0, other: 0 }, 'the other /24 is within its own budget');
    // 5 tokens at the start, plus what refills while the 200 are sent (5/s).
    assert.ok(flooded.full >= 5 && flooded.full <= 8, `answers to the flooding /24: ${flooded.full}`);
    assert.equal(flooded.other, 0);
    const limited = 200 - flooded.full;
    // slip 2: every second limited response goes out truncated, the rest are dropped.
    assert.ok(Math.abs(flooded.truncated - limited / 2) <= 1, `truncated ${flooded.truncated} of ${limited} limited`);
    const m = await scrape(s.admin!.port);
    assert.equal(promValue(m, 'geosteer_dns_rrl_limited_total', { action: 'slipped' }), flooded.truncated);
    assert.equal(promValue(m, 'geosteer_dns_rrl_limited_total', { action: 'dropped' }), limited - flooded.truncated);
    // One warning for the whole flood (at most one per 10 s), naming the client and the name.
    const warned = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => String(l.msg).startsWith('rate limiting responses'));
    assert.equal(warned.length, 1);
    assert.equal(warned[0].client, '127.0.0.2');
    assert.equal(warned[0].qname, 'www.example.com');
  });

  it('the truncated reply sends a real resolver to TCP, which is never limited', async () => {
    await flood(s.port, '127.0.0.2', 50); // empty the bucket again
    const r = await dig(s.port, ['+tcp', '-b', '127.0.0.2', '+subnet=183.6.0.0/24', 'www.example.com', 'A']);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((a) => a[4]), ['192.0.2.10']);
  });

  it('the default exempts loopback, so an unconfigured server answers a loopback flood in full', async () => {
    const plain = await startServer({});
    try {
      const t = await flood(plain.port, '127.0.0.2', 200);
      assert.deepEqual(t, { full: 200, truncated: 0, other: 0 });
    } finally {
      await plain.close();
    }
  });
});
