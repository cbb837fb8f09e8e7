import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError } from '../../src/common/errors';
import { cliEnv, runCli, showRun } from '../helpers/cli';
import { dig } from '../helpers/dig';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { until } from '../helpers/wait';

// Hostile files named by the map, or put in the map's place (issue 15 §3): a
// FIFO, /dev/zero, a directory and a file over the size limit. Each is a clear
// error from `check` and at `serve` start, and a refused live edit: the running
// server keeps its map, keeps answering, and does not grow.

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'geosteer-hostile-e2e-'));
const mapPath = join(dir, 'map.yaml');
const zonePath = join(dir, 'extra.zone');
const fifo = join(dir, 'pipe');
const subdir = join(dir, 'subdir');
/** 600 MB, sparse: over the 512 MB default without using the disk; refused from its size, never read. */
const hugeZone = join(dir, 'huge.zone');
/** 17 MiB, sparse: over the map's 16 MiB. */
const hugeMap = join(dir, 'huge-map.yaml');

function sparse(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}

let rev = 0;
/** The sample map whose example.com also reads `file: TARGET`; a fresh comment each time so each good edit is a new version. */
function mapText(target = zonePath): string {
  return `# rev ${++rev}\n` + SAMPLE.replace('    records: |', `    file: ${target}\n    records: |`);
}

/** Replace `path` the way deploy tools do: write beside it, rename over. */
function install(path: string, text: string): void {
  const tmp = join(dir, `.tmp-${Math.random().toString(36).slice(2)}`);
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

const hostile: [string, () => string, RegExp][] = [
  ['/dev/zero', () => '/dev/zero', /is a character device: the map and the files it names must be regular files/],
  ['a FIFO', () => fifo, /is a FIFO: the map and the files it names must be regular files/],
  ['a directory', () => subdir, /is a directory: the map and the files it names must be regular files/],
  ['a 600 MB file', () => hugeZone, /file is 600000000 bytes; the limit is 512000000 \(512 MB\)/],
];

/** VmRSS of this process (the server runs in it), in MB. */
function rssMb(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  assert.ok(m);
  return Number(m[1]) / 1024;
}

before(() => {
  execFileSync('mkfifo', [fifo]);
  mkdirSync(subdir);
  sparse(hugeZone, 600e6);
  sparse(hugeMap, 17 * 1024 * 1024);
  writeFileSync(zonePath, 'extra A 192.0.2.77\n');
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('at start: geosteer check exits 1 with the reason, serve refuses to start', () => {
  for (const [name, target, re] of hostile) {
    test(`${name} as a zone's file:`, async () => {
      const path = join(dir, `start-${rev}.yaml`);
      writeFileSync(path, mapText(target()));
      const r = await runCli(['check', path]);
      assert.equal(r.code, 1, showRun(r));
      assert.match(r.stderr, new RegExp(`zones\\.example\\.com\\.file: cannot read zone file ${target().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
      assert.match(r.stderr, re);
      await assert.rejects(startServer({ config: path }), (e: unknown) => e instanceof ConfigError && re.test(e.message));
    });
  }
  const asMap: [string, () => string, RegExp][] = [
    ['/dev/zero', () => '/dev/zero', /is a character device/],
    ['a FIFO', () => fifo, /is a FIFO/],
    ['a directory', () => subdir, /is a directory/],
    ['a 17 MiB file', () => hugeMap, /file is 17825792 bytes; the limit is 16777216 \(16 MiB\)/],
  ];
  for (const [name, path, re] of asMap) {
    test(`${name} as the map`, async () => {
      const r = await runCli(['check', path()]);
      assert.equal(r.code, 1, showRun(r));
      assert.match(r.stderr, new RegExp(`cannot read ${path()}: `));
      assert.match(r.stderr, re);
      await assert.rejects(startServer({ config: path() }), (e: unknown) => e instanceof ConfigError && re.test(e.message));
    });
  }
  test('`geosteer serve` with a FIFO as the map exits 1 at once instead of blocking', async () => {
    const r = await runCli(['serve', '--workers', '1', '--listen', '127.0.0.1:0', '--metrics-listen', 'off', '--config', fifo], { env: cliEnv(), timeoutMs: 10_000 });
    assert.equal(r.code, 1, showRun(r));
    assert.match(r.stderr, /is a FIFO: the map and the files it names must be regular files/);
  });
});

describe('as a live edit: refused, the good map keeps answering, RSS stays flat', () => {
  let s: TestServer;
  let rss0 = 0;
  before(async () => {
    install(mapPath, mapText());
    s = await startServer({ config: mapPath, mapPollMs: 50 });
    await answers();
    rss0 = rssMb();
  });
  after(async () => {
    const rss1 = rssMb();
    console.log(`# RSS before the hostile edits ${rss0.toFixed(0)} MB, after ${rss1.toFixed(0)} MB`);
    await s?.close();
    assert.ok(rss1 < rss0 + 100, `RSS grew from ${rss0.toFixed(0)} MB to ${rss1.toFixed(0)} MB`);
  });

  /** The static record from the zone file and the service both still answer. */
  async function answers(): Promise<void> {
    const extra = await dig(s.port, ['extra.example.com', 'A']);
    assert.equal(extra.status, 'NOERROR');
    assert.deepEqual(extra.answer.map((r) => r[4]), ['192.0.2.77']);
    const www = await dig(s.port, ['www.example.com', 'A']);
    assert.equal(www.status, 'NOERROR');
    assert.equal(www.answer.length > 0, true);
  }

  /** Makes the change, waits for the watcher's reload to refuse it, checks the error and the answers, then puts a good map back. */
  async function refused(change: () => void, re: RegExp, restore = (): void => {}): Promise<void> {
    const failed = s.reloads.failed;
    const version = s.map.version;
    change();
    await until('the reload to be refused', () => s.reloads.failed > failed, 10_000);
    assert.match(s.reloads.lastError ?? '', re);
    assert.equal(s.map.version, version);
    await answers();
    const ok = s.reloads.ok;
    restore();
    rmSync(mapPath, { recursive: true, force: true });
    install(mapPath, mapText());
    await until('the good map to be back', () => s.reloads.ok > ok, 10_000);
    await answers();
  }

  for (const [name, target, re] of hostile) {
    test(`an edit that points file: at ${name}`, () => refused(() => install(mapPath, mapText(target())), re));
  }
  test('the zone file replaced by a FIFO', () => refused(() => {
    const p = join(dir, 'zone-fifo');
    execFileSync('mkfifo', [p]);
    renameSync(p, zonePath);
  }, /is a FIFO/, () => install(zonePath, 'extra A 192.0.2.77\n')));
  test('the map replaced by a FIFO', () => refused(() => {
    const p = join(dir, 'map-fifo');
    execFileSync('mkfifo', [p]);
    renameSync(p, mapPath);
  }, /is a FIFO/));
  test('the map replaced by a link to /dev/zero', () => refused(() => {
    const p = join(dir, 'map-link');
    symlinkSync('/dev/zero', p);
    renameSync(p, mapPath);
  }, /is a character device/));
  test('the map replaced by a directory', () => refused(() => {
    rmSync(mapPath);
    mkdirSync(mapPath);
  }, /is a directory/));
  test('the map replaced by a 17 MiB file', () => refused(() => {
    const p = join(dir, 'map-huge');
    sparse(p, 17 * 1024 * 1024);
    renameSync(p, mapPath);
  }, /the limit is 16777216/));
});
