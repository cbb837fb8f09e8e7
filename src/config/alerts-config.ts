import type { Node } from 'yaml';
import { parseDurationMs } from './duration';
import { join, type YamlReader } from './yaml-reader';

/**
 * The map's `alerts:` block: where state changes (verdict flips, failovers,
 * promotions, drains) are POSTed as JSON. Independent of `health:` and
 * `server:`; absent = no webhook.
 */
export interface AlertsConfig {
  /** http:// or https:// URL that receives one JSON event per POST; null = no webhook. */
  webhook: string | null;
  /** Per attempt. @default 2000 */
  timeoutMs: number;
  /** Further attempts after a failed one (network error, timeout, 5xx, 429), with doubling backoff. @default 3 */
  retries: number;
  /** Events waiting to be sent; when full the oldest is dropped (and counted). @default 100 */
  queue: number;
}

export const DEFAULT_ALERTS_CONFIG: AlertsConfig = { webhook: null, timeoutMs: 2000, retries: 3, queue: 100 };

export function parseAlertsBlock(r: YamlReader, node: Node | null): AlertsConfig {
  const out = { ...DEFAULT_ALERTS_CONFIG };
  for (const [k, v] of r.map(node, 'alerts', ['webhook', 'timeout', 'retries', 'queue'] as const)) {
    const kp = join('alerts', k);
    if (k === 'webhook') {
      const s = r.str(v, kp);
      if (s === null) continue;
      let url: URL | null = null;
      try {
        url = new URL(s);
      } catch {
        url = null;
      }
      if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) r.error(v, kp, `webhook must be an http:// or https:// URL, not "${s}"`);
      else out.webhook = url.toString();
    } else if (k === 'timeout') {
      const raw = r.scalar(v);
      const ms = typeof raw === 'string' || typeof raw === 'number' ? parseDurationMs(raw) : null;
      if (ms === null || ms < 100 || ms > 60_000) r.error(v, kp, 'timeout must be a duration from 100ms to 60s, such as 2s');
      else out.timeoutMs = ms;
    } else if (k === 'retries') {
      out.retries = r.int(v, kp, 0, 10) ?? out.retries;
    } else {
      out.queue = r.int(v, kp, 1, 10_000) ?? out.queue;
    }
  }
  return out;
}
