import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BACKGROUND_NICE, runChild, Spawner } from '../../src/common/worker';

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

/** State and parent of a process from /proc/PID/stat (fields after the command, which may hold spaces); null when gone. */
const statOf = (pid: number | string): { state: string; ppid: number } | null => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0], ppid: Number(rest[1]) };
  } catch {
    return null;
  }
};
const alive = (pid: number): boolean => {
  const st = statOf(pid);
  return st !== null && st.state !== 'Z';
};
const childrenOf = (pid: number): number[] =>
  readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p) && statOf(p)?.ppid === pid && statOf(p)?.state !== 'Z')
    .map(Number);
const until = async (what: string, ok: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(ok(), what);
};

test('Spawner: replies come back through the helper, whose forks run at its nice value; failures are errors', async () => {
  const echo = join(__dirname, 'echo-child.js');
  const s = new Spawner();
  try {
    const helper = s.pid as number;
    assert.deepEqual(await s.run(echo, { n: 2, bytes: new Uint8Array([1, 2]) }), { n: 3, bytes: new Uint8Array([1, 2, 9]) });
    const who = await s.run<{ nice: number; pid: number; ppid: number }>(echo, { n: 100, bytes: new Uint8Array() });
    assert.equal(who.ppid, helper, 'forked by the helper, not by this process');
    assert.equal(who.nice, Math.max(BACKGROUND_NICE, ...ownNices().slice(0, 1)), 'born at the background nice value');
    await assert.rejects(s.run(echo, { n: -1, bytes: new Uint8Array() }), /exited \(code 3\) before answering/);
    // Two at once: each reply finds its own caller.
    const [a, b] = await Promise.all([s.run(echo, { n: 10, bytes: new Uint8Array() }), s.run(echo, { n: 20, bytes: new Uint8Array() })]);
    assert.deepEqual([a, b], [{ n: 11, bytes: new Uint8Array([9]) }, { n: 21, bytes: new Uint8Array([9]) }]);
    assert.equal(s.pid, helper, 'one helper for every run');
  } finally {
    s.close();
  }
});

test('Spawner: the helper killed mid-run fails that run and the next run makes a new helper; close ends the helper and its build', async () => {
  const echo = join(__dirname, 'echo-child.js');
  const s = new Spawner(null);
  const first = s.pid as number;
  const hung = s.run(echo, { n: -2, bytes: new Uint8Array() });
  await new Promise((r) => setTimeout(r, 300)); // the hung child is forked
  process.kill(first, 'SIGKILL');
  await assert.rejects(hung, /spawner process exited \(SIGKILL\)/);
  assert.deepEqual(await s.run(echo, { n: 1, bytes: new Uint8Array() }), { n: 2, bytes: new Uint8Array([9]) });
  const second = s.pid as number;
  assert.notEqual(second, first);
  const pending = s.run(echo, { n: -3, bytes: new Uint8Array() });
  const who = await s.run<{ pid: number }>(echo, { n: 100, bytes: new Uint8Array() });
  await until('the hung build is running', () => childrenOf(second).length === 1);
  const hungBuild = childrenOf(second)[0];
  s.close();
  await assert.rejects(pending, /spawner closed/);
  await assert.rejects(s.run(echo, { n: 1, bytes: new Uint8Array() }), /spawner closed/);
  await until('the helper is gone after close', () => !alive(second));
  await until('and the build it was running', () => !alive(hungBuild));
  assert.ok(!alive(who.pid), 'the answered child exited');
});

test('Spawner: when its parent dies the helper ends, and so does a build it was running', async () => {
  const mod = join(__dirname, '../../src/common/worker.js');
  const echo = join(__dirname, 'echo-child.js');
  // A parent that makes a spawner, starts a run that never answers, prints the helper's pid, then waits to be killed.
  const script = `const { Spawner } = require(${JSON.stringify(mod)});
    const s = new Spawner(null);
    s.run(${JSON.stringify(echo)}, { n: -2, bytes: new Uint8Array() }).catch(() => {});
    setTimeout(() => console.log(s.pid), 300);
    setInterval(() => {}, 1000);`;
  const { spawn } = await import('node:child_process');
  const parent = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const helper = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
  const kids = (): number[] => childrenOf(helper);
  await until('the helper forked the hung build', () => kids().length === 1);
  const build = kids()[0];
  parent.kill('SIGKILL');
  await until('the helper ends with its parent', () => !alive(helper));
  await until('the build it ran ends too', () => !alive(build));
});
