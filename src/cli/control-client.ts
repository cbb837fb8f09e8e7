import { ControlError } from '../common/errors';
import type { DrainRequest } from '../health';
import { adminTokenFromEnv, DEFAULT_METRICS_LISTEN, type ControlTable } from '../observability';
import { UsageError } from './redis-args';

/**
 * The operator verbs against one running server's embedded table, through its
 * admin port (observability/control.ts). The same writes and audit entries as
 * through Redis; the server checks names against its live map.
 */
export class ControlClient {
  readonly base: string;

  constructor(
    server: string | undefined,
    private readonly token: string | null = adminTokenFromEnv(),
  ) {
    const s = server ?? DEFAULT_METRICS_LISTEN;
    this.base = /^https?:\/\//.test(s) ? s.replace(/\/+$/, '') : `http://${s}`;
  }

  /** Where, as the verbs print it. */
  get where(): string {
    return `the server at ${this.base.replace(/^http:\/\//, '')}`;
  }

  drain(d: DrainRequest): Promise<unknown> {
    return this.call('POST', '/api/drain', d);
  }

  async undrain(service: string, dc: string, by: string): Promise<boolean> {
    const r = (await this.call('POST', '/api/undrain', { service, dc, by })) as { existed?: unknown };
    return r.existed === true;
  }

  promote(p: { service: string; dc: string; reason: string; by: string }): Promise<unknown> {
    return this.call('POST', '/api/promote', p);
  }

  async table(): Promise<ControlTable> {
    return (await this.call('GET', '/api/table')) as ControlTable;
  }

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
      throw new ControlError(`no geosteer serve answers at ${this.base} (${cause}): start one, give --server HOST:PORT (its --metrics-listen), or REDIS for the shared table`);
    }
    const text = await res.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // Not one of ours (a 404 page, a 401 text): said below.
    }
    const error = typeof json === 'object' && json !== null && typeof (json as { error?: unknown }).error === 'string' ? (json as { error: string }).error : null;
    if (res.ok && json !== null) return json;
    if (res.status === 401) throw new ControlError(`${this.base} wants a bearer token: set GEOSTEER_ADMIN_TOKEN (or GEOSTEER_ADMIN_TOKEN_FILE) to the server's`);
    if (res.status === 404) throw new ControlError(`${this.base} has no ${path}: that server runs with the shared table (steer it with --redis URL), or is not geosteer serve`);
    // The server's own check of the request (an unknown datacenter or service): a usage error, as with --config.
    if (res.status === 400 && error) throw new UsageError(error);
    throw new ControlError(`${this.base}${path}: HTTP ${res.status}${error ? `: ${error}` : ''}`);
  }
}
