import { createServer, type Server } from 'node:http';

/** A local HTTP health endpoint whose status the test flips; `failNext` fails only that many requests. */
export class Endpoint {
  status = 200;
  failNext = 0;
  hits = 0;
  port = 0;
  private readonly server: Server = createServer((_req, res) => {
    this.hits++;
    let code = this.status;
    if (this.failNext > 0) {
      this.failNext--;
      code = 503;
    }
    res.writeHead(code, { 'content-type': 'text/plain', connection: 'close' });
    res.end(code === 200 ? 'ok\n' : 'unavailable\n');
  });

  static async start(): Promise<Endpoint> {
    const e = new Endpoint();
    await new Promise<void>((r) => e.server.listen(0, '127.0.0.1', r));
    e.port = (e.server.address() as { port: number }).port;
    return e;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}
