import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKGROUND_NICE, runChild } from '../../src/common/worker';

// A reload's build process lowers the priority of all its threads, and serve
// keeps its own (Linux keeps a nice value per thread).

/** Field 19 of a /proc/.../stat line: the nice value (after the command, which may hold spaces). */
const niceOf = (stat: string): number => Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
const ownNices = (): number[] => readdirSync('/proc/self/task').map((t) => niceOf(readFileSync(`/proc/self/task/${t}/stat`, 'utf8')));

test('lowerProcessPriority lowers every thread of the process that calls it, no other', () => {
  const before = ownNices();
  const mod = join(__dirname, '../../src/common/worker.js');
  const script = `const { readdirSync, readFileSync } = require('node:fs');
    const ok = require(${JSON.stringify(mod)}).lowerProcessPriority();
    const nice = (s) => Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[16]);
    console.log(JSON.stringify({ ok, nices: readdirSync('/proc/self/task').map((t) => nice(readFileSync('/proc/self/task/' + t + '/stat', 'utf8'))) }));`;
  const got = JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as { ok: boolean; nices: number[] };
  assert.equal(got.ok, true);
  assert.ok(got.nices.length > 1, 'node has helper threads');
  for (const n of got.nices) assert.equal(n, Math.max(BACKGROUND_NICE, Math.min(...before)), 'each thread of the child at the background nice value');
  assert.deepEqual(ownNices(), before, 'this process keeps its own');
});

test('runChild: the reply of a child process, and a child that exits without one is an error', async () => {
  const echo = join(__dirname, 'echo-child.js');
  assert.deepEqual(await runChild(echo, { n: 2, bytes: new Uint8Array([1, 2]) }), { n: 3, bytes: new Uint8Array([1, 2, 9]) });
  await assert.rejects(runChild(echo, { n: -1, bytes: new Uint8Array() }), /exited \(code 3\) before answering/);
});
