import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { readMapBundle } from '../../src/config';
import { GeoDatabase } from '../../src/geo';
import { FleetStore } from '../../src/health';
import { dig } from '../helpers/dig';
import { runCli, showRun, type CliRun } from '../helpers/cli';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// One published map for the fleet: publish / history / rollback / check --against current, and
// `serve` hosts started with only the shared table that follow it, refuse what they cannot load,
// restart from their disk copy while Redis is unreachable, and register themselves.

const skip = redisAvailable() ? false : 'redis-server not installed';
const SVC = 'www.example.com';
const GD = '183.6.0.0/24'; // south: gz first
const GZ = '192.0.2.10';

let redis: TestRedis;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-fleet-'));
const servers: TestServer[] = [];

before(async () => {
  if (!skip) redis = await TestRedis.start();
});
after(async () => {
  for (const s of servers) await s.close().catch(() => undefined);
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

let prefixN = 0;
/** Each test its own key prefix, so they share one Redis without seeing each other. */
const prefix = (): string => `fl${++prefixN}:`;
const cli = (args: string[], p: string): Promise<CliRun> => runCli([...args, '--redis', redis.url, '--redis-prefix', p], { timeoutMs: 30_000 });

/** The sample map with gz's www address replaced (a visible difference between versions). */
function mapWith(gzAddress: string, extra = ''): string {
  const text = readFileSync(DEFAULT_MAP, 'utf8').replace(`gz: { a: [${GZ}]`, `gz: { a: [${gzAddress}]`);
  assert.ok(text.includes(gzAddress), 'the sample map changed shape: fix mapWith');
  const file = join(dir, `map-${gzAddress}-${prefixN}-${Math.random().toString(36).slice(2, 6)}.yaml`);
  writeFileSync(file, text + extra);
  return file;
}

async function gzAnswer(s: TestServer): Promise<string> {
  const r = await dig(s.port, [SVC, 'A', `+subnet=${GD}`]);
  return r.answer.map((x) => x[4]).join(',');
}

async function publishedServer(p: string, id: string, stateFile = join(dir, `${id}-${p.replace(':', '')}-health.json`), port?: number): Promise<TestServer> {
  const s = await startServer({
    mapSource: 'published',
    redis: redis.options(p),
    proberId: id,
    probe: false,
    snapshotPath: stateFile,
    fleetIntervalMs: 200,
    listen: [`127.0.0.1:${port ?? 0}`],
  });
  servers.push(s);
  return s;
}

test('publish validates like check, stores a version, and is a no-op for what is already current; history and rollback', { skip }, async () => {
  const p = prefix();
  const v1 = mapWith('192.0.2.21');
  let r = await cli(['publish', v1, '--reason', 'first cut', '--by', 'alice'], p);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /as version 1 .*current was \(none\)/);
  r = await cli(['publish', v1], p);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /already current as version 1/);

  // A map check rejects is not stored: the current version stays.
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, readFileSync(v1, 'utf8').replace('datacenters: [gz, bj, sg]', 'datacenters: [gz, nowhere, sg]'));
  r = await cli(['publish', bad], p);
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /nowhere/);

  const v2 = mapWith('192.0.2.22');
  r = await cli(['publish', v2, '--reason', 'move gz'], p);
  assert.match(r.stdout, /as version 2 .*current was 1/, showRun(r));

  r = await cli(['history', '--json'], p);
  const h = JSON.parse(r.stdout) as { current: number; versions: Array<{ version: number; by: string; reason: string }> };
  assert.equal(h.current, 2);
  assert.deepEqual(h.versions.map((v) => [v.version, v.reason]), [[2, 'move gz'], [1, 'first cut']]);
  assert.equal(h.versions[1].by, 'alice');
  r = await cli(['history'], p);
  assert.match(r.stdout, /^\*\s+2\s/m, showRun(r));

  // check --against current diffs FILE with what is published.
  r = await cli(['check', v1, '--against', 'current'], p);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /against published version 2/);
  assert.match(r.stdout, /192\.0\.2\.22|gz/);

  r = await cli(['rollback', '--reason', 'bad move'], p);
  assert.equal(r.code, 0, showRun(r));
  assert.match(r.stdout, /current is now version 1 .*was 2/);
  r = await cli(['rollback', '9'], p);
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /version 9 is not stored/);
  r = await cli(['status', '--json'], p);
  const st = JSON.parse(r.stdout) as { published: { current: number }; audit: Array<{ action: string; version: number; reason: string }> };
  assert.equal(st.published.current, 1);
  assert.deepEqual(st.audit.slice(0, 3).map((a) => [a.action, a.version]), [['rollback', 1], ['publish', 2], ['publish', 1]]);

  // --keep trims the oldest versions.
  for (const a of ['192.0.2.31', '192.0.2.32', '192.0.2.33']) assert.equal((await cli(['publish', mapWith(a), '--keep', '2'], p)).code, 0);
  r = await cli(['history', '--json'], p);
  assert.deepEqual((JSON.parse(r.stdout) as typeof h).versions.map((v) => v.version), [5, 4]);
});

test('two serves with only the shared table follow publish and rollback; a version one host cannot load is refused there', { skip }, async () => {
  const p = prefix();
  assert.equal((await cli(['publish', mapWith('192.0.2.41')], p)).code, 0);
  const [a, b] = [await publishedServer(p, 'ns-a'), await publishedServer(p, 'ns-b')];
  assert.equal(await gzAnswer(a), '192.0.2.41');
  assert.equal(await gzAnswer(b), '192.0.2.41');
  // id.server names the host, not the map's server.id: every host runs the same map.
  assert.deepEqual((await dig(a.port, ['id.server', 'TXT', 'CH'])).answer.map((x) => x[4]), ['"ns-a"']);

  const t0 = Date.now();
  assert.equal((await cli(['publish', mapWith('192.0.2.42')], p)).code, 0);
  const t1 = Date.now();
  await until('both serve version 2', async () => (await gzAnswer(a)) === '192.0.2.42' && (await gzAnswer(b)) === '192.0.2.42', 10_000, 20);
  console.log(`# publish -> both hosts answer the new version: ${Date.now() - t1} ms after the publish command returned (${Date.now() - t0} ms with it)`);

  assert.equal((await cli(['rollback'], p)).code, 0);
  await until('both back on version 1', async () => (await gzAnswer(a)) === '192.0.2.41' && (await gzAnswer(b)) === '192.0.2.41', 10_000, 20);

  // A map whose GeoIP database exists where it was published but not on these hosts.
  const mmdb = join(dir, 'city.mmdb');
  copyFileSync(GeoDatabase.geoLite2Path(), mmdb);
  const v3 = mapWith('192.0.2.43', '');
  writeFileSync(v3, readFileSync(v3, 'utf8').replace('database: default', `database: ${mmdb}`));
  // Published as `geosteer publish` does on a host that has the file (bundle read and checked there)...
  const { bundle } = readMapBundle(v3);
  GeoDatabase.open(mmdb);
  // ...and these hosts lack it.
  rmSync(mmdb);
  const fleet = new FleetStore(redis.options(p));
  await fleet.whenReady();
  assert.equal((await fleet.publish(bundle, { by: 'test', reason: 'database only on the publisher' })).version, 3);
  await fleet.close();
  await until('host a refuses version 3', () => a.fleet?.view().refused?.version === 3, 10_000);
  assert.match(a.fleet?.view().refused?.message ?? '', /city\.mmdb/);
  assert.equal(await gzAnswer(a), '192.0.2.41', 'the last good map keeps serving');
  const metrics = await fetchMetrics(a);
  assert.match(metrics, /^geosteer_fleet_map_rejected_total 1$/m);
  assert.match(metrics, /^geosteer_fleet_map_version\{which="serving"\} 1$/m);
  assert.match(metrics, /^geosteer_fleet_map_version\{which="current"\} 3$/m);
  assert.match(metrics, /^geosteer_fleet_hosts\{state="alive"\} 2$/m);

  // geosteer status shows every host, its version and the refusal.
  const r = await until('status lists both hosts with the refusal', async () => {
    const s = await cli(['status'], p);
    return /ns-a\s+serving\s+v1 /.test(s.stdout) && /ns-b\s+serving\s+v1 /.test(s.stdout) && /ns-a refused published version 3: .*city\.mmdb/.test(s.stdout) ? s : null;
  }, 10_000, 200);
  assert.match(r.stdout, /published map: version 3/);
});

async function fetchMetrics(s: TestServer): Promise<string> {
  // The in-process server has no admin port here: read the registry it writes to.
  return s.metrics.registry.metrics();
}

test('a host restarted while Redis is unreachable serves its disk copy of the last published map', { skip }, async () => {
  const p = prefix();
  assert.equal((await cli(['publish', mapWith('192.0.2.51')], p)).code, 0);
  const state = join(dir, 'ns-c-health.json');
  const first = await publishedServer(p, 'ns-c', state);
  assert.equal(await gzAnswer(first), '192.0.2.51');
  assert.equal((await cli(['publish', mapWith('192.0.2.52')], p)).code, 0);
  await until('ns-c on version 2', async () => (await gzAnswer(first)) === '192.0.2.52', 10_000);
  await until('disk copy holds version 2', () => existsSync(join(dir, 'ns-c-map.json')) && (JSON.parse(readFileSync(join(dir, 'ns-c-map.json'), 'utf8')) as { version: number }).version === 2);
  await first.close();
  servers.splice(servers.indexOf(first), 1);

  // Same state file, Redis nowhere (a port nothing listens on).
  const dead = await freePort();
  const s = await startServer({
    mapSource: 'published',
    redis: { ...redis.options(p), port: dead },
    proberId: 'ns-c',
    probe: false,
    snapshotPath: state,
    fleetIntervalMs: 200,
  });
  servers.push(s);
  assert.equal(await gzAnswer(s), '192.0.2.52');
  assert.equal(s.fleet?.view().servingVersion, 2);
});

test('serve --redis with nothing published and no disk copy fails at once with the command to run', { skip }, async () => {
  const p = prefix();
  const r = await runCli(['serve', '--redis', redis.url, '--redis-prefix', p, '--workers', '1', '--listen', `127.0.0.1:${await freePort()}`, '--metrics-listen', 'off', '--state-file', join(dir, 'none-health.json')], { timeoutMs: 20_000 });
  assert.equal(r.code, 1, showRun(r));
  assert.match(r.stderr, /cannot start from the published map \(Redis: nothing is published in Redis; disk copy: none\); geosteer publish FILE/);
});
