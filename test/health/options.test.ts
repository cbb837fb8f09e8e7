import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { describeRedis, redisOptionsFrom } from '../../src/health';

const dir = mkdtempSync(join(tmpdir(), 'geosteer-opts-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('null when no Redis is configured (embedded mode)', () => {
  assert.equal(redisOptionsFrom({}, {}), null);
  assert.equal(redisOptionsFrom({ prefix: 'x:' }, { REDIS_PASSWORD: 'secret' }), null);
});

test('redis://host:port/db', () => {
  const o = redisOptionsFrom({ redis: 'redis://10.0.0.5:6380/3' }, {});
  assert.ok(o);
  assert.equal(o.host, '10.0.0.5');
  assert.equal(o.port, 6380);
  assert.equal(o.db, 3);
  assert.equal(o.tls, false);
  assert.equal(o.password, undefined);
  assert.equal(o.username, undefined);
  assert.deepEqual(o.sentinels, []);
  assert.equal(o.prefix, 'geosteer:');
  assert.equal(o.commandTimeoutMs, 1000);
  assert.equal(describeRedis(o), 'redis://10.0.0.5:6380/3');
});

test('defaults: port 6379, db 0; REDIS_URL from the environment; --redis wins over REDIS_URL', () => {
  const o = redisOptionsFrom({}, { REDIS_URL: 'redis://cache.example' });
  assert.ok(o);
  assert.equal(o.host, 'cache.example');
  assert.equal(o.port, 6379);
  assert.equal(o.db, 0);
  const p = redisOptionsFrom({ redis: 'redis://a.example:1/' }, { REDIS_URL: 'redis://b.example:2/5' });
  assert.ok(p);
  assert.equal(p.host, 'a.example');
  assert.equal(p.port, 1);
  assert.equal(p.db, 0);
});

test('IPv6 literal host loses its brackets', () => {
  const o = redisOptionsFrom({ redis: 'redis://[::1]:7000/2' }, {});
  assert.ok(o);
  assert.equal(o.host, '::1');
  assert.equal(o.port, 7000);
  assert.equal(o.db, 2);
});

test('rediss:// sets tls', () => {
  const o = redisOptionsFrom({ redis: 'rediss://secure.example:6390/1' }, {});
  assert.ok(o);
  assert.equal(o.tls, true);
  assert.equal(o.port, 6390);
  assert.equal(describeRedis(o), 'rediss://secure.example:6390/1');
});

test('user:pass in the URL is percent-decoded, and never shown by describeRedis', () => {
  const o = redisOptionsFrom({ redis: 'redis://ops%40dc:p%3Ass%2Fw%40rd@h.example:6379/0' }, {});
  assert.ok(o);
  assert.equal(o.username, 'ops@dc');
  assert.equal(o.password, 'p:ss/w@rd');
  assert.ok(!describeRedis(o).includes('w@rd'));
  // Password only (the usual `redis://:pass@host` form).
  const p = redisOptionsFrom({ redis: 'redis://:only%20pw@h.example' }, {});
  assert.ok(p);
  assert.equal(p.username, undefined);
  assert.equal(p.password, 'only pw');
});

test('REDIS_PASSWORD and REDIS_PASSWORD_FILE from the environment; the URL password wins', () => {
  const a = redisOptionsFrom({ redis: 'redis://h' }, { REDIS_PASSWORD: 'from-env' });
  assert.equal(a?.password, 'from-env');
  const file = join(dir, 'pw');
  writeFileSync(file, 'from-file\n');
  const b = redisOptionsFrom({ redis: 'redis://h' }, { REDIS_PASSWORD_FILE: file });
  assert.equal(b?.password, 'from-file', 'trailing newline trimmed');
  const c = redisOptionsFrom({ redis: 'redis://h' }, { REDIS_PASSWORD: 'env', REDIS_PASSWORD_FILE: file });
  assert.equal(c?.password, 'env', 'REDIS_PASSWORD is preferred over the file');
  const d = redisOptionsFrom({ redis: 'redis://:url@h' }, { REDIS_PASSWORD: 'env' });
  assert.equal(d?.password, 'url');
  assert.throws(() => redisOptionsFrom({ redis: 'redis://h' }, { REDIS_PASSWORD_FILE: join(dir, 'missing') }), /ENOENT/);
});

test('prefix from the input or GEOSTEER_REDIS_PREFIX', () => {
  assert.equal(redisOptionsFrom({ redis: 'redis://h', prefix: 'a:' }, { GEOSTEER_REDIS_PREFIX: 'b:' })?.prefix, 'a:');
  assert.equal(redisOptionsFrom({ redis: 'redis://h' }, { GEOSTEER_REDIS_PREFIX: 'b:' })?.prefix, 'b:');
});

test('sentinels: HOST:PORT list plus a master name', () => {
  const o = redisOptionsFrom({ sentinels: 's1.example:26379,10.0.0.2:26380,[::1]:26381', master: 'geo' }, { REDIS_PASSWORD: 'pw' });
  assert.ok(o);
  assert.deepEqual(o.sentinels, [
    { host: 's1.example', port: 26379 },
    { host: '10.0.0.2', port: 26380 },
    { host: '::1', port: 26381 },
  ]);
  assert.equal(o.masterName, 'geo');
  assert.equal(o.password, 'pw');
  assert.equal(describeRedis(o), 'sentinel s1.example:26379,10.0.0.2:26380,::1:26381 master geo');
  const e = redisOptionsFrom({}, { REDIS_SENTINELS: 's:1', REDIS_MASTER: 'm' });
  assert.ok(e);
  assert.deepEqual(e.sentinels, [{ host: 's', port: 1 }]);
  assert.equal(e.masterName, 'm');
});

test('sentinels need a master name', () => {
  assert.throws(() => redisOptionsFrom({ sentinels: 's1:26379' }, {}), /--redis-master/);
});

test('sentinels: entries that are not HOST:PORT are rejected', () => {
  for (const bad of ['s1', 's1:', 's1:0', 's1:70000', 's1:abc', 's1:26379,,s2:26379']) {
    assert.throws(() => redisOptionsFrom({ sentinels: bad, master: 'm' }, {}), /not HOST:PORT/, bad);
  }
});

test('bad scheme and bad URL are errors that say what is expected', () => {
  assert.throws(() => redisOptionsFrom({ redis: 'http://h:6379' }, {}), /scheme must be redis:\/\/ or rediss:\/\/, not http:/);
  assert.throws(() => redisOptionsFrom({ redis: 'h:6379' }, {}), /scheme must be/);
  assert.throws(() => redisOptionsFrom({ redis: 'not a url' }, {}), /is not a URL like redis:\/\/127\.0\.0\.1:6379\/0/);
  assert.throws(() => redisOptionsFrom({}, { REDIS_URL: '::::' }), /is not a URL/);
});

test('a database that is not a number is an error, not a silent db 0 (and the error hides the password)', () => {
  for (const bad of ['redis://h/x', 'redis://h/1/', 'redis://h/-1', 'redis://h/1.5', 'redis://:hunter2@h/abc']) {
    assert.throws(
      () => redisOptionsFrom({ redis: bad }, {}),
      (err: Error) => /database ".*" is not a number/.test(err.message) && !err.message.includes('hunter2'),
      bad,
    );
  }
  assert.equal(redisOptionsFrom({ redis: 'redis://h/15' }, {})?.db, 15);
  assert.equal(redisOptionsFrom({ redis: 'redis://h/0?x=1' }, {})?.db, 0);
});
