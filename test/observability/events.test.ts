import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseMapText } from '../../src/config';
import { HealthMirror, MemoryStore } from '../../src/health';
import { HealthEvents, type HealthEventInput } from '../../src/observability';

// State changes out of the mirror: drains, primary moves, verdict flips; nothing for the state found at start.

const MAP = `
datacenters: { gz: {}, bj: {} }
regions:
  all: { default: true, datacenters: [gz, bj] }
zones:
  example.org:
    soa: { mname: ns1.example.org, rname: hostmaster.example.org, serial: 1, refresh: 1h, retry: 10m, expire: 14d, minimum: 5m }
    ns: [ns1.example.org]
    records: |
      ns1 A 192.0.2.53
services:
  db.example.org:
    policy: primary
    primary: gz
    datacenters:
      gz: { a: [192.0.2.1] }
      bj: { a: [198.51.100.1] }
`;

async function setup(prepare?: (store: MemoryStore) => Promise<void>): Promise<{ store: MemoryStore; mirror: HealthMirror; events: HealthEventInput[]; stop(): void; he: HealthEvents }> {
  const store = new MemoryStore();
  await prepare?.(store);
  const mirror = new HealthMirror(store, { tickMs: 50 });
  const he = new HealthEvents(mirror);
  const events: HealthEventInput[] = [];
  he.on('event', (e: HealthEventInput) => events.push(e));
  await mirror.start();
  const map = parseMapText(MAP, 'map.yaml');
  he.useMap(() => map);
  return { store, mirror, events, he, stop: () => mirror.stop() };
}

const settle = (ms = 30): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('drains and pointers present at start are not reported', async () => {
  const t = await setup(async (store) => {
    await store.setDrain({ dc: 'bj', service: '*', forMs: 60_000, reason: 'old', by: 'ops' });
    await store.setPrimary({ service: 'db.example.org', dc: 'bj', epoch: 3, by: 'probe-a', reason: 'gz down 30s' });
  });
  await settle();
  assert.deepEqual(t.events, []);
  assert.equal(t.he.primaryChanges, 0);
  t.stop();
});

test('a primary pointer move is one failover event, with where it came from', async () => {
  const t = await setup();
  await t.store.setPrimary({ service: 'db.example.org', dc: 'bj', epoch: 1, by: 'probe-a', reason: 'gz down for 30s' });
  await settle();
  assert.equal(t.events.length, 1);
  assert.deepEqual({ ...t.events[0], detail: undefined }, { kind: 'failover', service: 'db.example.org', dc: 'bj', from: 'gz', reason: 'gz down for 30s (by probe-a, epoch 1)', detail: undefined });
  assert.equal(t.he.primaryChanges, 1);
  await t.store.setPrimary({ service: 'db.example.org', dc: 'bj', epoch: 1, by: 'probe-a', reason: 'again' });
  await settle();
  assert.equal(t.he.primaryChanges, 1, 'the same primary written again is no change');
  t.stop();
});

test('a drain appears, then expires: two events', async () => {
  const t = await setup();
  await t.store.setDrain({ dc: 'gz', service: 'db.example.org', forMs: 150, reason: 'router swap', by: 'ops' });
  await settle();
  assert.deepEqual(t.events.map((e) => [e.kind, e.dc]), [['drain', 'gz']]);
  assert.match(t.events[0].reason, /^router swap \(by ops, until /);
  await settle(300);
  assert.deepEqual(t.events.map((e) => e.kind), ['drain', 'undrain']);
  assert.match(t.events[1].reason, /^drain expired \(was: router swap\)/);
  t.stop();
});

test('a verdict flip is an event with the votes as reason', async () => {
  const t = await setup();
  await t.store.writeVote({ prober: 'p1', service: 'db.example.org', dc: 'gz', up: false, ttlMs: 60_000, detail: 'ECONNREFUSED', latencyMs: 1 });
  await settle();
  assert.equal(t.events.length, 1);
  assert.equal(t.events[0].kind, 'verdict');
  assert.equal(t.events[0].up, false);
  assert.match(t.events[0].reason, /1\/1 fresh votes down: p1: down \(ECONNREFUSED\)/);
  t.stop();
});

test('a promotion by this process\'s leader is its own event', async () => {
  const t = await setup();
  t.he.promoted({ service: 'db.example.org', from: 'gz', to: 'bj', epoch: 2, reason: 'gz down' });
  assert.deepEqual(t.events[0], { kind: 'promotion', service: 'db.example.org', dc: 'bj', from: 'gz', reason: 'gz down', detail: { epoch: 2 } });
  t.stop();
});
