import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { after, before, test } from 'node:test';
import { dig } from '../helpers/dig';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { DEFAULT_MAP, writeTemp } from '../helpers/server';
import { until } from '../helpers/wait';
import { CLI, runCli, type CliRun } from '../helpers/cli';

// Operator drains through the real CLI against a real Redis, honoured by two
// separate `geosteer serve` processes sharing the table.

const SVC = 'www.example.com';
const GD = '183.6.0.0/24'; // south: [gz, bj, sg]
const GZ = '192.0.2.10';
const BJ = '198.51.100.10';
const PREFIX = 'dr:';

const skip = redisAvailable() ? false : 'redis-server not installed';


/** Runs the compiled CLI to completion; no Redis from the environment, so only --redis counts. */
const cli = (args: string[], timeoutMs?: number): Promise<CliRun> => runCli(args, { timeoutMs });

/** One `geosteer serve` child process on its own port and state file. */
class ServeProcess {
  readonly output: string[] = [];
  readonly exited: Promise<void>;
  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly stateFile: string,
  ) {
    proc.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exited = new Promise((r) => proc.once('exit', () => r()));
  }

  static async start(redisUrl: string): Promise<ServeProcess> {
    const port = await freePort();
    const stateFile = writeTemp('state.json', '{}');
    rmSync(stateFile);
    const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'info' };
    delete env.REDIS_URL;
    const args = ['serve', '--config', DEFAULT_MAP, '--redis', redisUrl, '--redis-prefix', PREFIX, '--listen', `127.0.0.1:${port}`, '--no-probe', '--state-file', stateFile];
    const s = new ServeProcess(spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] }), port, stateFile);
    return s;
  }

  async answer(subnet = GD): Promise<string> {
    const r = await dig(this.port, [SVC, 'A', `+subnet=${subnet}`]);
    return r.answer.map((x) => x[4]).join(',');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(t);
    }
    rmSync(dirname(this.stateFile), { recursive: true, force: true });
  }
}

let redis: TestRedis;
let servers: ServeProcess[] = [];
const redisArgs = (): string[] => ['--redis', redis.url, '--redis-prefix', PREFIX];

/** Both servers give `want` for Guangdong. */
async function both(want: string): Promise<boolean> {
  const got = await Promise.all(servers.map((s) => s.answer()));
  return got.every((a) => a === want);
}

before(async () => {
  if (skip) return;
  redis = await TestRedis.start();
  servers = await Promise.all([ServeProcess.start(redis.url), ServeProcess.start(redis.url)]);
  for (const s of servers) {
    await until(`serve on port ${s.port} to answer`, async () => (await s.answer()) === GZ, 30_000, 100).catch((e: Error) => {
      throw new Error(`${e.message}\n${s.output.join('')}`);
    });
  }
});

after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await redis?.stop();
});

test('drain gz for 2s: both servers answer Guangdong with bj within 1 s, status shows it, and both return to gz after expiry', { skip }, async (t) => {
  assert.ok(await both(GZ));
  const run = await cli(['drain', 'gz', '--service', SVC, '--for', '2s', '--reason', 'maintenance', ...redisArgs()]);
  const drainedAt = Date.now();
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /drained gz for www\.example\.com for 2s: maintenance/);

  await until('both servers to answer bj', () => both(BJ), 1000, 20);
  t.diagnostic(`drain -> both servers answer bj after ${Date.now() - drainedAt} ms`);

  const status = await cli(['status', '--json', ...redisArgs()]);
  assert.equal(status.code, 0, status.stderr);
  const json = JSON.parse(status.stdout) as {
    drains: Array<{ dc: string; service: string; reason: string; until: number; by: string }>;
    audit: Array<Record<string, unknown>>;
    now: number;
  };
  const d = json.drains.find((x) => x.dc === 'gz' && x.service === SVC);
  assert.ok(d, `drain listed: ${status.stdout}`);
  assert.equal(d.reason, 'maintenance');
  assert.ok(d.by.length > 0);
  assert.ok(d.until > json.now && d.until - json.now <= 2000, `until ${d.until - json.now} ms from now`);
  const entry = json.audit.find((a) => a.action === 'drain' && a.dc === 'gz');
  assert.ok(entry, `audit entry: ${JSON.stringify(json.audit)}`);
  assert.deepEqual([entry.service, entry.reason, entry.forMs], [SVC, 'maintenance', 2000]);

  // Still drained just before the expiry, back to gz shortly after (the mirror's 1 s tick).
  await until('the drain to expire on both servers', () => both(GZ), 2000 + 2500, 50);
  const back = Date.now() - drainedAt;
  t.diagnostic(`drain for 2s -> both servers back on gz after ${back} ms`);
  assert.ok(back >= 1800, `returned after ${back} ms, before the drain expired`);
});

test('undrain removes a longer drain early; a second undrain exits 1', { skip }, async () => {
  const run = await cli(['drain', 'gz', '--service', SVC, '--for', '10m', '--reason', 'long maintenance', ...redisArgs()]);
  assert.equal(run.code, 0, run.stderr);
  await until('both servers to answer bj', () => both(BJ), 1000, 20);

  const undrain = await cli(['undrain', 'gz', '--service', SVC, ...redisArgs()]);
  assert.equal(undrain.code, 0, undrain.stderr);
  assert.match(undrain.stdout, /undrained gz for www\.example\.com/);
  await until('both servers to answer gz again', () => both(GZ), 1000, 20);

  const again = await cli(['undrain', 'gz', '--service', SVC, ...redisArgs()]);
  assert.equal(again.code, 1);
  assert.match(again.stdout, /no drain of gz/);

  const status = await cli(['status', '--json', ...redisArgs()]);
  const json = JSON.parse(status.stdout) as { drains: unknown[]; audit: Array<Record<string, unknown>> };
  assert.deepEqual(json.drains, []);
  assert.deepEqual(
    json.audit.slice(0, 2).map((a) => [a.action, a.existed]),
    [
      ['undrain', false],
      ['undrain', true],
    ],
  );
});

test('drain refuses without --for or --reason (exit 2), and without REDIS points at it (exit 1)', { skip }, async () => {
  const noFor = await cli(['drain', 'gz', '--service', SVC, '--reason', 'maintenance', ...redisArgs()]);
  assert.equal(noFor.code, 2);
  assert.match(noFor.stderr, /--for/);
  const noReason = await cli(['drain', 'gz', '--service', SVC, '--for', '5m', ...redisArgs()]);
  assert.equal(noReason.code, 2);
  assert.match(noReason.stderr, /--reason/);
  // Without REDIS the CLI steers the server at --server (default 127.0.0.1:9253): one on the shared
  // table has no control routes (404), and nothing there is refused; either way it points at REDIS.
  const noRedis = await cli(['drain', 'gz', '--service', SVC, '--for', '5m', '--reason', 'maintenance']);
  assert.equal(noRedis.code, 1, noRedis.stderr);
  assert.match(noRedis.stderr, /--redis URL|REDIS for the shared table/);
  // None of them drained anything.
  assert.ok(await both(GZ));
  const status = await cli(['status', '--json', ...redisArgs()]);
  assert.deepEqual((JSON.parse(status.stdout) as { drains: unknown[] }).drains, []);
});
