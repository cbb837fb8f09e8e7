import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';

/** One admin endpoint: exact path match, GET unless said otherwise. */
export interface Route {
  method?: 'GET' | 'POST';
  path: string;
  handler(req: IncomingMessage, res: ServerResponse, url: URL): void | Promise<void>;
}

export interface AdminHttpOptions {
  /** HOST:PORT or [V6]:PORT. @default '127.0.0.1:9253' */
  listen: string;
  routes: Route[];
  /**
   * Bearer token for everything but /healthz, /readyz and /metrics. Default:
   * GEOSTEER_ADMIN_TOKEN, or the file named by GEOSTEER_ADMIN_TOKEN_FILE.
   * Required when the server binds to anything but loopback.
   */
  token?: string | null;
  /**
   * Host names (besides IP literals and localhost) that browsers may use to
   * reach this port, e.g. the name Prometheus scrapes. Any other `Host:` gets
   * 421, so a DNS-rebinding page cannot read the port from an operator's browser.
   * @default []
   */
  allowedHosts?: readonly string[];
}

const MISDIRECTED = 'misdirected request: use an IP address or localhost in the URL, or start geosteer with --admin-host NAME\n';

/** Probes and scrapes stay open: they reveal no more than a status code and counters. */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function adminTokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.GEOSTEER_ADMIN_TOKEN) return env.GEOSTEER_ADMIN_TOKEN;
  if (env.GEOSTEER_ADMIN_TOKEN_FILE) return readFileSync(env.GEOSTEER_ADMIN_TOKEN_FILE, 'utf8').trim() || null;
  return null;
}

export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/**
 * Whether a request's Host header names this server in a way no other web
 * origin can: an IP literal (a page served from that IP is this server),
 * `localhost` and `*.localhost` (RFC 6761: reserved, resolved to loopback by
 * browsers themselves, never delegated, so nobody can point them elsewhere),
 * or a name the operator listed. A rebinding page always sends its own name.
 * No Host at all (HTTP/1.0) is allowed: browsers always send one, and old
 * probes and `nc` scripts may not; Node already answers 400 to HTTP/1.1 without it.
 */
export function hostAllowed(host: string | undefined, names: ReadonlySet<string>): boolean {
  if (host === undefined || host === '') return true;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(host);
  if (v6) return isIP(v6[1]) === 6;
  const m = /^([^:[\]]+)(?::\d{1,5})?$/.exec(host);
  if (!m) return false;
  const name = m[1].toLowerCase().replace(/\.$/, '');
  if (isIP(name) === 4) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return names.has(name);
}

/** An `--admin-host` value as a plain DNS name (lower case, no trailing dot, no port), or null if it is not one. */
export function normalizeAdminHost(text: string): string | null {
  const name = text.trim().toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return null;
  return name.split('.').every((l) => /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) ? name : null;
}

function authorized(req: IncomingMessage, token: string): boolean {
  const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface AdminHttp {
  server: Server;
  port: number;
  /** Routes can be added after start (the status page, once its data source exists). */
  add(route: Route): void;
  close(): Promise<void>;
}

/**
 * The admin HTTP server: metrics, health probes, status page. Off the DNS
 * path entirely; a handler that throws answers 500 and is never fatal.
 */
export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttp> {
  const routes = [...options.routes];
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(options.listen);
  if (!m) throw new Error(`admin listen address "${options.listen}" must be HOST:PORT`);
  const token = options.token !== undefined ? options.token : adminTokenFromEnv();
  if (!token && !isLoopbackHost(m[1])) {
    throw new Error(`admin port ${options.listen} is not loopback: set GEOSTEER_ADMIN_TOKEN (or GEOSTEER_ADMIN_TOKEN_FILE) so the status page and APIs need a bearer token`);
  }
  const names = new Set<string>();
  for (const h of options.allowedHosts ?? []) {
    const n = normalizeAdminHost(h);
    if (n === null) throw new Error(`admin host "${h}" is not a host name`);
    names.add(n);
  }
  const server = createServer((req, res) => {
    // Checked before anything else, the token included: a rebinding page must learn nothing, not even 401.
    const hosts = req.headersDistinct.host ?? [];
    const target = /^https?:\/\/([^/?#]*)/i.exec(req.url ?? '');
    if (hosts.length > 1 || !hostAllowed(hosts[0], names) || (target !== null && !hostAllowed(target[1] || '-', names))) {
      res.writeHead(421, { 'content-type': 'text/plain', connection: 'close' }).end(MISDIRECTED);
      return;
    }
    const url = new URL(req.url ?? '/', 'http://admin.local');
    if (token && !OPEN_PATHS.has(url.pathname) && !authorized(req, token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('bearer token required\n');
      return;
    }
    const route = routes.find((r) => r.path === url.pathname && (r.method ?? 'GET') === req.method);
    if (!route) {
      res.writeHead(routes.some((r) => r.path === url.pathname) ? 405 : 404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.resolve()
      .then(() => route.handler(req, res, url))
      .catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`error: ${err.message}\n`);
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(m[2]), m[1], () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as { port: number }).port,
    add(route) {
      routes.push(route);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
