import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/redis';

const MAIN = resolve(__dirname, '../../src/cli/main.js');

/** GET with a chosen Host header (fetch cannot set one); resolves the status code. */
function statusWithHost(port: number, path: string, host: string): Promise<number> {
  return new Promise((done, fail) => {
    request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      done(res.statusCode ?? 0);
    })
      .on('error', fail)
      .end();
  });
}

test('with --workers 2 the primary serves the status page and explain API (proxied to worker 0)', async () => {
  const [dnsPort, adminPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [MAIN, 'serve', '--workers', '2', '--listen', `127.0.0.1:${dnsPort}`, '--metrics-listen', `127.0.0.1:${adminPort}`, '--admin-host', 'ns1.example.org'], {
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
    // --admin-host reaches the primary's admin port; any other name (a DNS-rebinding page) gets 421.
    assert.equal(await statusWithHost(adminPort, '/api/status', `ns1.example.org:${adminPort}`), 200);
    assert.equal(await statusWithHost(adminPort, '/api/status', 'evil.example'), 421);
    assert.equal(await statusWithHost(adminPort, '/metrics', 'evil.example'), 421);
  } finally {
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await gone;
  }
});
