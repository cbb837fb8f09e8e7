import type { Registry } from 'prom-client';
import { normalizeAdminHost, startAdminHttp, type AdminHttp, type Route } from './http';
import type { Logger } from './logger';

/** GET /metrics from a registry (or any text source, such as the cluster primary's merge). */
export function metricsRoute(source: Registry | { text(): Promise<string> }, contentType = 'text/plain; version=0.0.4; charset=utf-8'): Route {
  const text = 'text' in source ? () => source.text() : () => source.metrics();
  return {
    path: '/metrics',
    async handler(_req, res) {
      const body = await text();
      res.writeHead(200, { 'content-type': contentType }).end(body);
    },
  };
}

/**
 * GET /healthz: 200 while the process runs its event loop (it answers, so it serves).
 * GET /readyz: 200 once `notReady()` returns null, else 503 with its reason.
 */
export function healthRoutes(notReady: () => string | null): Route[] {
  return [
    { path: '/healthz', handler: (_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n') },
    {
      path: '/readyz',
      handler(_req, res) {
        const why = notReady();
        if (why === null) res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
        else res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${why}\n`);
      },
    },
  ];
}

export interface AdminListenOptions {
  /** HOST:PORT; null = no admin server. */
  listen: string | null;
  routes: Route[];
  /** When binding fails: log and go on without (the CLI's default address) instead of throwing. */
  optional?: boolean;
  /** Host names browsers may use besides IP literals and localhost (`--admin-host`). */
  hosts?: readonly string[];
  log?: Logger;
}

/** Starts the admin HTTP server (off the DNS path), or returns null when there is none. */
export async function startAdmin(o: AdminListenOptions): Promise<AdminHttp | null> {
  if (o.listen === null) return null;
  try {
    const admin = await startAdminHttp({ listen: o.listen, routes: o.routes, allowedHosts: o.hosts });
    admin.server.unref(); // never the reason a process stays up
    o.log?.info({ listen: o.listen, port: admin.port }, `metrics and health on http://${o.listen.replace(/:\d+$/, '')}:${admin.port}/metrics`);
    return admin;
  } catch (err) {
    if (!o.optional) throw new Error(`--metrics-listen ${o.listen}: ${(err as Error).message}`);
    o.log?.warn({ listen: o.listen, err: (err as Error).message }, `metrics not served: ${o.listen} is not available (${(err as Error).message}); set --metrics-listen`);
    return null;
  }
}

/** Where `serve` publishes /metrics unless told otherwise (gdnsd and CoreDNS also default to loopback). */
export const DEFAULT_METRICS_LISTEN = '127.0.0.1:9253';

/**
 * The `--metrics-listen` flag: HOST:PORT, [V6]:PORT or `off`. Absent = the
 * default address, optional (a port already taken is logged, not fatal);
 * given = required. Returns an error message for anything else.
 */
export function metricsListenFrom(text: string | undefined, defaultListen: string | null = DEFAULT_METRICS_LISTEN): { listen: string | null; optional: boolean } | string {
  if (text === undefined) return { listen: defaultListen, optional: true };
  if (text === 'off') return { listen: null, optional: false };
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  if (!m || Number(m[2]) > 65535) return `--metrics-listen must be HOST:PORT, [IPV6]:PORT or off, not "${text}"`;
  return { listen: text, optional: false };
}

/**
 * The `--admin-host NAME` flags (repeatable, or comma-separated): names the
 * admin port answers to besides IP literals and localhost. Returns the names,
 * or an error message.
 */
export function adminHostsFrom(values: readonly string[] | undefined): string[] | string {
  const out: string[] = [];
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      const n = normalizeAdminHost(part);
      if (n === null) return `--admin-host must be a host name without port (e.g. ns1.example.org), not "${part}"`;
      out.push(n);
    }
  }
  return out;
}
