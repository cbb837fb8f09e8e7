import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import type { RedisConnectionOptions } from '../../src/health';
import { freePort, TestRedis } from './redis';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A raw client for one server (sentinel or redis), RESP2 so SENTINEL replies stay flat arrays. */
export function rawClient(port: number): Redis {
  const c = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 0, retryStrategy: () => 100, connectTimeout: 1000, commandTimeout: 1000 });
  c.on('error', () => undefined);
  return c;
}

/** `[k1, v1, k2, v2]` -> `{k1: v1, k2: v2}` (SENTINEL REPLICAS / MASTER rows). */
function pack(row: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const a = row as string[];
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]] = a[i + 1];
  return out;
}

export interface SentinelSettings {
  masterName: string;
  quorum: number;
  downAfterMs: number;
  failoverTimeoutMs: number;
}

/** One `redis-server CONF --sentinel` on 127.0.0.1 with its own writable config file. */
export class TestSentinel {
  proc: ChildProcess | null = null;
  readonly conf: string;
  readonly log: string;
  readonly client: Redis;

  constructor(
    readonly port: number,
    readonly dir: string,
    lines: string[],
  ) {
    this.conf = join(dir, `sentinel-${port}.conf`);
    this.log = join(dir, `sentinel-${port}.log`);
    writeFileSync(this.conf, [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `logfile ${this.log}`, 'sentinel resolve-hostnames no', ...lines, ''].join('\n'));
    this.client = rawClient(port);
  }

  start(): void {
    this.proc = spawn('redis-server', [this.conf, '--sentinel'], { stdio: 'ignore' });
  }

  /** Resolves once it answers PING as a sentinel; rejects (with its log) when it does not. */
  async waitUp(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < end) {
      if (this.proc?.exitCode !== null) break;
      try {
        const info = await this.client.info('server');
        if (/redis_mode:sentinel/.test(info)) return;
        last = 'not in sentinel mode';
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(50);
    }
    throw new Error(`sentinel on port ${this.port} did not start (${last}): ${this.logTail()}`);
  }

  logTail(lines = 15): string {
    return existsSync(this.log) ? readFileSync(this.log, 'utf8').trim().split('\n').slice(-lines).join('\n') : '(no log)';
  }

  /** The master address this sentinel currently hands out, as 'host:port'. */
  async masterAddr(name: string): Promise<string | null> {
    const r = (await this.client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', name)) as string[] | null;
    return r ? `${r[0]}:${r[1]}` : null;
  }

  async stop(): Promise<void> {
    this.client.disconnect();
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
  }
}

/**
 * A real Sentinel setup on loopback: one master, one replica and N sentinels
 * (all on free ports, each with its own temp dir / config). Never a mock.
 */
export class SentinelCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'geosteer-sentinel-'));
  master: TestRedis | null = null;
  replica: TestRedis | null = null;
  sentinels: TestSentinel[] = [];
  readonly settings: SentinelSettings;

  constructor(settings: Partial<SentinelSettings> = {}) {
    this.settings = { masterName: 'mymaster', quorum: 2, downAfterMs: 1000, failoverTimeoutMs: 5000, ...settings };
  }

  /** Starts master, replica and sentinels; call `waitReady` before failing anything over. Cleans up on failure. */
  static async start(count = 3, settings: Partial<SentinelSettings> = {}): Promise<SentinelCluster> {
    const c = new SentinelCluster(settings);
    try {
      c.master = await TestRedis.start();
      c.replica = await TestRedis.start(['--replicaof', '127.0.0.1', String(c.master.port)]);
      const s = c.settings;
      const lines = [
        `sentinel monitor ${s.masterName} 127.0.0.1 ${c.master.port} ${s.quorum}`,
        `sentinel down-after-milliseconds ${s.masterName} ${s.downAfterMs}`,
        `sentinel failover-timeout ${s.masterName} ${s.failoverTimeoutMs}`,
        `sentinel parallel-syncs ${s.masterName} 1`,
      ];
      for (let i = 0; i < count; i++) c.sentinels.push(new TestSentinel(await freePort(), c.dir, lines));
      for (const t of c.sentinels) t.start();
      await Promise.all(c.sentinels.map((t) => t.waitUp()));
      return c;
    } catch (err) {
      await c.stop();
      throw err;
    }
  }

  /** For RedisStore / serve: the sentinels plus the master name. */
  options(prefix = 'geosteer:'): RedisConnectionOptions {
    return {
      host: '127.0.0.1',
      port: 0,
      db: 0,
      tls: false,
      sentinels: this.sentinels.map((s) => ({ host: '127.0.0.1', port: s.port })),
      masterName: this.settings.masterName,
      prefix,
      commandTimeoutMs: 1000,
    };
  }

  /**
   * Waits until the replica is in sync and every sentinel knows the master,
   * the replica (healthy) and all other sentinels: only then can a failover
   * reach quorum and pick the replica.
   */
  async waitReady(timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    const name = this.settings.masterName;
    const replicaPort = String(this.replica?.port);
    const rc = rawClient(this.replica?.port ?? 0);
    let why = '';
    try {
      while (Date.now() < end) {
        try {
          const info = await rc.info('replication');
          if (!/master_link_status:up/.test(info)) why = 'replica link not up';
          else {
            why = '';
            for (const s of this.sentinels) {
              const m = pack(await s.client.call('SENTINEL', 'MASTER', name));
              const reps = ((await s.client.call('SENTINEL', 'REPLICAS', name)) as unknown[]).map(pack);
              const rep = reps.find((r) => r.port === replicaPort);
              if (!rep) why = `sentinel ${s.port} does not know the replica yet`;
              else if (/s_down|o_down|disconnected/.test(rep.flags) || rep['master-link-status'] !== 'ok') why = `sentinel ${s.port} sees replica ${rep.flags} link ${rep['master-link-status']}`;
              else if (Number(m['num-other-sentinels']) < this.sentinels.length - 1) why = `sentinel ${s.port} knows ${m['num-other-sentinels']} other sentinels`;
              if (why) break;
            }
            if (!why) return;
          }
        } catch (err) {
          why = (err as Error).message;
        }
        await sleep(100);
      }
    } finally {
      rc.disconnect();
    }
    throw new Error(`sentinel setup not ready after ${timeoutMs} ms: ${why}`);
  }

  /** What each sentinel hands out right now ('host:port' or null when it does not answer). */
  async masterAddrs(): Promise<Array<string | null>> {
    return Promise.all(this.sentinels.map((s) => s.masterAddr(this.settings.masterName).catch(() => null)));
  }

  /** Polls every `everyMs` until some sentinel hands out an address other than `oldAddr`; returns it and when. */
  async waitPromotion(oldAddr: string, timeoutMs = 20_000, everyMs = 50): Promise<{ addr: string; at: number }> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const addrs = await this.masterAddrs();
      const moved = addrs.find((a) => a !== null && a !== oldAddr);
      if (moved) return { addr: moved, at: Date.now() };
      await sleep(everyMs);
    }
    throw new Error(`no promotion within ${timeoutMs} ms; sentinel logs:\n${this.sentinels.map((s) => s.logTail(8)).join('\n---\n')}`);
  }

  /** Kills every process and removes every temp dir; safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.sentinels.map((s) => s.stop()));
    await Promise.allSettled([this.master, this.replica].filter((r): r is TestRedis => r !== null).map((r) => r.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Null when `redis-server --sentinel` runs here; otherwise why not (a reason
 * for t.skip). Starts one throwaway sentinel and asks for its mode.
 */
export async function sentinelUnavailable(): Promise<string | null> {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-sentinel-probe-'));
  const s = new TestSentinel(await freePort(), dir, []);
  try {
    s.start();
    const spawned = await new Promise<Error | null>((resolve) => {
      s.proc?.once('error', resolve);
      s.proc?.once('spawn', () => resolve(null));
    });
    if (spawned) return `redis-server cannot be started: ${spawned.message}`;
    await s.waitUp(5000);
    return null;
  } catch (err) {
    return `redis-server does not run in sentinel mode here: ${(err as Error).message}`;
  } finally {
    await s.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
