import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../src/common/errors';
import { formatIp } from '../../src/common/ip';
import { parseMapText } from '../../src/config/map-file';
import { DEFAULT_RRL_CONFIG } from '../../src/config/rrl-config';
import { DEFAULT_MAP } from '../helpers/server';

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');
const withRrl = (block: string): string => SAMPLE.replace('  id: ns1.example.com\n', `  id: ns1.example.com\n  rrl:${block}\n`);

function issues(text: string): ConfigIssue[] {
  try {
    parseMapText(text, '/tmp/rrl-map.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues;
  }
  assert.fail('expected the map to be refused');
}

describe('server.rrl in the map file', () => {
  it('is on by default with the documented numbers, loopback exempt', () => {
    const rrl = parseMapText(SAMPLE, '/tmp/m.yaml').server.rrl;
    assert.deepEqual(rrl, DEFAULT_RRL_CONFIG);
    assert.equal(rrl?.responsesPerSecond, 200);
    assert.deepEqual(rrl?.exempt.map((c) => `${formatIp(c.bytes)}/${c.prefix}`), ['127.0.0.0/8', '::1/128']);
  });

  it('`off` or false turns it off, `on` keeps the defaults', () => {
    assert.equal(parseMapText(withRrl(' off'), '/tmp/m.yaml').server.rrl, null);
    assert.equal(parseMapText(withRrl(' false'), '/tmp/m.yaml').server.rrl, null);
    assert.deepEqual(parseMapText(withRrl(' on'), '/tmp/m.yaml').server.rrl, DEFAULT_RRL_CONFIG);
  });

  it('reads every key', () => {
    const rrl = parseMapText(
      withRrl(
        '\n    responses_per_second: 50\n    errors_per_second: 7\n    window: 5\n    slip: 0\n    ipv4_prefix: 22\n    ipv6_prefix: 48\n    exempt: [192.0.2.0/24, "::ffff:198.51.100.0/120"]\n    log_only: true\n    table_size: 4096',
      ),
      '/tmp/m.yaml',
    ).server.rrl;
    assert.ok(rrl);
    assert.deepEqual(
      { ...rrl, exempt: rrl.exempt.map((c) => `${formatIp(c.bytes)}/${c.prefix}`) },
      { responsesPerSecond: 50, errorsPerSecond: 7, window: 5, slip: 0, ipv4Prefix: 22, ipv6Prefix: 48, exempt: ['192.0.2.0/24', '198.51.100.0/24'], logOnly: true, tableSize: 4096 },
    );
  });

  it('reports each bad value at its line with the path', () => {
    const text = withRrl('\n    slip: 11\n    ipv6_prefix: 96\n    exempt: [300.1.1.1]\n    burst: 3\n    responses_per_second: fast');
    const got = issues(text).map((i) => `${i.line}: ${i.path}`);
    const line = (needle: string): number => text.slice(0, text.indexOf(needle)).split('\n').length;
    assert.deepEqual(got.sort(), [
      `${line('slip: 11')}: server.rrl.slip`,
      `${line('ipv6_prefix: 96')}: server.rrl.ipv6_prefix`,
      `${line('exempt: [300')}: server.rrl.exempt[0]`,
      `${line('burst: 3')}: server.rrl.burst`,
      `${line('responses_per_second: fast')}: server.rrl.responses_per_second`,
    ].sort());
  });
});
