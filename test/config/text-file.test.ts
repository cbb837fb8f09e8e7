import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, type ConfigIssue } from '../../src/common/errors';
import { loadMapFile } from '../../src/config/map-file';
import { DEFAULT_MAP_FILE_BYTES, mapFileLimit, parseSize, readRegularFile, readTextFile, TextFileError } from '../../src/config/text-file';

// Hostile files: the map and every file it names must be a regular file under
// a size limit, read with a bound. Each of these would otherwise block the
// open (FIFO) or read until memory runs out (/dev/zero, a file that grows).

const ROOT = resolve(__dirname, '../../..');
const SAMPLE = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'geosteer-hostile-'));
const fifo = join(dir, 'pipe');
const sub = join(dir, 'subdir');
const sock = join(dir, 'sock');
const empty = join(dir, 'empty.zone');
writeFileSync(empty, '');
let server: Server;

before(async () => {
  execFileSync('mkfifo', [fifo]);
  mkdirSync(sub);
  server = createServer();
  await new Promise<void>((ok) => server.listen(sock, ok));
});
after(() => new Promise<void>((ok) => server.close(() => ok())));

/** The message readTextFile throws for `path`. */
function refusal(path: string, maxBytes?: number): string {
  try {
    readTextFile(path, maxBytes);
  } catch (e) {
    assert.ok(e instanceof TextFileError, `expected a TextFileError, got ${String(e)}`);
    return e.message;
  }
  assert.fail(`expected ${path} to be refused`);
}

function mapIssues(path: string): ConfigIssue[] {
  try {
    loadMapFile(path);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    return e.issues;
  }
  assert.fail('expected the map to be rejected');
}

/** A map beside the hostile files whose example.com zone also reads `file: TARGET`. */
function mapNaming(target: string, limits = ''): string {
  const path = join(dir, `map-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, limits + SAMPLE.replace('    records: |', `    file: ${target}\n    records: |`));
  return path;
}

describe('readTextFile refuses what is not a regular file, without reading it', () => {
  const cases: [string, () => string, RegExp][] = [
    ['/dev/zero', () => '/dev/zero', /^is a character device: the map and the files it names must be regular files$/],
    ['a FIFO with no writer (the open does not block)', () => fifo, /^is a FIFO: /],
    ['a directory', () => sub, /^is a directory: /],
    ['a Unix socket', () => sock, /^is a socket: /],
  ];
  for (const [name, path, re] of cases) test(name, () => assert.match(refusal(path()), re));
});

test('a file over the limit is refused from its size, before a byte is read', () => {
  const big = join(dir, 'big');
  writeFileSync(big, Buffer.alloc(4097, 0x41));
  assert.equal(refusal(big, 4096), 'file is 4097 bytes; the limit is 4096 (4 KiB)');
  assert.equal(readTextFile(big, 4097).length, 4097);
});

test('a file that holds more than its size says stops at limit + 1 bytes read (/proc reports size 0)', () => {
  // /proc/self/maps is a "regular file" of size 0 whose content is longer than 64 bytes: like a file growing while read.
  assert.throws(() => readRegularFile('/proc/self/maps', 64), /^TextFileError: file grew past the limit of 64 bytes \(64 bytes\) while it was read$/);
  assert.ok(readRegularFile('/proc/self/maps', 1 << 20).length > 64);
});

test('sizes: bytes, binary and decimal units; zero, junk and more than a string can hold are refused', () => {
  assert.equal(parseSize('512MB'), 512e6);
  assert.equal(parseSize('16MiB'), 16 * 1024 * 1024);
  assert.equal(parseSize('64 KiB'), 65536);
  assert.equal(parseSize(1000), 1000);
  assert.equal(parseSize('1000'), 1000);
  for (const bad of ['0', 'lots', '5TB', '-1', '1.5.2MB', 4 * 1024 ** 3, 0.5]) assert.equal(parseSize(bad), null, String(bad));
});

test('the map file limit is 16 MiB unless GEOSTEER_MAP_FILE_BYTES says otherwise', () => {
  assert.equal(mapFileLimit({}), DEFAULT_MAP_FILE_BYTES);
  assert.equal(DEFAULT_MAP_FILE_BYTES, 16 * 1024 * 1024);
  assert.equal(mapFileLimit({ GEOSTEER_MAP_FILE_BYTES: '1MiB' }), 1024 * 1024);
  assert.throws(() => mapFileLimit({ GEOSTEER_MAP_FILE_BYTES: 'huge' }), /GEOSTEER_MAP_FILE_BYTES="huge" is not a size/);
});

describe('a hostile map file is a normal map error naming the file and the reason', () => {
  const cases: [string, () => string, RegExp][] = [
    ['/dev/zero', () => '/dev/zero', /^cannot read: is a character device: /],
    ['a FIFO', () => fifo, /^cannot read: is a FIFO: /],
    ['a directory', () => sub, /^cannot read: is a directory: /],
  ];
  for (const [name, path, re] of cases) {
    test(name, () => {
      const issues = mapIssues(path());
      assert.equal(issues.length, 1);
      assert.equal(issues[0].file, path());
      assert.match(issues[0].message, re);
    });
  }
  test('a map over GEOSTEER_MAP_FILE_BYTES', () => {
    const path = mapNaming(empty);
    const was = process.env.GEOSTEER_MAP_FILE_BYTES;
    process.env.GEOSTEER_MAP_FILE_BYTES = '1KiB';
    try {
      const issues = mapIssues(path);
      assert.equal(issues.length, 1);
      assert.match(issues[0].message, /^cannot read: file is \d+ bytes; the limit is 1024 \(1 KiB\)$/);
    } finally {
      if (was === undefined) delete process.env.GEOSTEER_MAP_FILE_BYTES;
      else process.env.GEOSTEER_MAP_FILE_BYTES = was;
    }
  });
});

describe('a hostile zone file: is a map error at zones.ZONE.file, and quotes nothing of the file', () => {
  const secret = join(dir, 'secret.key');
  writeFileSync(secret, 'PRIVATE-KEY-MATERIAL '.repeat(100));
  const cases: [string, () => string, string, RegExp][] = [
    ['/dev/zero', () => '/dev/zero', '', /: is a character device: the map and the files it names must be regular files$/],
    ['a FIFO', () => fifo, '', /: is a FIFO: /],
    ['a directory', () => sub, '', /: is a directory: /],
    ['a file over limits.zone_file_bytes', () => secret, 'limits: { zone_file_bytes: 1KB }\n', /: file is 2100 bytes; the limit is 1000 \(1 KB\)$/],
  ];
  for (const [name, target, limits, re] of cases) {
    test(name, () => {
      const issues = mapIssues(mapNaming(target(), limits));
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(issues[0].path, 'zones.example.com.file');
      assert.ok(issues[0].message.startsWith(`cannot read zone file ${target()}: `), issues[0].message);
      assert.match(issues[0].message, re);
      assert.ok(!issues[0].message.includes('PRIVATE'));
    });
  }
  test('a limit that is not a size is reported at limits.zone_file_bytes', () => {
    const issues = mapIssues(mapNaming(empty, 'limits: { zone_file_bytes: lots }\n'));
    assert.deepEqual(issues.map((i) => `${i.line}: ${i.path}: ${i.message}`), ['1: limits.zone_file_bytes: expected a size from 1 byte to 536870888 bytes, such as 512MB, 64MiB or 1000000']);
  });
});
