import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { test } from 'node:test';
import { runCli, showRun } from '../helpers/cli';

// Issue 14 §1: a server that cannot listen must not look alive. With workers,
// a worker that fails before it is ready makes the whole process exit non-zero
// with one line (the primary used to stay up forever, serving nothing).

test('serve --workers 2 on a UDP port already taken: exits 1 with one line naming the bind error', async () => {
  const holder = createSocket('udp4');
  await new Promise<void>((r) => holder.bind(0, '127.0.0.1', () => r()));
  const port = holder.address().port;
  try {
    const r = await runCli(['serve', '--listen', `127.0.0.1:${port}`, '--workers', '2', '--metrics-listen', 'off'], { timeoutMs: 20_000 });
    assert.equal(r.code, 1, showRun(r));
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, showRun(r));
    assert.match(lines[0], /^geosteer serve: worker \d could not start: .*EADDRINUSE/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    holder.close();
  }
});
