import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { parseMapText, type MapConfig } from '../../src/config/map-file';

// The map file's health keys: `health:`, a service's `check:` and the primary policy.

const ROOT = resolve(__dirname, '../../..');
const DEMO = readFileSync(join(ROOT, 'geodata/demo.yaml'), 'utf8');
const SAMPLE = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');

function load(text: string): MapConfig {
  return parseMapText(text, 'map.yaml');
}

/** The issues of a rejected map, one line each. */
function issues(text: string): string[] {
  try {
    parseMapText(text, 'map.yaml');
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
    throw e;
  }
  assert.fail('expected the map to be rejected');
}

/** The sample map with `lines` appended inside the www.example.com service. */
function withService(lines: string): string {
  return SAMPLE.replace('    fallback: first\n', `    fallback: first\n${lines}\n`);
}

describe('health block and checks', () => {
  test('the demo map loads with its checks, targets and primary policy', () => {
    const m = load(DEMO);
    assert.equal(m.health.quorum, 'majority');
    assert.equal(m.health.failoverTtl, 30);
    const www = m.services.find((s) => s.name === 'www.example.com');
    assert.ok(www?.check && www.check.type === 'http');
    assert.deepEqual([www.check.intervalMs, www.check.timeoutMs, www.check.fall, www.check.rise], [2000, 1000, 3, 2]);
    assert.deepEqual(www.checkTargets[0], [{ address: '127.0.0.1', port: 8081 }]);
    const db = m.services.find((s) => s.name === 'db.example.com');
    assert.equal(db?.policy, 'primary');
    assert.equal(m.datacenters[db.primary].name, 'bj');
    assert.deepEqual(db.standbys.map((i) => m.datacenters[i].name), ['gz', 'sg']);
    assert.equal(db.holdDownMs, 10_000);
  });

  test('check defaults: every address of each datacenter on the type\'s port, 5s/2s/3/2, status 200-399', () => {
    const m = load(withService('    check: { type: http }'));
    const c = m.services[0].check;
    assert.ok(c && c.type === 'http');
    assert.deepEqual([c.port, c.path, c.method, c.intervalMs, c.timeoutMs, c.fall, c.rise], [80, '/', 'GET', 5000, 2000, 3, 2]);
    assert.deepEqual(c.expectStatus, [[200, 399]]);
    assert.deepEqual(m.services[0].checkTargets[0], [
      { address: '192.0.2.10', port: 80 },
      { address: '2001:db8:10::10', port: 80 },
    ]);
  });

  test('rejects an unknown check type', () => {
    assert.match(issues(withService('    check: { type: icmp }')).join('\n'), /check type must be http, https, tcp or dns/);
  });

  test('rejects a check without a type', () => {
    assert.match(issues(withService('    check: { port: 80 }')).join('\n'), /type: missing/);
  });

  test('rejects a timeout that is not shorter than the interval', () => {
    assert.match(issues(withService('    check: { type: tcp, port: 22, interval: 1s, timeout: 1s }')).join('\n'), /shorter than interval/);
  });

  test('rejects a tcp check without a port', () => {
    assert.match(issues(withService('    check: { type: tcp }')).join('\n'), /tcp checks need a port/);
  });

  test('rejects keys that do not apply to the check type', () => {
    assert.match(issues(withService('    check: { type: tcp, port: 22, path: /x }')).join('\n'), /"path" does not apply to tcp checks/);
  });

  test('rejects bad expect_status entries and a body on HEAD', () => {
    const out = issues(withService('    check: { type: http, method: HEAD, body: ok, expect_status: [200, 99, "300-200"] }')).join('\n');
    assert.match(out, /"99" is not a status code/);
    assert.match(out, /"300-200" is not a status code/);
    assert.match(out, /HEAD check has no body/);
  });

  test('rejects check targets in unknown datacenters and bad target addresses', () => {
    const out = issues(withService('    check: { type: tcp, port: 22, targets: { xx: "127.0.0.1:1", gz: "not-an-ip" } }')).join('\n');
    assert.match(out, /unknown datacenter "xx"/);
    assert.match(out, /"not-an-ip" is not ADDRESS/);
  });

  test('rejects a bad quorum and unknown health keys', () => {
    const out = issues(SAMPLE.replace('datacenters:\n', 'health:\n  quorum: most\n  ttl: 5s\ndatacenters:\n')).join('\n');
    assert.match(out, /quorum must be "majority" or a number/);
    assert.match(out, /unknown key "ttl"/);
  });

  test('policy primary needs a primary that is one of the service\'s datacenters', () => {
    assert.match(issues(withService('    policy: primary')).join('\n'), /policy primary needs "primary: DC"/);
    assert.match(issues(withService('    policy: primary\n    primary: xx')).join('\n'), /"xx" is not one of this service's datacenters/);
  });

  test('primary/standbys without policy primary are rejected, as is a standby listed twice', () => {
    assert.match(issues(withService('    primary: bj')).join('\n'), /need "policy: primary"/);
    assert.match(issues(withService('    policy: primary\n    primary: bj\n    standbys: [gz, gz]')).join('\n'), /listed twice/);
  });

  test('dns checks default to the service name, type A, NOERROR with an answer', () => {
    const c = load(withService('    check: { type: dns }')).services[0].check;
    assert.ok(c && c.type === 'dns');
    assert.deepEqual([c.port, c.name, c.qtype, c.expectRcode, c.requireAnswer], [53, 'www.example.com', 1, 0, true]);
  });
});
