// A child for test/common/worker.test.ts: answers { n + 1, bytes + [9] }; exits with code 3 for n = -1;
// never answers for n = -2 (and ends when its parent is gone) or n = -3 (and stays, as a build busy on
// one long synchronous step would: only a kill ends it); for n = 100 answers who it is: its nice value, pid and parent pid.
import { getPriority } from 'node:os';

process.once('message', (m: { n: number; bytes: Uint8Array }) => {
  if (m.n === -1) process.exit(3);
  if (m.n === -2) {
    // Hangs, but like a build it ends when its parent is gone (an orphan would hold the test's stdout open).
    setInterval(() => undefined, 1000);
    process.once('disconnect', () => process.exit(0));
    return;
  }
  if (m.n === -3) {
    setInterval(() => undefined, 1000);
    return;
  }
  const reply = m.n === 100 ? { nice: getPriority(), pid: process.pid, ppid: process.ppid } : { n: m.n + 1, bytes: new Uint8Array([...m.bytes, 9]) };
  process.send?.(reply, () => process.disconnect());
});
