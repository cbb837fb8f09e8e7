import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { parseMapText } from '../../src/config/map-file';

// The map's `limits:` block: defaults, accepted forms and refusals.

const SAMPLE = readFileSync(join(resolve(__dirname, '../../..'), 'geodata/map.yaml'), 'utf8');

function issues(limits: string): string[] {
  try {
    parseMapText(`limits: ${limits}\n${SAMPLE}`, 'map.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail('expected the map to be rejected');
}

test('without a limits block: 512 MB zone files and 1,000,000 records per zone', () => {
  assert.deepEqual(parseMapText(SAMPLE, 'map.yaml').limits, { zoneFileBytes: 512e6, zoneRecords: 1_000_000 });
});

test('zone_file_bytes takes bytes or units, zone_records an integer', () => {
  const m = parseMapText(`limits: { zone_file_bytes: 64MiB, zone_records: 2000000 }\n${SAMPLE}`, 'map.yaml');
  assert.deepEqual(m.limits, { zoneFileBytes: 64 * 1024 * 1024, zoneRecords: 2_000_000 });
});

test('bad limits are map errors with their path', () => {
  assert.deepEqual(issues('{ zone_records: 0 }'), ['limits.zone_records: 0 is out of range 1..10000000']);
  assert.deepEqual(issues('{ zone_records: many }'), ['limits.zone_records: expected an integer, found string "many"']);
  assert.deepEqual(issues('{ zone_file_bytes: 1TB }'), ['limits.zone_file_bytes: expected a size from 1 byte to 536870888 bytes, such as 512MB, 64MiB or 1000000']);
  assert.match(issues('{ map_file_bytes: 1MB }')[0], /^limits\.map_file_bytes: unknown key "map_file_bytes" \(allowed: zone_file_bytes, zone_records\)$/);
});
