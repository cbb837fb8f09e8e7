import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { GeoDatabase } from '../../src/geo';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer } from '../helpers/server';

// The MMDB named in the map is replaced (by rename, as deploy tools do) while
// the server runs: a broken file is refused and the old data keeps serving; a
// good one is picked up without a restart.

const GD = '183.6.0.0/24';

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

test('a replaced GeoIP database is used without restart; a broken one is rejected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-geo-'));
  const db = join(dir, 'geo.mmdb');
  copyFileSync(GeoDatabase.geoLite2Path(), db);
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace('database: default', `database: ${db}`);
  const s = await startServer({ mapText: text, geoPollMs: 100 });
  try {
    const answer = async (): Promise<string> => (await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`])).answer[0]?.[4] ?? '';
    assert.equal(await answer(), '192.0.2.10', 'Guangdong -> south -> gz');

    // Garbage renamed over the file: refused, answers unchanged.
    writeFileSync(join(dir, 'tmp1'), Buffer.alloc(4096, 7));
    renameSync(join(dir, 'tmp1'), db);
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(await answer(), '192.0.2.10');

    // The Country database has no subdivisions: Guangdong becomes plain CN -> north -> bj.
    const country = join(dirname(GeoDatabase.geoLite2Path()), 'GeoLite2-Country.mmdb');
    copyFileSync(country, join(dir, 'tmp2'));
    renameSync(join(dir, 'tmp2'), db);
    assert.ok(await until(async () => (await answer()) === '198.51.100.10', 5000), 'new database picked up');
  } finally {
    await s.close();
  }
});
