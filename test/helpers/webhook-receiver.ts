import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export interface Receiver {
  url: string;
  /** Parsed JSON bodies of the requests answered 2xx, in arrival order. */
  events: Array<Record<string, unknown>>;
  /** Every request seen (also the ones answered with an error). */
  attempts: number;
  /** Decides each answer: status code (default 204) and an optional delay. */
  respond: (attempt: number) => { status?: number; delayMs?: number };
  waitFor(pred: (e: Record<string, unknown>) => boolean, ms?: number): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** A real local HTTP server that records POSTed JSON, to test webhooks against. */
export async function startReceiver(): Promise<Receiver> {
  const r: Receiver = {
    url: '',
    events: [],
    attempts: 0,
    respond: () => ({}),
    async waitFor(pred, ms = 5000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const hit = r.events.find(pred);
        if (hit) return hit;
        await new Promise((res) => setTimeout(res, 20));
      }
      throw new Error(`no matching webhook event within ${ms} ms; got ${JSON.stringify(r.events)}`);
    },
    close: () => new Promise<void>((res) => {
      server.closeAllConnections();
      server.close(() => res());
    }),
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      const n = r.attempts++;
      const { status = 204, delayMs = 0 } = r.respond(n);
      setTimeout(() => {
        if (status >= 200 && status < 300) r.events.push(JSON.parse(body) as Record<string, unknown>);
        if (!res.destroyed) res.writeHead(status).end();
      }, delayMs);
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  r.url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
  return r;
}
