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
}

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
  const server = createServer((req, res) => {
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
