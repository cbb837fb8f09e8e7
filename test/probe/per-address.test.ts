import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import { parseMapText } from '../../src/config';
import { MemoryStore } from '../../src/health';
import { Prober } from '../../src/probe';
import { DEFAULT_MAP } from '../helpers/server';
import { until } from '../helpers/wait';

// check.per_address: one vote per address (DC@ADDRESS) with its own hysteresis,
// and the datacenter's vote up while any address is up. Real TCP checks
// against loopback listeners.

const listen = (host: string, port: number): Promise<Server> =>
  new Promise((resolve, reject) => {
    const srv = createServer((c) => c.destroy());
    srv.once('error', reject);
    srv.listen(port, host, () => resolve(srv));
  });
const close = (srv: Server): Promise<void> => new Promise((resolve) => srv.close(() => resolve()));

test('per_address: each address is voted on alone; the datacenter is down only when every address is', async (t) => {
  const a = await listen('127.0.0.31', 0);
  const port = (a.address() as { port: number }).port;
  const b = await listen('127.0.0.32', port);
  const map = parseMapText(
    `${readFileSync(DEFAULT_MAP, 'utf8').trimEnd()}
  p.example.com:
    answers: weighted 1
    check: { type: tcp, port: ${port}, per_address: true, interval: 150ms, timeout: 100ms, fall: 1, rise: 1 }
    datacenters:
      sg: { a: [127.0.0.31, 127.0.0.32] }
`,
    DEFAULT_MAP,
  );
  const store = new MemoryStore();
  const prober = new Prober({ id: 'p1', store, map });
  t.after(() => prober.stop());
  prober.start();
  const votes = async (): Promise<Record<string, boolean>> => {
    const snap = await store.loadAll();
    return Object.fromEntries(snap.votes.filter((v) => v.service === 'p.example.com').map((v) => [v.dc, v.up]));
  };
  const want = (w: Record<string, boolean>) => async (): Promise<true | null> => {
    const got = await votes();
    return Object.keys(got).length === Object.keys(w).length && Object.entries(w).every(([k, v]) => got[k] === v) ? true : null;
  };
  await until('all up', want({ 'sg@127.0.0.31': true, 'sg@127.0.0.32': true, sg: true }), 5000, 50);
  await close(b);
  await until('one address down, the datacenter up', want({ 'sg@127.0.0.31': true, 'sg@127.0.0.32': false, sg: true }), 5000, 50);
  await close(a);
  await until('every address down: the datacenter down', want({ 'sg@127.0.0.31': false, 'sg@127.0.0.32': false, sg: false }), 5000, 50);
  // The hysteresis state a reload carries over includes the addresses.
  const state = prober.state();
  assert.equal(state.get('p.example.com|sg@127.0.0.32')?.up, false);
  assert.equal(state.get('p.example.com|sg')?.up, false);
});
