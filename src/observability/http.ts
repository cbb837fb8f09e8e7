import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

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
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin.local');
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
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(options.listen);
  if (!m) throw new Error(`admin listen address "${options.listen}" must be HOST:PORT`);
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
