import { execFile } from 'node:child_process';

export interface DigResult {
  status: string;
  flags: string[];
  answer: string[][];
  authority: string[][];
  additional: string[][];
  /** `; CLIENT-SUBNET: 1.2.3.0/24/20` parsed, or null. */
  ecs: { address: string; source: number; scope: number } | null;
  edns: { version: number; udp: number; flags: string } | null;
  raw: string;
}

/** Runs the real `dig` against 127.0.0.1:port and parses its standard output. */
export function dig(port: number, args: string[], server = '127.0.0.1'): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    execFile('dig', [`@${server}`, '-p', String(port), '+tries=1', '+time=2', ...args], (err, stdout) => {
      if (err && !stdout) return reject(err);
      resolve(parseDig(stdout));
    });
  });
}

export function parseDig(out: string): DigResult {
  const res: DigResult = { status: '', flags: [], answer: [], authority: [], additional: [], ecs: null, edns: null, raw: out };
  let section: 'answer' | 'authority' | 'additional' | null = null;
  for (const line of out.split('\n')) {
    let m = /status: (\w+)/.exec(line);
    if (m) res.status = m[1];
    m = /;; flags: ([a-z ]*);/.exec(line);
    if (m) res.flags = m[1].trim().split(/\s+/).filter(Boolean);
    m = /; CLIENT-SUBNET: (.+)\/(\d+)\/(\d+)/.exec(line);
    if (m) res.ecs = { address: m[1], source: Number(m[2]), scope: Number(m[3]) };
    m = /; EDNS: version: (\d+), flags:([^;]*); udp: (\d+)/.exec(line);
    if (m) res.edns = { version: Number(m[1]), flags: m[2].trim(), udp: Number(m[3]) };
    if (/^;; ANSWER SECTION/.test(line)) section = 'answer';
    else if (/^;; AUTHORITY SECTION/.test(line)) section = 'authority';
    else if (/^;; ADDITIONAL SECTION/.test(line)) section = 'additional';
    else if (line.trim() === '') section = null;
    else if (section && !line.startsWith(';')) res[section].push(line.split(/\s+/));
  }
  return res;
}
