import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { hostAllowed, startAdminHttp, type AdminHttp, type Route } from '../../src/observability/http';
import { adminHostsFrom } from '../../src/observability/routes';

// DNS rebinding: a web page on evil.example re-points its own name at
// 127.0.0.1, and the operator's browser then sends the page's requests to the
// admin port with `Host: evil.example`. Only Host values no other origin can
// claim are served.

const routes: Route[] = [
  { path: '/api/status', handler: (_q, res) => void res.end('{"secret":"status"}') },
  { path: '/metrics', handler: (_q, res) => void res.end('m') },
];

/** One raw request over a fresh connection, so the Host header (or its absence) is exactly what the test says. */
function rawRequest(port: number, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(`${head}\r\n\r\n`));
    let data = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (data += d));
    sock.on('error', reject);
    sock.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      if (!m) return reject(new Error(`no HTTP response: ${JSON.stringify(data.slice(0, 200))}`));
      resolve({ status: Number(m[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
  });
}

const get = (port: number, host: string | null, path = '/api/status'): Promise<{ status: number; body: string }> =>
  rawRequest(port, `GET ${path} HTTP/1.1\r\nConnection: close${host === null ? '' : `\r\nHost: ${host}`}`);

async function withAdmin(fn: (admin: AdminHttp) => Promise<void>, allowedHosts: string[] = [], token: string | null = null): Promise<void> {
  const admin = await startAdminHttp({ listen: '127.0.0.1:0', routes, token, allowedHosts });
  try {
    await fn(admin);
  } finally {
    await admin.close();
  }
}

test('a Host the operator did not configure gets 421 and none of the data, on every path', async () => {
  await withAdmin(async ({ port }) => {
    for (const host of ['evil.example', `evil.example:${port}`, 'localhost.evil.example', '127.0.0.1.evil.example', '2130706433', 'ns1.example.org']) {
      for (const path of ['/api/status', '/metrics']) {
        const r = await get(port, host, path);
        assert.equal(r.status, 421, `Host: ${host} ${path}`);
        assert.doesNotMatch(r.body, /secret|^m$/);
        assert.ok(r.body.length < 200, 'a short body');
      }
    }
  });
});

test('IP literals (with or without port), localhost and *.localhost are served', async () => {
  await withAdmin(async ({ port }) => {
    for (const host of ['127.0.0.1', `127.0.0.1:${port}`, '[::1]', `[::1]:${port}`, '192.0.2.53:9253', 'localhost', `LocalHost:${port}`, 'localhost.', 'geosteer.localhost']) {
      const r = await get(port, host);
      assert.equal(r.status, 200, `Host: ${host}`);
      assert.equal(r.body, '{"secret":"status"}');
    }
  });
});

test('names given as allowed hosts are served, case-insensitively and with a port', async () => {
  await withAdmin(
    async ({ port }) => {
      assert.equal((await get(port, 'ns1.example.org')).status, 200);
      assert.equal((await get(port, `NS1.Example.Org.:${port}`)).status, 200);
      assert.equal((await get(port, 'ns2.example.org')).status, 421);
    },
    ['ns1.example.org'],
  );
});

test('HTTP/1.0 without Host is served (no browser sends that); HTTP/1.1 without Host is a 400', async () => {
  await withAdmin(async ({ port }) => {
    const r = await rawRequest(port, 'GET /api/status HTTP/1.0');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{"secret":"status"}');
    assert.equal((await get(port, null)).status, 400);
  });
});

test('two Host headers, or an absolute URL naming another host, are refused', async () => {
  await withAdmin(async ({ port }) => {
    assert.equal((await rawRequest(port, 'GET /api/status HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1\r\nHost: evil.example')).status, 421);
    assert.equal((await rawRequest(port, 'GET http://evil.example/api/status HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1')).status, 421);
    assert.equal((await rawRequest(port, 'GET http://127.0.0.1/api/status HTTP/1.1\r\nConnection: close\r\nHost: 127.0.0.1')).status, 200);
  });
});

test('the Host check comes before the token check: a rebinding page learns nothing, not even 401', async () => {
  await withAdmin(
    async ({ port }) => {
      assert.equal((await get(port, 'evil.example')).status, 421);
      assert.equal((await get(port, '127.0.0.1')).status, 401);
    },
    [],
    's3cret',
  );
});

test('hostAllowed rejects malformed Host values', () => {
  const none = new Set<string>();
  for (const h of ['[::1', '[evil.example]', '127.0.0.1:port', ':80', '127.0.0.1:123456', 'a b', '[fe80::1%25eth0]']) assert.equal(hostAllowed(h, none), false, h);
});

test('--admin-host values: names, repeatable or comma-separated; a port or a URL is a usage error', () => {
  assert.deepEqual(adminHostsFrom(['NS1.example.org', 'ns2.example.org,geo.example.net.']), ['ns1.example.org', 'ns2.example.org', 'geo.example.net']);
  assert.deepEqual(adminHostsFrom(undefined), []);
  assert.match(adminHostsFrom(['ns1.example.org:9253']) as string, /--admin-host must be a host name without port/);
  assert.match(adminHostsFrom(['http://ns1.example.org']) as string, /--admin-host/);
});
