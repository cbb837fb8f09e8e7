import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HealthSnapshot, HealthStore, Quorum } from '../health';
import type { Route } from './http';

// Steering a server that runs the embedded table (no Redis): `geosteer drain`,
// `undrain`, `promote` and `status` reach it through its admin port, which
// already answers only loopback, or a bearer token off loopback.

/** What the control routes act on: the server's own table and the names of its live map. */
export interface ControlTarget {
  store: HealthStore;
  /** The live map's datacenters and services (a reload changes them). */
  names(): { datacenters: string[]; services: Array<{ name: string; primary: boolean; datacenters: string[] }> };
  quorum(): Quorum;
  leader(): { holder: string | null; epoch: number };
  /** The newest `n` audit entries, newest first. */
  auditLog(n: number): Array<Record<string, unknown>>;
}

/** GET /api/table: what `geosteer status` prints, read from the server instead of Redis. */
export interface ControlTable {
  snapshot: HealthSnapshot;
  /** Every (service, datacenter) of the live map. */
  pairs: Array<[string, string]>;
  quorum: Quorum;
  leader: { holder: string | null; epoch: number };
  audit: Array<Record<string, unknown>>;
}

/** Larger bodies are refused: a control request is a few hundred bytes. */
const MAX_BODY = 16 * 1024;

class ControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A browser on the operator's machine can send a "simple" cross-site POST to
 * 127.0.0.1 with the right Host header; it cannot send application/json without
 * a CORS preflight (never answered here), and it always says where it comes
 * from (Origin, Sec-Fetch-Site). The CLI sends JSON and neither header.
 */
function fromCli(req: IncomingMessage): void {
  if (req.headers.origin !== undefined || (req.headers['sec-fetch-site'] ?? 'none') !== 'none') {
    throw new ControlError(403, 'control requests come from the geosteer CLI, not from a web page');
  }
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new ControlError(415, 'send the request as application/json');
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  fromCli(req);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > MAX_BODY) throw new ControlError(413, `request body over ${MAX_BODY} bytes`);
    chunks.push(c as Buffer);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ControlError(400, 'the request body is not JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ControlError(400, 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

function text(body: Record<string, unknown>, key: string, max = 512): string {
  const v = body[key];
  if (typeof v !== 'string' || v === '' || v.length > max) throw new ControlError(400, `"${key}" must be a non-empty string of at most ${max} characters`);
  return v;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify(body)}\n`);
}

function route(path: string, method: 'GET' | 'POST', run: (req: IncomingMessage) => Promise<unknown>): Route {
  return {
    path,
    method,
    async handler(req, res) {
      try {
        send(res, 200, await run(req));
      } catch (err) {
        if (err instanceof ControlError) send(res, err.status, { error: err.message });
        else send(res, 500, { error: (err as Error).message });
      }
    },
  };
}

/** The datacenter and service of a request, checked against the live map (a typo must not drain nothing). */
function target(t: ControlTarget, body: Record<string, unknown>): { dc: string; service: string } {
  const names = t.names();
  const dc = text(body, 'dc', 63);
  const service = text(body, 'service', 255).toLowerCase().replace(/\.$/, '');
  if (!names.datacenters.includes(dc)) throw new ControlError(400, `unknown datacenter "${dc}" (known: ${names.datacenters.join(', ')})`);
  if (service !== '*' && !names.services.some((s) => s.name === service)) {
    throw new ControlError(400, `unknown service "${service}" (known: ${names.services.map((s) => s.name).join(', ')})`);
  }
  return { dc, service };
}

/** POST /api/drain, /api/undrain, /api/promote and GET /api/table on the server's own (embedded) table. */
export function controlRoutes(t: ControlTarget): Route[] {
  return [
    route('/api/drain', 'POST', async (req) => {
      const body = await readJson(req);
      const { dc, service } = target(t, body);
      const forMs = body.forMs;
      if (typeof forMs !== 'number' || !Number.isInteger(forMs) || forMs <= 0 || forMs > 366 * 86_400_000) throw new ControlError(400, '"forMs" must be a whole number of ms, up to a year');
      const reason = text(body, 'reason');
      const by = text(body, 'by', 255);
      await t.store.setDrain({ dc, service, forMs, reason, by });
      await t.store.audit({ action: 'drain', dc, service, forMs, reason, by });
      return { ok: true };
    }),
    route('/api/undrain', 'POST', async (req) => {
      const body = await readJson(req);
      const { dc, service } = target(t, body);
      const by = text(body, 'by', 255);
      const existed = await t.store.clearDrain(service, dc);
      await t.store.audit({ action: 'undrain', dc, service, by, existed });
      return { existed };
    }),
    route('/api/promote', 'POST', async (req) => {
      const body = await readJson(req);
      const { dc, service } = target(t, body);
      const svc = t.names().services.find((s) => s.name === service);
      if (!svc?.primary) throw new ControlError(400, `"${service}" is not a policy: primary service (${t.names().services.filter((s) => s.primary).map((s) => s.name).join(', ') || 'none in this map'})`);
      if (!svc.datacenters.includes(dc)) throw new ControlError(400, `"${dc}" is not a datacenter of ${service}`);
      const reason = text(body, 'reason');
      const by = text(body, 'by', 255);
      await t.store.setPrimary({ service, dc, epoch: 0, by, reason });
      await t.store.audit({ action: 'promote', service, dc, by, reason });
      return { ok: true };
    }),
    // A cross-site page cannot read this (no CORS headers are ever sent), like /api/status.
    route('/api/table', 'GET', async () => {
      const names = t.names();
      const pairs: Array<[string, string]> = names.services.flatMap((s) => s.datacenters.map((dc): [string, string] => [s.name, dc]));
      const table: ControlTable = { snapshot: await t.store.loadAll(), pairs, quorum: t.quorum(), leader: t.leader(), audit: t.auditLog(10) };
      return table;
    }),
  ];
}
