import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { cliEnv, runCli, showRun, type CliRun } from '../helpers/cli';
import { redisAvailable, TestRedis } from '../helpers/redis';
import { mapWithPrimaryService, startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// Recovery of the shared state: `geosteer state export/import` (fenced) and `geosteer recover`
// after a Redis restarted empty, from what the serve hosts still hold (their /api/state).

const skip = redisAvailable() ? false : 'redis-server not installed';
const SVC = 'www.example.com';
const DB = 'db.example.com';
const GD = '183.6.0.0/24'; // south: gz first, then bj
const ADDR = { gz: '192.0.2.50', bj: '198.51.100.50', sg: '203.0.113.50' };

let redis: TestRedis;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-recover-'));
// recover's default sources include $TMPDIR/geosteer-*-health.json: an empty one here, so other tests' files never count.
const emptyTmp = mkdtempSync(join(tmpdir(), 'geosteer-recover-tmp-'));
const servers: TestServer[] = [];
const map = join(dir, 'map.yaml');

before(async () => {
  if (skip) return;
  redis = await TestRedis.start(); // no persistence: a restart comes back empty
  writeFileSync(map, mapWithPrimaryService(DB, ADDR));
});
after(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
  rmSync(emptyTmp, { recursive: true, force: true });
});

let prefixN = 0;
const prefix = (): string => `rc${++prefixN}:`;
const cli = (args: string[], p: string): Promise<CliRun> =>
  runCli([...args, '--redis', redis.url, '--redis-prefix', p], { timeoutMs: 30_000, env: cliEnv({ TMPDIR: emptyTmp }) });

interface Status {
  drains: Array<{ dc: string; service: string; reason: string }>;
  primaries: Array<{ service: string; dc: string; epoch: number }>;
  published: { current: number | null };
}
const status = async (p: string): Promise<Status> => {
  const r = await cli(['status', '--json'], p);
  assert.equal(r.code, 0, showRun(r));
  return JSON.parse(r.stdout) as Status;
};

async function answer(s: TestServer, name: string): Promise<string> {
  const r = await dig(s.port, [name, 'A', `+subnet=${GD}`]);
  return r.answer.map((x) => x[4]).join(',');
}

test('state export writes the whole table; import into an empty one restores it, fenced, and is idempotent', { skip }, async () => {
  const p = prefix();
  assert.equal((await cli(['publish', map, '--reason', 'v1'], p)).code, 0);
  assert.equal((await cli(['drain', 'gz', '--service', SVC, '--for', '30m', '--reason', 'maintenance', '--by', 'ops'], p)).code, 0);
  assert.equal((await cli(['drain', 'sg', '--for', '1s', '--reason', 'short', '--by', 'ops'], p)).code, 0);
  assert.equal((await cli(['promote', DB, 'gz', '--config', map, '--reason', 'bj failing', '--by', 'ops'], p)).code, 0);
  const file = join(dir, 'state.json');
  let r = await cli(['state', 'export', file], p);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stderr, /exported 2 drains, 1 pointer, map version 1 \(current 1\)/);
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { geosteer: string; maps: { versions: Array<{ bundle: { text: string } }> }; audit: unknown[] };
  assert.equal(doc.geosteer, 'state');
  assert.ok(doc.maps.versions[0].bundle.text.includes(DB), 'the map content travels in the export');
  assert.ok(doc.audit.length >= 4, 'the audit log too');
  await new Promise((res) => setTimeout(res, 1100)); // the 1 s drain has expired now

  // Into an empty table (another prefix): a dry run writes nothing.
  const q = prefix();
  r = await cli(['state', 'import', file, '--dry-run'], q);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /would write\s+drain\s+www\.example\.com\|gz/);
  assert.match(r.stdout, /skip: expired\s+drain\s+\*\|sg/);
  assert.match(r.stdout, /would write\s+map current\s+1/);
  let st = await status(q);
  assert.deepEqual([st.drains.length, st.primaries.length, st.published.current], [0, 0, null], 'dry run: nothing written');

  r = await cli(['state', 'import', file], q);
  assert.equal(r.code, 0, showRun(r));
  st = await status(q);
  assert.deepEqual(st.drains.map((d) => [d.dc, d.service, d.reason]), [['gz', SVC, 'maintenance']]);
  assert.deepEqual(st.primaries.map((x) => [x.service, x.dc]), [[DB, 'gz']]);
  assert.equal(st.published.current, 1);
  r = await cli(['history', '--json'], q);
  assert.deepEqual((JSON.parse(r.stdout) as { versions: Array<{ reason: string }> }).versions.map((v) => v.reason), ['v1']);

  // Again: everything is there already, nothing is written.
  r = await cli(['state', 'import', file], q);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /^0 written/m);

  // Fenced: a pointer written after the export is never rolled back by importing it.
  assert.equal((await cli(['promote', DB, 'sg', '--config', map, '--reason', 'later'], q)).code, 0);
  r = await cli(['state', 'import', file], q);
  assert.match(r.stdout, /skip: the table holds a pointer written as late or later \(sg\)\s+primary\s+db\.example\.com/, showRun(r));
  st = await status(q);
  assert.deepEqual(st.primaries.map((x) => x.dc), ['sg']);

  // A file that is not a state document: exit 1, the reason, nothing written.
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ geosteer: 'state', format: 1, drains: [{ dc: 'gz' }] }));
  r = await cli(['state', 'import', bad], prefix());
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /bad\.json: drains\[0\]/);
});

test('Redis restarted empty: the serves keep the drain and the pointer, recover puts them and the published map back', { skip }, async (t) => {
  const p = prefix();
  assert.equal((await cli(['publish', map, '--reason', 'v1'], p)).code, 0);
  for (const id of ['ns1', 'ns2']) {
    servers.push(
      await startServer({
        mapSource: 'published',
        redis: redis.options(p),
        proberId: id,
        probe: false,
        snapshotPath: join(dir, `geosteer-${id}-health.json`),
        fleetIntervalMs: 200,
        metricsListen: '127.0.0.1:0',
      }),
    );
  }
  const [a, b] = servers;
  assert.equal((await cli(['drain', 'gz', '--service', SVC, '--for', '30m', '--reason', 'maintenance'], p)).code, 0);
  assert.equal((await cli(['promote', DB, 'sg', '--config', map, '--reason', 'bj failing'], p)).code, 0);
  const want = { www: '198.51.100.10', db: ADDR.sg };
  for (const s of [a, b]) await until('drain and pointer served', async () => (await answer(s, SVC)) === want.www && (await answer(s, DB)) === want.db, 5000);

  await redis.kill();
  await redis.restart();
  await until('both serves saw the loss', () => a.mirror.lostState() !== null && b.mirror.lostState() !== null, 15_000);
  // Fail-static: what Redis lost is still in effect on every serve.
  for (const s of [a, b]) {
    assert.equal(await answer(s, SVC), want.www);
    assert.equal(await answer(s, DB), want.db);
  }
  const lost = await (await fetch(`http://127.0.0.1:${a.admin?.port ?? 0}/metrics`)).text();
  assert.match(lost, /geosteer_health_store_lost_entries\{part="drains"\} 1/);
  assert.match(lost, /geosteer_health_store_lost_entries\{part="primary"\} 1/);
  await until('the serves registered again', async () => (await cli(['status', '--json'], p)).stdout.includes('"ns2"'), 10_000);

  let r = await cli(['recover', '--dry-run'], p);
  assert.equal(r.code, 0, showRun(r));
  t.diagnostic(r.stdout);
  assert.match(r.stdout, /use\s+serve ns1 at http:\/\/127\.0\.0\.1:\d+\/api\/state: 1 drain, 1 pointer, map version 1 \(current 1\)/);
  assert.match(r.stdout, /use\s+serve ns2 at /);
  assert.match(r.stdout, /would write\s+drain\s+www\.example\.com\|gz/);
  assert.match(r.stdout, /would write\s+primary\s+db\.example\.com\s+\(-> sg/);
  assert.match(r.stdout, /would write\s+map current\s+1/);
  let st = await status(p);
  assert.deepEqual([st.drains.length, st.primaries.length, st.published.current], [0, 0, null], 'dry run: nothing written');

  const t0 = Date.now();
  r = await cli(['recover'], p);
  assert.equal(r.code, 0, showRun(r));
  t.diagnostic(`recover ran in ${Date.now() - t0} ms`);
  st = await status(p);
  assert.deepEqual(st.drains.map((d) => [d.dc, d.service, d.reason]), [['gz', SVC, 'maintenance']]);
  assert.deepEqual(st.primaries.map((x) => [x.service, x.dc]), [[DB, 'sg']]);
  assert.equal(st.published.current, 1);
  await until('nothing lost any more', () => a.mirror.lostState() === null && b.mirror.lostState() === null, 5000);
  for (const s of [a, b]) {
    assert.equal(await answer(s, SVC), want.www);
    assert.equal(await answer(s, DB), want.db);
  }
  // Run twice: nothing more to write.
  r = await cli(['recover'], p);
  assert.match(r.stdout, /^0 written/m, showRun(r));
  // And the fleet follows a new publish again.
  const v2 = join(dir, 'map2.yaml');
  writeFileSync(v2, readFileSync(map, 'utf8').replace(`sg: { a: [${ADDR.sg}] }`, 'sg: { a: [203.0.113.51] }'));
  r = await cli(['publish', v2], p);
  assert.match(r.stdout, /as version 2 .*current was 1/, showRun(r));
  for (const s of [a, b]) await until('v2 served', async () => (await answer(s, DB)) === '203.0.113.51', 5000);
});

test('recover with no usable source says so and writes nothing (exit 1)', { skip }, async () => {
  const r = await cli(['recover', '--from', join(dir, 'nothing-here.json')], prefix());
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stdout, /skip\s+.*nothing-here\.json: ENOENT/);
  assert.match(r.stderr, /no usable source/);
});
