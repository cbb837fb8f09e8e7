import pino, { type Logger } from 'pino';

export type { Logger };

/** Levels accepted by `--log-level` and LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function isLogLevel(text: string): text is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(text);
}

export interface LoggerOptions {
  /** @default LOG_LEVEL or 'info' */
  level?: string;
  /** Where lines go. @default stdout (human lines when it is a terminal, JSON otherwise) */
  destination?: pino.DestinationStream;
  /** Force the human format on (true) or off (false). @default stdout is a TTY */
  pretty?: boolean;
}

/**
 * JSON lines to stdout (pino); one compact human line per record when stdout
 * is a terminal. Logging stays off the query path: the DNS part reports only
 * state changes and rate-limited errors (and sampled queries when asked).
 * An unknown level throws, naming the allowed ones.
 */
export function createLogger(levelOrOptions: string | LoggerOptions = {}, destination?: pino.DestinationStream): Logger {
  const o: LoggerOptions = typeof levelOrOptions === 'string' ? { level: levelOrOptions, destination } : levelOrOptions;
  const level = o.level ?? process.env.LOG_LEVEL ?? 'info';
  if (!isLogLevel(level)) throw new Error(`unknown log level "${level}" (allowed: ${LOG_LEVELS.join(', ')})`);
  const pretty = o.pretty ?? (o.destination === undefined && process.stdout.isTTY === true);
  const dest = o.destination ?? (pretty ? prettyStream(process.stdout, process.stdout.isTTY === true) : undefined);
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const LEVEL_COLORS: Record<number, string> = { 10: '90', 20: '36', 30: '32', 40: '33', 50: '31', 60: '35' };
const HIDDEN = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/**
 * Formats one pino JSON line for a person: `12:04:05.123 WARN  message key=value ...`.
 * Values with spaces or quotes are JSON-quoted, objects written as compact JSON,
 * errors as their message. Not a parser for arbitrary input: a line that is not
 * JSON is passed through unchanged.
 */
export function formatLine(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  const lvl = typeof rec.level === 'number' ? rec.level : 30;
  const name = (LEVEL_NAMES[lvl] ?? String(lvl)).padEnd(5);
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k) || v === undefined) continue;
    parts.push(`${k}=${formatValue(v)}`);
  }
  const head = color ? `\x1b[${LEVEL_COLORS[lvl] ?? '0'}m${name}\x1b[0m` : name;
  return `${time} ${head} ${String(rec.msg ?? '')}${parts.length ? '  ' + parts.join(' ') : ''}`;
}

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  const msg = v !== null && typeof v === 'object' && 'stack' in v ? (v as { message?: unknown }).message : undefined;
  if (typeof msg === 'string') return JSON.stringify(msg);
  return JSON.stringify(v);
}

/** A pino destination that writes `formatLine` of every record to `out`. No dependency, synchronous. */
export function prettyStream(out: { write(s: string): unknown }, color = false): pino.DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line) out.write(formatLine(line, color) + '\n');
    },
  };
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
