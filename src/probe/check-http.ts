import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { HttpCheckConfig } from '../config';
import type { CheckOutcome, CheckResult } from './options';

/** Most of the body we read when looking for cfg.bodyContains; the rest is never downloaded. */
export const BODY_CAP = 64 * 1024;

/**
 * One HTTP(S) request to address:port with Host = cfg.host ?? serviceName.
 * Success iff the status is in one of cfg.expectStatus and, for GET with
 * cfg.bodyContains, the first BODY_CAP bytes contain it.
 */
export function runHttpCheck(
  cfg: HttpCheckConfig,
  address: string,
  serviceName: string,
  signal?: AbortSignal,
): Promise<CheckResult> {
  const start = performance.now();
  if (signal?.aborted) return Promise.resolve(result('failure', 'aborted', start));
  if (!isIP(address)) return Promise.resolve(result('failure', `not an IP address: ${address}`, start));

  const host = cfg.host ?? serviceName;
  // HEAD has no body to search; an empty needle is trivially present.
  const needle = cfg.method === 'GET' && cfg.bodyContains ? Buffer.from(cfg.bodyContains, 'utf8') : null;
  const options: https.RequestOptions = {
    // host + headers.host rather than a URL string: IPv6 literals need no brackets this way.
    host: address,
    port: cfg.port,
    path: cfg.path,
    method: cfg.method,
    headers: { host, 'user-agent': 'geosteer-probe', accept: '*/*' },
    // No pooling: every check measures a fresh connect and leaves no idle socket behind.
    agent: false,
  };
  if (cfg.type === 'https') {
    // Certificates are not verified: we dial a datacenter's IP directly, often a
    // backend whose cert names only the public host, is internal-CA signed or
    // self-signed; health means "answers correctly", and a cert problem would
    // otherwise pull every datacenter at once. Cert expiry needs its own monitor.
    options.rejectUnauthorized = false;
    // Empty servername = no SNI (for IP hosts, which SNI forbids); otherwise Node
    // would derive it from the Host header itself.
    options.servername = sniName(host);
  }

  return new Promise((resolve) => {
    let done = false;
    const req = (cfg.type === 'https' ? https : http).request(options);
    const finish = (outcome: CheckOutcome, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // Also closes the socket mid-body: nothing beyond what we needed is read.
      req.destroy();
      resolve(result(outcome, detail, start));
    };
    const onAbort = (): void => finish('failure', 'aborted');
    const timer = setTimeout(() => finish('timeout', `timeout after ${cfg.timeoutMs} ms`), cfg.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    // Listeners stay attached after finish: destroy() can still emit late errors.
    req.on('error', (err: NodeJS.ErrnoException) => finish('failure', err.code ?? err.message));
    req.on('response', (res) => {
      res.on('error', (err: NodeJS.ErrnoException) => finish('failure', err.code ?? err.message));
      const status = res.statusCode ?? 0;
      const statusText = `HTTP ${status}`;
      if (!cfg.expectStatus.some(([lo, hi]) => status >= lo && status <= hi)) return finish('failure', statusText);
      if (needle === null) return finish('success', statusText);

      let body = Buffer.alloc(0);
      const lacks = (): void => finish('failure', `${statusText}, body lacks ${JSON.stringify(cfg.bodyContains)}`);
      res.on('data', (chunk: Buffer) => {
        if (done) return;
        const from = Math.max(0, body.length - needle.length + 1);
        body = Buffer.concat([body, chunk.subarray(0, BODY_CAP - body.length)]);
        if (body.indexOf(needle, from) >= 0) finish('success', statusText);
        else if (body.length >= BODY_CAP) lacks();
      });
      res.on('end', lacks);
    });
    req.end();
  });
}

/** The TLS SNI name for a Host header value: its host part, or '' (no SNI) for an IP. */
function sniName(host: string): string {
  if (isIP(host)) return '';
  const bracketed = /^\[(.*)\](?::\d+)?$/.exec(host);
  if (bracketed) return '';
  const name = host.replace(/:\d+$/, '');
  return isIP(name) ? '' : name;
}

function result(outcome: CheckOutcome, detail: string, start: number): CheckResult {
  return { outcome, detail, latencyMs: Math.round((performance.now() - start) * 10) / 10 };
}
