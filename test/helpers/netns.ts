import { spawnSync } from 'node:child_process';

/**
 * Network namespaces for the fleet drill: each lab creates its own
 * namespaces (named `gs<pid>-NAME`, so parallel runs never clash), joins them
 * with veth pairs created directly inside them (nothing is added to the
 * host's own namespace), cuts and heals those links, and removes everything
 * in `remove()`. Needs root and iproute2's `ip`.
 */

const PREFIX_RE = /^gs(\d+)-/;

/** Runs `ip ARGS`; throws with ip's own message on failure. */
function ip(args: string[], timeoutMs = 5000): string {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) throw new Error(`ip ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.stdout).trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** Names of every namespace `ip netns list` shows. */
function listNamespaces(): string[] {
  return ip(['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter(Boolean);
}

const pidAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Pids of the processes running inside namespace NS. */
export function netnsPids(ns: string): number[] {
  try {
    return ip(['netns', 'pids', ns])
      .split('\n')
      .map(Number)
      .filter((n) => Number.isInteger(n) && n > 0);
  } catch {
    return [];
  }
}

/** Why namespaces cannot be used here (not root, no `ip`, EPERM), or null when they can: it creates and removes one. */
export function netnsUnavailable(): string | null {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return `not root (uid ${process.getuid()})`;
  const probe = `gs${process.pid}-probe`;
  try {
    ip(['-V']);
  } catch (e) {
    return `no ip command (${(e as Error).message})`;
  }
  try {
    ip(['netns', 'add', probe]);
    ip(['-n', probe, 'link', 'set', 'lo', 'up']);
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    try {
      ip(['netns', 'del', probe]);
    } catch {
      // never created
    }
  }
}

export const netnsAvailable = (): boolean => netnsUnavailable() === null;

/** One end of a veth pair: the namespace it sits in and its device name there. */
export interface LinkEnd {
  ns: string;
  dev: string;
  addr: string;
}

export class NetnsLab {
  readonly prefix = `gs${process.pid}`;
  readonly namespaces: string[] = [];

  /** Removes namespaces left by a crashed run: this prefix (a reused pid) or one whose pid is gone. */
  static removeStale(prefix = `gs${process.pid}`): string[] {
    const removed: string[] = [];
    for (const ns of listNamespaces()) {
      const m = PREFIX_RE.exec(ns);
      if (!m || (ns.startsWith(`${prefix}-`) === false && pidAlive(Number(m[1])))) continue;
      killAll(ns);
      try {
        ip(['netns', 'del', ns]);
        removed.push(ns);
      } catch {
        // gone meanwhile
      }
    }
    return removed;
  }

  /** `gs<pid>-NAME`, created with its loopback up. */
  add(name: string): string {
    const ns = `${this.prefix}-${name}`;
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /** A veth pair between two namespaces, each end named `dev` with its address (CIDR), both up. */
  link(a: { ns: string; dev: string; cidr: string }, b: { ns: string; dev: string; cidr: string }): [LinkEnd, LinkEnd] {
    ip(['link', 'add', a.dev, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.dev, 'netns', b.ns]);
    for (const e of [a, b]) {
      ip(['-n', e.ns, 'addr', 'add', e.cidr, 'dev', e.dev]);
      ip(['-n', e.ns, 'link', 'set', e.dev, 'up']);
    }
    const end = (e: typeof a): LinkEnd => ({ ns: e.ns, dev: e.dev, addr: e.cidr.split('/')[0] });
    return [end(a), end(b)];
  }

  /** The link goes down on this end (the peer loses carrier): packets across it are dropped. */
  cut(e: LinkEnd): void {
    ip(['-n', e.ns, 'link', 'set', e.dev, 'down']);
  }

  /** Up again; the kernel restores the connected route with it. */
  heal(e: LinkEnd): void {
    ip(['-n', e.ns, 'link', 'set', e.dev, 'up']);
  }

  /** The command line that runs CMD inside NS (`ip netns exec` execs CMD: the pid is CMD's, signals reach it). */
  static wrap(ns: string, cmd: string, args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', ns, cmd, ...args]];
  }

  /** Kills whatever still runs in our namespaces (processes this lab's user started there), then deletes them. */
  remove(): void {
    for (const ns of this.namespaces.splice(0)) {
      killAll(ns);
      try {
        ip(['netns', 'del', ns]);
      } catch {
        // already gone
      }
    }
  }
}

/** SIGKILLs each pid inside NS, by id. */
function killAll(ns: string): void {
  for (const pid of netnsPids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
  }
}
