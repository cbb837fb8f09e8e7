import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { MemoryHealthTable } from '../../src/health';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';

// Health-driven choice with the embedded in-memory table: the first datacenter
// of the region's list that is up, else the fallback; never an empty answer.

const GD = '183.6.0.0/24';
const US = '8.8.8.0/24';
let s: TestServer;
let health: MemoryHealthTable;
const a = async (subnet: string, type = 'A'): Promise<string[]> =>
  (await dig(s.port, ['www.example.com', type, `+subnet=${subnet}`])).answer.map((r) => r[4]).sort();

before(async () => {
  s = await startServer();
  health = s.health as MemoryHealthTable;
});
after(async () => {
  await s.close();
});

test('a down datacenter is skipped: south goes to bj when gz is down', async () => {
  health.set('www.example.com', 'gz', false);
  try {
    assert.deepEqual(await a(GD), ['198.51.100.10']);
    assert.deepEqual(await a(GD, 'AAAA'), ['2001:db8:20::10']);
    assert.deepEqual(await a(US), ['203.0.113.10'], 'overseas is unaffected');
  } finally {
    health.set('www.example.com', 'gz', true);
  }
  assert.deepEqual(await a(GD), ['192.0.2.10']);
});

test('all datacenters down: fail-open to the first of the region list, never empty', async () => {
  for (const dc of ['gz', 'bj', 'sg']) health.set('www.example.com', dc, false);
  try {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.equal(r.status, 'NOERROR');
    assert.deepEqual(r.answer.map((x) => x[4]), ['192.0.2.10']);
    assert.deepEqual(await a(US), ['203.0.113.10']);
  } finally {
    for (const dc of ['gz', 'bj', 'sg']) health.set('www.example.com', dc, true);
  }
});

test('when only one datacenter is up for everyone, the answer is client-independent (scope 0)', async () => {
  health.set('www.example.com', 'gz', false);
  health.set('www.example.com', 'bj', false);
  try {
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((x) => x[4]), ['203.0.113.10']);
    assert.equal(r.ecs?.scope, 0);
  } finally {
    health.set('www.example.com', 'gz', true);
    health.set('www.example.com', 'bj', true);
  }
});

test('fallback "all" answers every datacenter when all are down', async () => {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('fallback: first', 'fallback: all');
  const s2 = await startServer({ mapText: text });
  try {
    const h = s2.health as MemoryHealthTable;
    for (const dc of ['gz', 'bj', 'sg']) h.set('www.example.com', dc, false);
    const r = await dig(s2.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((x) => x[4]).sort(), ['192.0.2.10', '198.51.100.10', '203.0.113.10']);
  } finally {
    await s2.close();
  }
});
