import { connect, isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TcpCheckConfig } from '../config';
import type { CheckOutcome, CheckResult } from './options';

/** Connects to address:port; success as soon as the handshake completes (the socket is then destroyed). */
export function runTcpCheck(cfg: TcpCheckConfig, address: string, signal?: AbortSignal): Promise<CheckResult> {
  const start = performance.now();
  if (signal?.aborted) return Promise.resolve(result('failure', 'aborted', start));
  if (!isIP(address)) return Promise.resolve(result('failure', `not an IP address: ${address}`, start));

  return new Promise((resolve) => {
    let done = false;
    const socket = connect({ host: address, port: cfg.port });
    const finish = (outcome: CheckOutcome, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(result(outcome, detail, start));
    };
    const onAbort = (): void => finish('failure', 'aborted');
    const timer = setTimeout(() => finish('timeout', `timeout after ${cfg.timeoutMs} ms`), cfg.timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish('success', 'connected'));
    // Kept attached after finish: destroy() may still surface a late error.
    socket.on('error', (err: NodeJS.ErrnoException) => finish('failure', err.code ?? err.message));
  });
}

function result(outcome: CheckOutcome, detail: string, start: number): CheckResult {
  return { outcome, detail, latencyMs: Math.round((performance.now() - start) * 10) / 10 };
}
