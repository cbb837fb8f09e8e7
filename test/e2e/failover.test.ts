import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { HealthStore } from '../../src/health';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Health-driven choice with the embedded in-memory table: the first datacenter
// of the region's list that is up, else the fallback; never an empty answer.

const GD = '183.6.0.0/24';
const US = '8.8.8.0/24';
let s: TestServer;
/** A vote from a test prober: one fresh vote is a majority of one. */
const health: { store: HealthStore | null; set(service: string, dc: string, up: boolean, store?: HealthStore | null): Promise<void> } = {
  store: null,
  async set(service, dc, up, store = health.store) {
    await store?.writeVote({ prober: 'test', service, dc, up, ttlMs: 600_000, detail: 'set by test', latencyMs: 0 });
  },
};
const a = async (subnet: string, type = 'A'): Promise<string[]> =>
  (await dig(s.port, ['www.example.com', type, `+subnet=${subnet}`])).answer.map((r) => r[4]).sort();

before(async () => {
  s = await startServer();
  health.store = s.store;
});
after(async () => {
  await s.close();
});

test('a down datacenter is skipped: south goes to bj when gz is down', async () => {
  await health.set('www.example.com', 'gz', false);
  try {
    assert.deepEqual(await a(GD), ['198.51.100.10']);
    assert.deepEqual(await a(GD, 'AAAA'), ['2001:db8:20::10']);
    assert.deepEqual(await a(US), ['203.0.113.10'], 'overseas is unaffected');
  } finally {
    await health.set('www.example.com', 'gz', true);
  }
  assert.deepEqual(await a(GD), ['192.0.2.10']);
});

test('an answer that moved off the region\'s first choice carries the short failover TTL', async () => {
  await health.set('www.example.com', 'gz', false);
  try {
    const moved = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    const stayed = await dig(s.port, ['www.example.com', 'A', `+subnet=${US}`]);
    assert.deepEqual([moved.answer[0][4], moved.answer[0][1]], ['198.51.100.10', '30']);
    assert.deepEqual([stayed.answer[0][4], stayed.answer[0][1]], ['203.0.113.10', '60']);
  } finally {
    await health.set('www.example.com', 'gz', true);
  }
});

test('all datacenters down: fail-open to the first of the region list, never empty', async () => {
  for (const dc of ['gz', 'bj', 'sg']) await health.set('www.example.com', dc, false);
  try {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((x) => x[4]), ['192.0.2.10']);
    assert.deepEqual(await a(US), ['203.0.113.10']);
  } finally {
    for (const dc of ['gz', 'bj', 'sg']) await health.set('www.example.com', dc, true);
  }
});

test('when only one datacenter is up for everyone, the answer is client-independent (scope 0)', async () => {
  await health.set('www.example.com', 'gz', false);
  await health.set('www.example.com', 'bj', false);
  try {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((x) => x[4]), ['203.0.113.10']);
    assert.equal(r.ecs?.scope, 0);
  } finally {
    await health.set('www.example.com', 'gz', true);
    await health.set('www.example.com', 'bj', true);
  }
});

test('fallback "all" answers every datacenter when all are down', async () => {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('fallback: first', 'fallback: all');
  const s2 = await startServer({ mapText: text });
  try {
    for (const dc of ['gz', 'bj', 'sg']) await health.set('www.example.com', dc, false, s2.store);
    const r = await dig(s2.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((x) => x[4]).sort(), ['192.0.2.10', '198.51.100.10', '203.0.113.10']);
  } finally {
    await s2.close();
  }
});
