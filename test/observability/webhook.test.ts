import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_ALERTS_CONFIG, type AlertsConfig } from '../../src/config';
import { Registry, WebhookSender, type AlertEvent } from '../../src/observability';
import { parseProm, promValue } from '../helpers/prom';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';

// The alerts webhook against a real local HTTP receiver: delivery, retries
// with backoff, timeouts, a bounded queue, and never blocking the caller.

let rx: Receiver;
const event = (n: number): AlertEvent => ({ kind: 'verdict', at: new Date().toISOString(), server: 'ns1', service: 'www.example.org', dc: `dc${n}`, up: false, reason: 'test' });
const config = (over: Partial<AlertsConfig> = {}): AlertsConfig => ({ ...DEFAULT_ALERTS_CONFIG, webhook: rx.url, ...over });

before(async () => {
  rx = await startReceiver();
});
after(async () => {
  await rx.close();
});

function reset(): void {
  rx.events.length = 0;
  rx.attempts = 0;
  rx.respond = () => ({});
}

test('an event is POSTed as JSON and counted as sent', async () => {
  reset();
  const registry = new Registry();
  const w = new WebhookSender(config(), { registry });
  w.send(event(1));
  const got = await rx.waitFor(() => true);
  assert.equal(got.kind, 'verdict');
  assert.equal(got.dc, 'dc1');
  assert.equal(got.server, 'ns1');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(promValue(parseProm(await registry.metrics()), 'geosteer_alerts_webhook_total', { result: 'sent' }), 1);
  w.close();
});

test('send() returns at once, even while the receiver hangs', async () => {
  reset();
  rx.respond = () => ({ delayMs: 300 });
  const w = new WebhookSender(config());
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) w.send(event(i));
  assert.ok(performance.now() - t0 < 20, 'queued, not sent inline');
  await rx.waitFor((e) => e.dc === 'dc4', 5000);
  assert.deepEqual(rx.events.map((e) => e.dc), ['dc0', 'dc1', 'dc2', 'dc3', 'dc4'], 'in order, one at a time');
  w.close();
});

test('a 5xx is retried with backoff until it succeeds', async () => {
  reset();
  rx.respond = (n) => ({ status: n < 2 ? 503 : 204 });
  const w = new WebhookSender(config({ retries: 3 }), { backoffMs: 50 });
  const t0 = Date.now();
  w.send(event(1));
  await rx.waitFor(() => true);
  // The receiver has the event before the sender has read the 204: wait for the sender too.
  const end = Date.now() + 3000;
  while (w.totals.sent === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(rx.attempts, 3);
  assert.ok(Date.now() - t0 >= 50 + 100, 'waited 50 ms, then 100 ms');
  assert.deepEqual(w.totals, { sent: 1, retried: 2, failed: 0, dropped: 0 });
  w.close();
});

test('a timeout counts as a failed attempt; after the retries the event is given up', async () => {
  reset();
  rx.respond = () => ({ delayMs: 1000 });
  const w = new WebhookSender(config({ timeoutMs: 100, retries: 1 }), { backoffMs: 10 });
  w.send(event(1));
  const end = Date.now() + 3000;
  while (w.totals.failed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(w.totals, { sent: 0, retried: 1, failed: 1, dropped: 0 });
  assert.equal(rx.attempts, 2);
  w.close();
});

test('a 4xx is not retried: the receiver rejected the event', async () => {
  reset();
  rx.respond = () => ({ status: 400 });
  const w = new WebhookSender(config({ retries: 3 }), { backoffMs: 10 });
  w.send(event(1));
  const end = Date.now() + 2000;
  while (w.totals.failed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(rx.attempts, 1);
  assert.equal(w.totals.failed, 1);
  w.close();
});

test('the queue is bounded: when full the oldest events are dropped and counted', async () => {
  reset();
  rx.respond = () => ({ delayMs: 200 });
  const w = new WebhookSender(config({ queue: 2 }));
  for (let i = 0; i < 6; i++) w.send(event(i)); // dc0 goes out at once; dc1..dc5 compete for 2 places
  await rx.waitFor((e) => e.dc === 'dc5', 3000);
  assert.deepEqual(rx.events.map((e) => e.dc), ['dc0', 'dc4', 'dc5']);
  assert.equal(w.totals.dropped, 3);
  w.close();
});

test('an unreachable receiver costs nothing but failed attempts', async () => {
  const w = new WebhookSender(config({ webhook: 'http://127.0.0.1:1/hook', retries: 1 }), { backoffMs: 10 });
  w.send(event(1));
  const end = Date.now() + 3000;
  while (w.totals.failed === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.equal(w.totals.failed, 1);
  w.close();
});

test('without a webhook (or after a reload removed it) nothing is queued', () => {
  const w = new WebhookSender(DEFAULT_ALERTS_CONFIG);
  assert.equal(w.enabled, false);
  w.send(event(1));
  assert.equal(w.pending, 0);
  w.configure(config());
  assert.equal(w.enabled, true);
  w.configure(null);
  assert.equal(w.enabled, false);
  w.close();
});
