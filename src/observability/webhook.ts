import { Counter, Gauge, type Registry } from 'prom-client';
import type { AlertsConfig } from '../config';
import type { AlertEvent } from './events';
import type { Logger } from './logger';

export interface WebhookOptions {
  registry?: Registry;
  log?: Logger;
  /** First retry delay; doubles per attempt (500 ms, 1 s, 2 s, ...), capped at 30 s. @default 500 */
  backoffMs?: number;
}

/** Results counted in geosteer_alerts_webhook_total. */
export type WebhookResult = 'sent' | 'retried' | 'failed' | 'dropped';

/**
 * POSTs each AlertEvent as JSON to the map's `alerts.webhook`. Never blocks
 * anything: `send` only queues (a bounded queue that drops the oldest when
 * full), one request is in flight at a time, each attempt has a timeout, and
 * failures (network error, timeout, 5xx, 429) are retried with doubling
 * backoff. Other 4xx are not retried: the receiver rejected the event. Timers
 * are unref'd, so a pending retry never keeps the process alive.
 */
export class WebhookSender {
  private config: AlertsConfig | null = null;
  private readonly queue: AlertEvent[] = [];
  private busy = false;
  private closed = false;
  private timer: NodeJS.Timeout | null = null;
  private abort: AbortController | null = null;
  private readonly counts: Counter<'result'> | null;
  private readonly backoffMs: number;
  /** Outcome of each event, for tests and the status page. */
  readonly totals: Record<WebhookResult, number> = { sent: 0, retried: 0, failed: 0, dropped: 0 };

  constructor(config: AlertsConfig | null, private readonly opts: WebhookOptions = {}) {
    this.backoffMs = opts.backoffMs ?? 500;
    this.counts = opts.registry ? webhookCounter(opts.registry) : null;
    if (opts.registry) webhookQueueGauge(opts.registry, this);
    this.configure(config);
  }

  /** A reloaded map may change or remove the webhook; queued events go to the new URL (none: dropped). */
  configure(config: AlertsConfig | null): void {
    this.config = config && config.webhook ? config : null;
    if (!this.config) this.queue.length = 0;
  }

  get enabled(): boolean {
    return this.config !== null && !this.closed;
  }

  get pending(): number {
    return this.queue.length + (this.busy ? 1 : 0);
  }

  send(event: AlertEvent): void {
    if (!this.enabled || !this.config) return;
    if (this.queue.length >= this.config.queue) {
      this.queue.shift();
      this.count('dropped');
    }
    this.queue.push(event);
    if (!this.busy) void this.pump();
  }

  /** Stops sending: the queue is dropped and a request in flight is aborted. */
  close(): void {
    this.closed = true;
    this.queue.length = 0;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  private count(result: WebhookResult): void {
    this.totals[result]++;
    this.counts?.inc({ result });
  }

  private async pump(): Promise<void> {
    this.busy = true;
    try {
      while (this.queue.length && this.config && !this.closed) {
        const event = this.queue.shift() as AlertEvent;
        await this.deliver(event);
      }
    } finally {
      this.busy = false;
    }
  }

  private async deliver(event: AlertEvent): Promise<void> {
    const body = JSON.stringify(event);
    for (let attempt = 0; ; attempt++) {
      const cfg = this.config;
      if (!cfg || this.closed) return;
      const outcome = await this.post(cfg, body);
      if (outcome === 'ok') {
        this.count('sent');
        return;
      }
      if (outcome === 'reject' || attempt >= cfg.retries) {
        this.count('failed');
        this.opts.log?.warn({ webhook: redact(cfg.webhook as string), kind: event.kind, service: event.service, dc: event.dc, attempts: attempt + 1 }, 'alerts webhook: event not delivered');
        return;
      }
      this.count('retried');
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(resolve, Math.min(30_000, this.backoffMs * 2 ** attempt));
        this.timer.unref();
      });
    }
  }

  /** One attempt: 'ok' (2xx), 'retry' (network, timeout, 5xx, 429) or 'reject' (other status). */
  private async post(cfg: AlertsConfig, body: string): Promise<'ok' | 'retry' | 'reject'> {
    const abort = (this.abort = new AbortController());
    const timer = setTimeout(() => abort.abort(), cfg.timeoutMs);
    timer.unref();
    try {
      const res = await fetch(cfg.webhook as string, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'geosteer-alerts' },
        body,
        signal: abort.signal,
      });
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return 'ok';
      return res.status >= 500 || res.status === 429 ? 'retry' : 'reject';
    } catch {
      return 'retry';
    } finally {
      clearTimeout(timer);
      this.abort = null;
    }
  }
}

/** The URL without user:password, for logs. */
function redact(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** geosteer_alerts_webhook_total{result}, registered once per registry. */
export function webhookCounter(registry: Registry): Counter<'result'> {
  const existing = registry.getSingleMetric('geosteer_alerts_webhook_total');
  if (existing) return existing as Counter<'result'>;
  return new Counter({
    name: 'geosteer_alerts_webhook_total',
    help: 'Alert events sent to the map\'s alerts.webhook, by result: sent (2xx), retried (an attempt failed and will be retried), failed (gave up), dropped (queue full)',
    labelNames: ['result'],
    registers: [registry],
  });
}

/** geosteer_alerts_webhook_queue: events waiting (gauge read at scrape). */
export function webhookQueueGauge(registry: Registry, sender: WebhookSender): void {
  if (registry.getSingleMetric('geosteer_alerts_webhook_queue')) return;
  new Gauge({
    name: 'geosteer_alerts_webhook_queue',
    help: 'Alert events queued or in flight to the webhook',
    registers: [registry],
    collect() {
      this.set(sender.pending);
    },
  });
}
