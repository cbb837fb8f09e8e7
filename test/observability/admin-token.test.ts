import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startAdminHttp, type Route } from '../../src/observability/http';

const routes: Route[] = [
  { path: '/', handler: (_q, res) => void res.end('page') },
  { path: '/metrics', handler: (_q, res) => void res.end('m') },
  { path: '/healthz', handler: (_q, res) => void res.end('ok') },
];

test('with a token, the page needs Authorization: Bearer; probes and metrics stay open', async () => {
  const admin = await startAdminHttp({ listen: '127.0.0.1:0', routes, token: 's3cret' });
  try {
    const base = `http://127.0.0.1:${admin.port}`;
    assert.equal((await fetch(`${base}/`)).status, 401);
    assert.equal((await fetch(`${base}/`, { headers: { authorization: 'Bearer wrong!' } })).status, 401);
    const ok = await fetch(`${base}/`, { headers: { authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'page');
    assert.equal((await fetch(`${base}/metrics`)).status, 200);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  } finally {
    await admin.close();
  }
});

test('binding the admin port off loopback without a token is refused before binding', async () => {
  await assert.rejects(startAdminHttp({ listen: '0.0.0.0:0', routes, token: null }), /GEOSTEER_ADMIN_TOKEN/);
});

test('on loopback without a token everything is open (the default deployment)', async () => {
  const admin = await startAdminHttp({ listen: '127.0.0.1:0', routes, token: null });
  try {
    assert.equal((await fetch(`http://127.0.0.1:${admin.port}/`)).status, 200);
  } finally {
    await admin.close();
  }
});
