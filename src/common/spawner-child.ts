// Child-process entry of Spawner (worker.ts): forks the scripts its parent asks for, relays one message each
// way, and reports how each ended. It stays small (no heap worth copying), so its forks are cheap.
import { fork, type ChildProcess } from 'node:child_process';
import { lowerProcessPriority, type SpawnerReply, type SpawnerRequest } from './worker';

const children = new Set<ChildProcess>();
const reply = (r: SpawnerReply): void => {
  if (process.connected) process.send?.(r, () => undefined);
};

function start(req: SpawnerRequest): void {
  let settled = false;
  const settle = (r: SpawnerReply): void => {
    if (settled) return;
    settled = true;
    reply(r);
  };
  const child = fork(req.file, [], { serialization: 'advanced', execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.once('message', (m: unknown) => settle({ id: req.id, ok: true, reply: m }));
  child.once('error', (err) => settle({ id: req.id, ok: false, message: err.message }));
  child.once('exit', (code, signal) => {
    children.delete(child);
    settle({ id: req.id, ok: false, message: `${req.file} exited (${signal ?? `code ${code}`}) before answering` });
  });
  child.send(req.message as object, (err) => {
    if (err) settle({ id: req.id, ok: false, message: err.message });
  });
}

if (process.send) {
  // Every fork inherits the nice value: a build is in the background from its first instruction, module loading included.
  if (process.argv[2]) lowerProcessPriority(Number(process.argv[2]));
  process.on('message', start);
  // The parent gone (exit, crash, kill -9): the builds it asked for have nobody to answer to.
  process.once('disconnect', () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(0);
  });
}
