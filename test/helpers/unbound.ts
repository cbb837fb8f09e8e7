import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './redis';
import { until } from './wait';

// A real validating resolver for the DNSSEC tests: unbound with a trust-anchor file, stub zones to geosteer
// on loopback ("." too, which geosteer refuses, so nothing leaves the machine). `extra`: more server: lines.

export interface Unbound {
  port: number;
  proc: ChildProcess;
  exited: Promise<unknown>;
  log: string;
}

export async function startUnbound(dir: string, name: string, upstream: number, anchor: string, extra = ''): Promise<Unbound> {
  const port = await freePort();
  const conf = join(dir, `${name}.conf`);
  writeFileSync(
    conf,
    `server:
  interface: 127.0.0.1
  port: ${port}
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "${dir}"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  module-config: "subnetcache validator iterator"
  send-client-subnet: 127.0.0.1
  client-subnet-always-forward: yes
  max-client-subnet-ipv4: 24
  trust-anchor-file: "${anchor}"
  val-log-level: 2
  qname-minimisation: no
  harden-referral-path: no
  prefetch: no
${extra}stub-zone:
  name: "."
  stub-addr: 127.0.0.1@${upstream}
stub-zone:
  name: "example.com"
  stub-addr: 127.0.0.1@${upstream}
`,
  );
  const proc = spawn('unbound', ['-d', '-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  const u: Unbound = { port, proc, exited: new Promise((r) => proc.once('exit', r)), log: '' };
  proc.stdout?.on('data', (b: Buffer) => (u.log += b.toString()));
  proc.stderr?.on('data', (b: Buffer) => (u.log += b.toString()));
  await until('unbound to start', () => {
    if (proc.exitCode !== null) throw new Error(`unbound exited ${proc.exitCode}:\n${u.log}`);
    return u.log.includes('start of service');
  }, 15_000);
  return u;
}

