import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HealthMirror, RedisStore, type Vote } from '../../src/health';
import { dig } from '../helpers/dig';
import { SentinelCluster, sentinelUnavailable } from '../helpers/sentinel';
import { startServer, type TestServer } from '../helpers/server';

// Redis Sentinel failover under load, all real processes on loopback: master,
// replica, three sentinels, an in-process serve and a writer, both through
// Sentinel. The master is SIGKILLed; DNS must keep answering from the last
// known state, writes resume once the replica is promoted, and a new vote
// reaches serve within seconds of the promotion.

const GD = '183.6.0.0/24';
const GZ = '192.0.2.10';
const BJ = '198.51.100.10';
const SERVICE = 'www.example.com';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const vote = (up: boolean): Omit<Vote, 'at'> => ({ prober: 'sentinel-test', service: SERVICE, dc: 'gz', up, ttlMs: 600_000, detail: up ? 'back' : 'down for the test', latencyMs: 0 });

let skip: string | null = null;
let cluster: SentinelCluster | null = null;
let server: TestServer | null = null;
let store: RedisStore | null = null;
let mirror: HealthMirror | null = null;
let writer: RedisStore | null = null;
const dir = mkdtempSync(join(tmpdir(), 'geosteer-sentinel-test-'));

async function gdAnswer(): Promise<{ status: string; a: string[] }> {
  const r = await dig((server as TestServer).port, [SERVICE, 'A', `+subnet=${GD}`]);
  return { status: r.status, a: r.answer.filter((x) => x[3] === 'A').map((x) => x[4]) };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 50): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

before(async () => {
  skip = await sentinelUnavailable();
  if (skip) return;
  cluster = await SentinelCluster.start(3, { downAfterMs: 1000, failoverTimeoutMs: 5000 });
  await cluster.waitReady(20_000);
  const opts = cluster.options();
  store = new RedisStore(opts);
  mirror = new HealthMirror(store, { snapshotPath: null, resyncMs: 10_000, retryMs: 500 });
  writer = new RedisStore(opts);
  server = await startServer({ redis: opts, probe: false, snapshotPath: join(dir, 'health.json') });
  await Promise.all([store.whenReady(5000), writer.whenReady(5000), (server.store as RedisStore).whenReady(5000)]);
  await mirror.start();
});

after(async () => {
  // Every step tolerates a failed or partial `before`.
  await server?.close().catch(() => undefined);
  mirror?.stop();
  await store?.close();
  await writer?.close();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('through Sentinel: a down vote steers Guangdong from gz to bj', async (t) => {
  if (skip) return t.skip(skip);
  const [w, m] = [writer as RedisStore, mirror as HealthMirror];
  assert.deepEqual((await gdAnswer()).a, [GZ], 'gz while nothing is down');
  await w.writeVote(vote(false));
  await until('the mirror to see gz down', () => !m.isUp(SERVICE, 'gz'), 3000);
  await until('serve to answer bj', async () => (await gdAnswer()).a.join() === BJ, 3000);
});

test('master SIGKILLed: every DNS query answered, writes resume after promotion, a new vote converges', async (t) => {
  if (skip) return t.skip(skip);
  const c = cluster as SentinelCluster;
  const [w, m] = [writer as RedisStore, mirror as HealthMirror];
  const oldAddr = `127.0.0.1:${c.master?.port}`;
  assert.deepEqual(await c.masterAddrs(), c.sentinels.map(() => oldAddr));

  const writes: Array<{ start: number; end: number; ok: boolean; err?: string }> = [];
  const digs: Array<{ start: number; end: number; ok: boolean; a: string[]; err?: string }> = [];
  let writing = true;
  let digging = true;

  const writeLoop = (async () => {
    while (writing) {
      const start = Date.now();
      try {
        await w.writeVote(vote(false));
        writes.push({ start, end: Date.now(), ok: true });
      } catch (err) {
        writes.push({ start, end: Date.now(), ok: false, err: (err as Error).message });
      }
      await sleep(Math.max(0, start + 100 - Date.now()));
    }
  })();
  const digLoop = (async () => {
    while (digging) {
      const start = Date.now();
      try {
        const r = await gdAnswer();
        digs.push({ start, end: Date.now(), ok: r.status === 'NOERROR' && r.a.length > 0, a: r.a, err: r.status });
      } catch (err) {
        digs.push({ start, end: Date.now(), ok: false, a: [], err: (err as Error).message });
      }
      await sleep(Math.max(0, start + 100 - Date.now()));
    }
  })();

  let promotedAt = 0;
  let convergedAt = 0;
  let mirrorConvergedAt = 0;
  let upWrittenAt = 0;
  try {
    await sleep(300); // a few good rounds first
    const killedAt = Date.now();
    await c.master?.kill();

    const promo = await c.waitPromotion(oldAddr, 20_000);
    promotedAt = promo.at;
    assert.equal(promo.addr, `127.0.0.1:${c.replica?.port}`, 'the replica is promoted');
    t.diagnostic(`promotion seen ${promotedAt - killedAt} ms after the kill`);

    // The writer's down votes succeed again through the new master.
    await until('a successful write after the promotion', () => writes.some((x) => x.ok && x.start >= promotedAt), 8000);
    writing = false;
    await writeLoop;

    // gz back up: retried until the store takes it (it should at once now).
    await until(
      'the up vote to be written',
      () =>
        w.writeVote(vote(true)).then(
          () => true,
          () => false,
        ),
      5000,
      100,
    );
    upWrittenAt = Date.now();
    await until('the Guangdong answer to return to gz', () => digs.some((d) => d.start >= upWrittenAt && d.a.join() === GZ), 6000, 20);
    convergedAt = (digs.find((d) => d.start >= upWrittenAt && d.a.join() === GZ) as { end: number }).end;
    await until('the standalone mirror to see gz up', () => m.isUp(SERVICE, 'gz'), 5000, 20);
    mirrorConvergedAt = Date.now();
    await sleep(300); // a few more answers on the new master
  } finally {
    writing = false;
    digging = false;
    await Promise.all([writeLoop, digLoop]);
  }

  const failed = writes.filter((x) => !x.ok);
  const firstFail = failed[0];
  const lastFail = failed[failed.length - 1];
  const lastOkBefore = firstFail ? [...writes].reverse().find((x) => x.ok && x.end <= firstFail.start) : undefined;
  const firstOkAfter = lastFail ? writes.find((x) => x.ok && x.start >= lastFail.end) : undefined;
  const windowMs = firstFail && lastFail ? lastFail.end - firstFail.start : 0;
  const gapMs = lastOkBefore && firstOkAfter ? firstOkAfter.end - lastOkBefore.end : 0;
  const badDigs = digs.filter((d) => !d.ok);
  const errs = [...new Set(failed.map((x) => x.err))].slice(0, 4).join(' | ');
  t.diagnostic(`writes: ${writes.length} attempted, ${failed.length} failed; failure window ${windowMs} ms (first failed attempt to last); no successful write for ${gapMs} ms; errors: ${errs}`);
  t.diagnostic(`dns: ${digs.length} queries, ${badDigs.length} failed${badDigs.length ? `: ${JSON.stringify(badDigs.slice(0, 5))}` : ''}`);
  t.diagnostic(`convergence: serve answers gz ${convergedAt - promotedAt} ms after the promotion (${convergedAt - upWrittenAt} ms after the up vote); standalone mirror ${mirrorConvergedAt - promotedAt} ms`);

  assert.equal(badDigs.length, 0, 'every DNS query during the failover is answered NOERROR with an address');
  const beforeUp = digs.filter((d) => d.end < upWrittenAt);
  assert.ok(beforeUp.every((d) => d.a.join() === BJ), 'until the up vote, Guangdong stays on bj (fail-static)');
  assert.ok(failed.length > 0, 'the kill was felt by the writer (else the test measured nothing)');
  assert.ok(writes.some((x) => x.ok && x.start >= promotedAt), 'writes succeed again after the promotion');
  assert.ok(convergedAt - promotedAt <= 5000, `gz is answered again within 5 s of the promotion (took ${convergedAt - promotedAt} ms)`);
});
