import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import type { RedisConnectionOptions } from '../../src/health';

/**
 * A port free for TCP and UDP on 127.0.0.1, below the kernel's ephemeral
 * range. Not from the range: a server with workers shares its UDP port with
 * SO_REUSEPORT, and dig (which binds port 0 with SO_REUSEPORT) can be handed a
 * port in that range and then read its own query back.
 */
export async function freePort(): Promise<number> {
  const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number) as [number];
  const from = 20_000;
  for (let attempt = 0; low - from > 1000 && attempt < 100; attempt++) {
    const port = from + Math.floor(Math.random() * (low - from));
    if (await bindable(port)) return port;
  }
  return kernelPort();
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const tcp = createServer();
    tcp.once('error', () => resolve(false));
    tcp.listen(port, '127.0.0.1', () => {
      const udp = createSocket('udp4');
      udp.once('error', () => tcp.close(() => resolve(false)));
      udp.bind(port, '127.0.0.1', () => udp.close(() => tcp.close(() => resolve(true))));
    });
  });
}

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version']).status === 0;
}

/** PEM files of a throwaway CA, a server certificate it signed and a client certificate it signed. */
export interface TestTlsFiles {
  dir: string;
  ca: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

/**
 * Makes a CA, a server certificate (subjectAltName IP:127.0.0.1 and
 * DNS:localhost) and a client certificate with the openssl CLI, in a new
 * temp dir (the caller removes `dir`). P-256 keys: quick to make.
 */
export function makeTestTls(): TestTlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-tls-'));
  const f = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=geosteer test CA');
  const leaf = (name: string, cn: string, ext: string): void => {
    writeFileSync(f(`${name}.ext`), `${ext}\n`);
    ssl('req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`);
    ssl('x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-days', '2', '-out', f(`${name}.crt`), '-extfile', f(`${name}.ext`));
  };
  leaf('server', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth');
  leaf('client', 'geosteer', 'extendedKeyUsage=clientAuth');
  return { dir, ca: f('ca.crt'), caKey: f('ca.key'), serverCert: f('server.crt'), serverKey: f('server.key'), clientCert: f('client.crt'), clientKey: f('client.key') };
}

/** AUTH and TLS for a TestRedis. */
export interface TestRedisSecurity {
  /** `requirepass`: the default user's password. */
  password?: string;
  /** ACL users with every key, channel and command (`--user NAME on >PASS ~* &* +@all`). */
  users?: Array<{ name: string; password: string }>;
  /** Switch the passwordless default user off, so only the users above get in. */
  noDefaultUser?: boolean;
  /** TLS only (`--port 0 --tls-port PORT`); clientAuth: clients must show a certificate from the CA. */
  tls?: { files: TestTlsFiles; clientAuth?: boolean };
}

/**
 * A real redis-server on 127.0.0.1 (no persistence, own temp dir), with the
 * faults the tests need: kill, restart on the same port, freeze (SIGSTOP) and
 * thaw (SIGCONT), and optionally AUTH, ACL users and TLS. Never a mock.
 */
export class TestRedis {
  proc: ChildProcess | null = null;
  readonly dir = mkdtempSync(join(tmpdir(), 'geosteer-redis-'));
  constructor(
    readonly port: number,
    readonly extraArgs: string[] = [],
    readonly security: TestRedisSecurity = {},
  ) {}

  static async start(extraArgs: string[] = [], security: TestRedisSecurity = {}): Promise<TestRedis> {
    const r = new TestRedis(await freePort(), extraArgs, security);
    await r.restart();
    return r;
  }

  /** redis:// or rediss:// to 127.0.0.1, without credentials. */
  get url(): string {
    return `${this.security.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** Connection options for RedisStore, with the default user's password and the CA when set. */
  options(prefix = 'geosteer:'): RedisConnectionOptions {
    const o: RedisConnectionOptions = { host: '127.0.0.1', port: this.port, db: 0, tls: false, sentinels: [], masterName: 'mymaster', prefix, commandTimeoutMs: 1000 };
    if (this.security.password) o.password = this.security.password;
    const tls = this.security.tls;
    if (tls) Object.assign(o, { tls: true, tlsCa: readFileSync(tls.files.ca, 'utf8'), tlsCaFile: tls.files.ca });
    if (tls?.clientAuth) Object.assign(o, { tlsCert: readFileSync(tls.files.clientCert, 'utf8'), tlsKey: readFileSync(tls.files.clientKey, 'utf8') });
    return o;
  }

  /** The server's AUTH and TLS arguments. */
  private securityArgs(): string[] {
    const { password, users = [], noDefaultUser, tls } = this.security;
    const args = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.files.serverCert, '--tls-key-file', tls.files.serverKey, '--tls-ca-cert-file', tls.files.ca, '--tls-auth-clients', tls.clientAuth ? 'yes' : 'no']
      : ['--port', String(this.port)];
    if (password) args.push('--requirepass', password);
    if (noDefaultUser) args.push('--user', 'default', 'off');
    for (const u of users) args.push('--user', u.name, 'on', `>${u.password}`, '~*', '&*', '+@all');
    return args;
  }

  async restart(): Promise<void> {
    const args = [...this.securityArgs(), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, ...this.extraArgs];
    this.proc = spawn('redis-server', args, { stdio: 'ignore' });
    await this.waitUp();
  }

  /** Resolves when PING answers (redis-cli would be simpler, but a raw socket needs no extra package). */
  async waitUp(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await this.ping()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis-server on port ${this.port} did not start`);
  }

  /** True when the server answers PING (a NOAUTH refusal counts: it is up, it wants a password). */
  ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const tls = this.security.tls;
      let sock: Socket;
      if (tls) {
        const cert = tls.clientAuth ? { cert: readFileSync(tls.files.clientCert), key: readFileSync(tls.files.clientKey) } : {};
        sock = tlsConnect({ host: '127.0.0.1', port: this.port, ca: readFileSync(tls.files.ca), ...cert }, () => sock.write('PING\r\n'));
      } else {
        sock = connect(this.port, '127.0.0.1');
        sock.on('connect', () => sock.write('PING\r\n'));
      }
      const done = (ok: boolean): void => {
        sock.destroy();
        resolve(ok);
      };
      sock.setTimeout(500, () => done(false));
      sock.on('error', () => done(false));
      sock.on('data', (d) => done(/^(\+PONG|-NOAUTH)/.test(d.toString())));
    });
  }

  /** SIGKILL and wait for the process to be gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await gone;
    this.proc = null;
  }

  freeze(): void {
    this.proc?.kill('SIGSTOP');
  }

  thaw(): void {
    this.proc?.kill('SIGCONT');
  }

  async stop(): Promise<void> {
    this.thaw();
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
