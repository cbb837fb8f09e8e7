import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { parseMapText } from '../../src/config';
import { DEFAULT_MAP } from '../helpers/server';

// The map's `alerts:` block: optional, independent of health: and server:.

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');
const withAlerts = (block: string): string => `${SAMPLE}\nalerts:\n${block}`;

test('without an alerts block there is no webhook', () => {
  const map = parseMapText(SAMPLE, 'map.yaml');
  assert.deepEqual(map.alerts, { webhook: null, timeoutMs: 2000, retries: 3, queue: 100 });
});

test('webhook, timeout, retries and queue are read', () => {
  const map = parseMapText(withAlerts('  webhook: https://hooks.example.org/geosteer\n  timeout: 500ms\n  retries: 5\n  queue: 10\n'), 'map.yaml');
  assert.deepEqual(map.alerts, { webhook: 'https://hooks.example.org/geosteer', timeoutMs: 500, retries: 5, queue: 10 });
});

test('a bare timeout number means seconds', () => {
  assert.equal(parseMapText(withAlerts('  webhook: http://example.org/\n  timeout: 5\n'), 'map.yaml').alerts.timeoutMs, 5000);
});

for (const [block, message] of [
  ['  webhook: ftp://example.org/x\n', /alerts\.webhook: webhook must be an http:\/\/ or https:\/\/ URL, not "ftp:\/\/example.org\/x"/],
  ['  webhook: not a url\n', /alerts\.webhook: webhook must be an http/],
  ['  webhook: http://example.org/\n  timeout: 2 minutes\n', /alerts\.timeout: timeout must be a duration from 100ms to 60s/],
  ['  webhook: http://example.org/\n  timeout: 90s\n', /alerts\.timeout: timeout must be a duration from 100ms to 60s/],
  ['  webhook: http://example.org/\n  retries: 11\n', /alerts\.retries: 11 is out of range 0\.\.10/],
  ['  webhook: http://example.org/\n  queue: 0\n', /alerts\.queue: 0 is out of range 1\.\.10000/],
  ['  hook: http://example.org/\n', /alerts\.hook: unknown key "hook" \(allowed: webhook, timeout, retries, queue\)/],
] as const) {
  test(`alerts block ${JSON.stringify(block.trim())}: ${message.source.slice(0, 40)}`, () => {
    let msg = '';
    try {
      parseMapText(withAlerts(block), 'map.yaml');
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      msg = e.message;
    }
    assert.match(msg, message);
    if (msg) assert.match(msg, /map\.yaml:\d+:\d+/, 'points at file:line:col');
  });
}
