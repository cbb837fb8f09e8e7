import { runDnsCheck } from './check-dns';
import { runHttpCheck } from './check-http';
import { runTcpCheck } from './check-tcp';
import type { CheckConfig } from '../config';
import type { CheckResult } from './options';

export { runDnsCheck, runHttpCheck, runTcpCheck };

/**
 * Runs one check against one address (an IPv4 or IPv6 literal). Never
 * rejects: every error becomes a CheckResult. Bounded by cfg.timeoutMs for the
 * whole check (connect + request + body read), after which it returns outcome
 * 'timeout' with every socket and timer released. `signal` ends it early with
 * outcome 'failure', detail 'aborted' (used on shutdown).
 */
export async function runCheck(
  cfg: CheckConfig,
  address: string,
  serviceName: string,
  signal?: AbortSignal,
): Promise<CheckResult> {
  try {
    switch (cfg.type) {
      case 'http':
      case 'https':
        return await runHttpCheck(cfg, address, serviceName, signal);
      case 'tcp':
        return await runTcpCheck(cfg, address, signal);
      case 'dns':
        return await runDnsCheck(cfg, address, signal);
      default:
        return { outcome: 'failure', latencyMs: 0, detail: `unknown check type ${String((cfg as { type: unknown }).type)}` };
    }
  } catch (err) {
    // Synchronous throws (e.g. an invalid header value or port) must not escape.
    return { outcome: 'failure', latencyMs: 0, detail: err instanceof Error ? err.message : String(err) };
  }
}
