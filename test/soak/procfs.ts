import { readdirSync, readFileSync } from 'node:fs';

/**
 * What the soak reads from /proc about a process tree: RSS, open fds, CPU
 * ticks, and how busy one core is. Every reader returns 0 for a process that
 * is gone (it is sampled while it may be exiting).
 */

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** The process and its descendants (cluster workers), via /proc/PID/task/TID/children. */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      for (const c of read(`/proc/${out[i]}/task/${t}/children`).split(' ')) if (c.trim()) out.push(Number(c));
    }
  }
  return out;
}

/** Sum over the tree of VmRSS, in MB. */
export function treeRssMb(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) kb += Number(/VmRSS:\s+(\d+)/.exec(read(`/proc/${p}/status`))?.[1] ?? 0);
  return kb / 1024;
}

/** Sum over the tree of entries in /proc/PID/fd. */
export function treeFds(pid: number): number {
  let n = 0;
  for (const p of processTree(pid)) {
    try {
      n += readdirSync(`/proc/${p}/fd`).length;
    } catch {
      // gone
    }
  }
  return n;
}

/** utime + stime of the tree, in clock ticks (USER_HZ, 100 on Linux). */
export function treeCpuTicks(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const stat = read(`/proc/${p}/stat`);
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the comm: state is f[0], utime f[11], stime f[12] (man 5 proc: fields 14 and 15).
    if (f.length > 12) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks;
}

export const TICKS_PER_SECOND = 100;

/** [busy, total] jiffies of one CPU from /proc/stat (busy = all but idle and iowait). */
export function coreTicks(cpu: number): [number, number] {
  const line = read('/proc/stat').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return [0, 0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return [total - v[3] - v[4], total];
}

/** Alive and not a zombie. */
export function isAlive(pid: number): boolean {
  const stat = read(`/proc/${pid}/stat`);
  return stat !== '' && stat[stat.lastIndexOf(')') + 2] !== 'Z';
}
