import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, formatLine, prettyStream } from '../../src/observability';

test('an unknown level is refused, naming the allowed ones', () => {
  assert.throws(() => createLogger('verbose'), /unknown log level "verbose" \(allowed: fatal, error, warn, info, debug, trace, silent\)/);
});

test('JSON lines by default, one per record, at the level asked', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'warn', destination: { write: (s: string) => void lines.push(s) } });
  log.info('hidden');
  log.warn({ dc: 'gz' }, 'gz is down');
  assert.equal(lines.length, 1);
  const rec = JSON.parse(lines[0]) as Record<string, unknown>;
  assert.equal(rec.msg, 'gz is down');
  assert.equal(rec.dc, 'gz');
  assert.equal(rec.level, 40);
});

test('a terminal gets one compact human line per record', () => {
  const line = '{"level":40,"time":"2026-11-26T05:10:23.086Z","pid":1,"service":"www.example.org","dc":"gz","votes":[{"up":false}],"msg":"www.example.org in gz is now DOWN"}';
  assert.equal(formatLine(line), '05:10:23.086 WARN  www.example.org in gz is now DOWN  service=www.example.org dc=gz votes=[{"up":false}]');
  assert.ok(formatLine(line, true).includes('\x1b[33mWARN \x1b[0m'), 'coloured level');
  assert.equal(formatLine('not json'), 'not json');
  assert.match(formatLine('{"level":50,"msg":"x","reason":"has spaces","err":{"type":"Error","message":"boom","stack":"..."}}'), /reason="has spaces" err="boom"$/);
});

test('the pretty stream formats what pino writes', () => {
  const out: string[] = [];
  const log = createLogger({ level: 'info', destination: prettyStream({ write: (s: string) => out.push(s) }) });
  log.info({ port: 5300 }, 'geosteer serving');
  assert.equal(out.length, 1);
  assert.match(out[0], /^\d\d:\d\d:\d\d\.\d{3} INFO {2}geosteer serving {2}port=5300\n$/);
});
