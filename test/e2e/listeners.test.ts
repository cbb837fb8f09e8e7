import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { dig } from '../helpers/dig';
import { startServer } from '../helpers/server';

const MAIN = resolve(__dirname, '../../src/cli/main.js');

test('IPv4 and IPv6 listeners answer alike', async (t) => {
  let s;
  try {
    s = await startServer({ listen: ['127.0.0.1:0', '[::1]:0'] });
  } catch (err) {
    t.skip(`no IPv6 loopback here: ${(err as Error).message}`);
    return;
  }
  try {
    const v6 = s.addresses[1];
    const r4 = await dig(s.addresses[0].port, ['www.example.com', 'A', '+subnet=183.6.0.0/24']);
    const r6 = await dig(v6.port, ['www.example.com', 'A', '+subnet=183.6.0.0/24'], '::1');
    const r6t = await dig(v6.port, ['www.example.com', 'AAAA', '+tcp'], '::1');
    assert.deepEqual(r4.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.deepEqual(r6.answer.map((a) => a[4]), ['192.0.2.10']);
    assert.equal(r6t.status, 'NOERROR');
    assert.equal(r6t.answer.length, 1);
  } finally {
    await s.close();
  }
});

test('`geosteer serve --listen` runs the CLI server and stops on SIGTERM', async () => {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const child = spawn(process.execPath, [MAIN, 'serve', '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const end = Date.now() + 20_000; // hang bound: each worker loads the GeoIP files and builds its trie (seconds on a busy 2-core box)
    while (!out.includes('geosteer serving') && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    assert.match(out, /geosteer serving/);
    const r = await dig(port, ['www.example.com', 'A', '+subnet=202.96.0.0/24']);
    assert.deepEqual(r.answer.map((a) => a[4]), ['198.51.100.10']);
  } finally {
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  }
});

test('`geosteer serve` with a broken map exits 1 and names file and line', async () => {
  const child = spawn(process.execPath, [MAIN, 'serve', '--config', '/nonexistent/map.yaml', '--listen', '127.0.0.1:0']);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  assert.equal(code, 1);
  assert.match(err, /\/nonexistent\/map\.yaml/);
});
