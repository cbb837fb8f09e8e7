import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON lines to stdout (pino). Logging stays off the query path: the DNS part
 * reports only state changes and rate-limited errors.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? 'info', destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/**
 * Wraps an error callback so at most `perMinute` lines are logged per minute;
 * the rest are counted and summarised in the next line, like gdnsd's
 * rate-limited network-error logs.
 */
export function rateLimited(log: Logger, perMinute = 10): (err: Error, context: string) => void {
  let windowStart = 0;
  let count = 0;
  let suppressed = 0;
  return (err, context) => {
    const now = Date.now();
    if (now - windowStart > 60_000) {
      windowStart = now;
      count = 0;
    }
    if (++count > perMinute) {
      suppressed++;
      return;
    }
    log.warn({ err, context, suppressed }, `${context}: ${err.message}`);
    suppressed = 0;
  };
}
