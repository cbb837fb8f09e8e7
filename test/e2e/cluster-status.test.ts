import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/redis';

const MAIN = resolve(__dirname, '../../src/cli/main.js');

test('with --workers 2 the primary serves the status page and explain API (proxied to worker 0)', async () => {
  const [dnsPort, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, 'serve', '--workers', '2', '--listen', `127.0.0.1:${dnsPort}`, '--metrics-listen', `127.0.0.1:${adminPort}`], {
    stdio: 'ignore',
  });
  try {
    const end = Date.now() + 15_000;
    let page: Response | null = null;
    while (Date.now() < end) {
      page = await fetch(`http://127.0.0.1:${adminPort}/`).catch(() => null);
      if (page?.status === 200) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(page?.status, 200);
    assert.match(await page.text(), /geosteer status/);
    const ex = (await (await fetch(`http://127.0.0.1:${adminPort}/api/explain?ip=183.6.0.1`)).json()) as { lines: string[] };
    assert.ok(ex.lines.includes('region south by subdivision CN-GD'));
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
});
