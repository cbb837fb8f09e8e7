/**
 * The soak (see test/soak/README.md): a geosteer serve backed by a real Redis,
 * one geosteer probe, and a fixed-rate load for MINUTES, while one
 * datacenter's health endpoint flips every 30 s and the map is rewritten every
 * 60 s. Samples RSS, fds, event-loop delay and CPU every 5 s, then prints and
 * writes RESULTS.md with a PASS/FAIL line.
 *
 *   npm run soak                                  # 10 minutes at 45,000 QPS
 *   npm run soak -- --minutes 1 --rate 20000      # a quick look
 *
 * Everything it starts (redis-server, serve, probe, dnsperf, HTTP endpoints,
 * temp files) is torn down at the end, on failure and on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Endpoint } from '../helpers/endpoint';
import { freePort, redisAvailable, TestRedis } from '../helpers/redis';
import { runDnsperf, runNodeSender, soakQueries, writeQueryFile, type RunningLoad } from './load';
import { ask, pickMetrics, scrapeOnce } from './observe';
import { coreTicks, isAlive, treeCpuTicks, treeFds, treeRssMb, TICKS_PER_SECOND } from './procfs';
import { judge, renderReport, type FlipRecord, type ReloadRecord, type Sample, type SoakReport } from './report';

const ROOT = resolve(__dirname, '../../..');
const MAIN = join(ROOT, 'dist/src/cli/main.js');
/** The anchors' `wide` workload (bench/README.md), made by `bash ../shared/bench/run-anchors.sh --install-only`. */
const ANCHOR_QUERIES = '/tmp/geodns-bench/queries/wide-ecs.bin';

/** The flipped datacenter and how the soak sees it: a Guangdong /24 is `south`, whose list is [south, north, overseas]. */
const FLIP_DC = 'south';
const FLIP_SUBNET = '183.6.0.0';
const ANSWER_UP = '192.0.2.1';
const ANSWER_DOWN = '192.0.2.2';
const RELOAD_NAME = 'soak.example.test';
/** Check timing: a flip shows in ~1-1.5 s (2 checks 500 ms apart), far inside the 30 s (slice: 5 s) between flips. */
const CHECK = { interval: '500ms', timeout: '400ms', fall: 2, rise: 2 };
/** How often the observer asks for the flipped answer and the reloaded TXT record. */
const OBSERVE_MS = 250;

interface Options {
  seconds: number;
  rate: number;
  flipEveryS: number;
  reloadEveryS: number;
  sampleEveryS: number;
  sender: 'dnsperf' | 'node';
  queries: string | null;
  pin: boolean;
  serverCpu: number;
  clientCpu: number;
  dnsperfOpts: string[];
  results: string | null;
  json: boolean;
  quiet: boolean;
}

/** `30s`, `1m`, `500ms` or plain seconds, in seconds. */
function seconds(name: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new UsageError(`--${name}: "${v}" is not a duration (e.g. 30s, 1m, 500ms)`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
}

class UsageError extends Error {}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      minutes: { type: 'string' },
      seconds: { type: 'string' },
      rate: { type: 'string' },
      'flip-every': { type: 'string' },
      'reload-every': { type: 'string' },
      'sample-every': { type: 'string' },
      sender: { type: 'string' },
      queries: { type: 'string' },
      'no-pin': { type: 'boolean' },
      'server-cpu': { type: 'string' },
      'client-cpu': { type: 'string' },
      'dnsperf-opts': { type: 'string' },
      results: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(
      'usage: soak [--minutes 10 | --seconds S] [--rate 45000] [--flip-every 30s] [--reload-every 60s] [--sample-every 5s]\n' +
        '            [--sender dnsperf|node] [--queries FILE] [--no-pin] [--server-cpu 1] [--client-cpu 0]\n' +
        "            [--dnsperf-opts '-c 4 -q 500 -T 1'] [--results FILE|off] [--json] [--quiet]\n",
    );
    process.exit(0);
  }
  const dur = values.seconds !== undefined ? seconds('seconds', values.seconds) : seconds('minutes', values.minutes ?? '10') * 60;
  const rate = Number(values.rate ?? 45000);
  if (!Number.isInteger(rate) || rate < 1 || rate > 1_000_000) throw new UsageError('--rate must be a whole number of queries per second');
  const flipEveryS = seconds('flip-every', values['flip-every'] ?? '30s');
  const reloadEveryS = seconds('reload-every', values['reload-every'] ?? '60s');
  const sampleEveryS = seconds('sample-every', values['sample-every'] ?? '5s');
  if (dur < 10 || dur > 24 * 3600) throw new UsageError('the run must last from 10 s to 24 h');
  if (flipEveryS < 3 || reloadEveryS < 3) throw new UsageError('--flip-every and --reload-every must be at least 3s (a flip takes ~1.5 s to show)');
  if (sampleEveryS < 1) throw new UsageError('--sample-every must be at least 1s');
  const hasDnsperf = spawnSync('dnsperf', ['-h']).error === undefined;
  const sender = values.sender ?? (hasDnsperf ? 'dnsperf' : 'node');
  if (sender !== 'dnsperf' && sender !== 'node') throw new UsageError('--sender must be dnsperf or node');
  if (sender === 'dnsperf' && !hasDnsperf) throw new UsageError('dnsperf is not installed (apt-get install dnsperf), or use --sender node');
  const pin = !values['no-pin'] && cpus().length >= 2 && spawnSync('taskset', ['-V']).error === undefined;
  return {
    seconds: Math.round(dur),
    rate,
    flipEveryS,
    reloadEveryS,
    sampleEveryS,
    sender,
    queries: values.queries ?? null,
    pin,
    serverCpu: Number(values['server-cpu'] ?? 1),
    clientCpu: Number(values['client-cpu'] ?? 0),
    dnsperfOpts: (values['dnsperf-opts'] ?? '-c 4 -q 500 -T 1').split(/\s+/).filter(Boolean),
    results: values.results === 'off' ? null : resolve(values.results ?? join(ROOT, 'test/soak/RESULTS.md')),
    json: values.json === true,
    quiet: values.quiet === true,
  };
}

/** bench/map.yaml plus a health check on www against our endpoints and a TXT record that each reload changes. */
function renderMap(bench: string, ports: Record<string, number>, serial: number): string {
  const svc = '  www.example.test:\n    ttl: 300\n';
  const rec = '      static  A   192.0.2.10\n';
  if (!bench.includes(svc) || !bench.includes(rec)) throw new Error('bench/map.yaml changed layout: update renderMap in test/soak/soak.ts');
  const targets = Object.entries(ports).map(([dc, p]) => `${dc}: "127.0.0.1:${p}"`).join(', ');
  const check = [
    '    check:',
    '      type: http',
    '      path: /health',
    `      interval: ${CHECK.interval}`,
    `      timeout: ${CHECK.timeout}`,
    `      fall: ${CHECK.fall}`,
    `      rise: ${CHECK.rise}`,
    `      targets: { ${targets} }`,
    '',
  ].join('\n');
  return bench.replace(svc, svc + check).replace(rec, `${rec}      soak    TXT "reload-${serial}"\n`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** Everything started, in start order; torn down in reverse, also from a signal or the process 'exit'. */
class Teardown {
  private readonly steps: Array<{ what: string; fn: () => Promise<void> | void }> = [];
  readonly children: ChildProcess[] = [];
  private done = false;

  add(what: string, fn: () => Promise<void> | void): void {
    this.steps.push({ what, fn });
  }

  /** A child stopped by SIGTERM (SIGKILL after 5 s). */
  child(what: string, c: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): ChildProcess {
    this.children.push(c);
    this.add(what, () => stopChild(c, signal));
    return c;
  }

  async run(): Promise<void> {
    if (this.done) return;
    this.done = true;
    for (const s of this.steps.reverse()) {
      try {
        await s.fn();
      } catch (err) {
        process.stderr.write(`soak: teardown of ${s.what}: ${(err as Error).message}\n`);
      }
    }
  }

  /** Last resort on process exit: no awaiting possible, so SIGKILL whatever still runs. */
  killNow(): void {
    for (const c of this.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

async function stopChild(c: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((r) => c.once('exit', () => r()));
  c.kill(signal);
  const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}

/** Collects a child's output lines (bounded), and resolves `first(re)` when a line matches. */
class Output {
  readonly lines: string[] = [];
  private waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  constructor(c: ChildProcess) {
    let buf = '';
    const take = (d: Buffer): void => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (this.lines.length < 20000) this.lines.push(line);
        this.waiters = this.waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
      }
    };
    c.stdout?.on('data', take);
    c.stderr?.on('data', take);
  }

  first(re: RegExp, timeoutMs: number, what: string): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: nothing after ${timeoutMs} ms; output:\n${this.lines.slice(-20).join('\n')}`)), timeoutMs);
      this.waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }

  /** Warnings and errors of a pino JSON log. */
  notes(max = 30): string[] {
    const out: string[] = [];
    for (const l of this.lines) {
      try {
        const j = JSON.parse(l) as { level?: number; msg?: string };
        if ((j.level ?? 0) >= 40 && out.length < max) out.push(`${j.level === 40 ? 'WARN' : 'ERROR'} ${j.msg ?? l}`);
      } catch {
        if (l.trim() && out.length < max) out.push(l);
      }
    }
    return out;
  }
}

function machine(o: Options): string {
  const c = cpus();
  const dnsperf = o.sender === 'dnsperf' ? (/Version ([\d.]+)/.exec((({ stdout, stderr }) => `${stdout}${stderr}`)(spawnSync('dnsperf', ['-h'], { encoding: 'utf8' })))?.[1] ?? '?') : null;
  return `${c.length} CPUs (${c[0]?.model.trim() ?? '?'}), Linux ${release()}, Node ${process.version}${dnsperf ? `, dnsperf ${dnsperf}` : ''}`;
}

function commit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  return `${r.stdout?.trim() || '?'}${dirty ? ' (src modified)' : ''}`;
}

/** Times in seconds since the load started: flips at k * every, reloads half a flip period before each reload period ends (never together). */
export function schedule(o: Pick<Options, 'seconds' | 'flipEveryS' | 'reloadEveryS'>): { flips: number[]; reloads: number[] } {
  const flips: number[] = [];
  for (let t = o.flipEveryS; t <= o.seconds - o.flipEveryS + 1e-9; t += o.flipEveryS) flips.push(Math.round(t * 1000) / 1000);
  const reloads: number[] = [];
  const offset = Math.min(o.flipEveryS / 2, o.reloadEveryS / 2);
  for (let t = o.reloadEveryS - offset; t <= o.seconds - Math.min(10, o.reloadEveryS / 2) + 1e-9; t += o.reloadEveryS) reloads.push(Math.round(t * 1000) / 1000);
  return { flips, reloads };
}

async function soak(o: Options, td: Teardown, log: (s: string) => void, aborted: () => string | null): Promise<SoakReport> {
  const dir = mkdtempSync(join(tmpdir(), 'geosteer-soak-'));
  td.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, 'Z');

  // Health endpoints the probe checks: one per datacenter; only south's ever fails.
  const endpoints: Record<string, Endpoint> = {};
  for (const dc of ['south', 'north', 'overseas']) {
    const e = await Endpoint.start();
    endpoints[dc] = e;
    td.add(`endpoint ${dc}`, () => e.close());
  }
  const ports = Object.fromEntries(Object.entries(endpoints).map(([dc, e]) => [dc, e.port]));
  const bench = readFileSync(join(ROOT, 'bench/map.yaml'), 'utf8');
  const mapPath = join(dir, 'map.yaml');
  /** Atomic replace, as deploy tools do: the server never reads a half-written file. */
  const installMap = (serial: number): void => {
    const tmp = join(dir, `.map-${serial}.tmp`);
    writeFileSync(tmp, renderMap(bench, ports, serial));
    renameSync(tmp, mapPath);
  };
  installMap(0);

  const redis = await TestRedis.start();
  td.add('redis-server', () => redis.stop());
  const adminPort = await freePort();
  const pin = (cpu: number, argv: string[]): string[] => (o.pin ? ['taskset', '-c', String(cpu), ...argv] : argv);
  const serveArgv = pin(o.serverCpu, [process.execPath, MAIN, 'serve', '--config', mapPath, '--listen', '127.0.0.1:0', '--workers', '1', '--redis', redis.url, '--metrics-listen', `127.0.0.1:${adminPort}`, '--id', 'soak']);
  const serve = td.child('serve', spawn(serveArgv[0], serveArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  const serveOut = new Output(serve);
  const serving = await serveOut.first(/"geosteer serving"/, 60_000, 'serve did not start');
  const port = Number(/"listen":\["127\.0\.0\.1:(\d+)"/.exec(serving)?.[1]);
  if (!port) throw new Error(`no DNS port in: ${serving}`);
  const probeArgv = [process.execPath, MAIN, 'probe', '--config', mapPath, '--redis', redis.url, '--id', 'soak-probe', '--metrics-listen', 'off'];
  const probe = td.child('probe', spawn(probeArgv[0], probeArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }));
  const probeOut = new Output(probe);
  await probeOut.first(/geosteer probe running/, 30_000, 'probe did not start');
  const show = (argv: string[]): string => argv.map((a) => a.replace(ROOT + '/', '').replace(process.execPath, 'node').replace(dir, '$TMP')).join(' ');

  // Ready when serve's mirror holds the probe's first vote for the flipped datacenter.
  const readyBy = Date.now() + 30_000;
  for (;;) {
    const m = await scrapeOnce(adminPort).catch(() => null);
    if (m && m.samples.some((s) => s.name === 'geosteer_health_vote_up' && s.labels.dc === FLIP_DC)) break;
    if (Date.now() > readyBy) throw new Error('serve never saw a vote from the probe');
    await sleep(200);
  }
  if ((await ask(port, 'www.example.test', 1, FLIP_SUBNET)) !== ANSWER_UP) throw new Error(`the south answer is not ${ANSWER_UP} before the run`);

  let queryFile = o.queries ?? (existsSync(ANCHOR_QUERIES) ? ANCHOR_QUERIES : null);
  if (o.sender === 'dnsperf' && !queryFile) {
    queryFile = join(dir, 'queries.bin');
    writeQueryFile(queryFile, soakQueries(60_000));
  }
  const loadOpts = { port, rate: o.rate, seconds: o.seconds, intervalS: o.sampleEveryS };
  const load: RunningLoad =
    o.sender === 'dnsperf'
      ? runDnsperf({ ...loadOpts, queryFile: queryFile as string, cpu: o.pin ? o.clientCpu : null, extra: o.dnsperfOpts })
      : runNodeSender({ ...loadOpts, queries: soakQueries(6000) });
  td.add('load', async () => {
    load.stop();
    await load.done.catch(() => undefined);
  });
  const loadDone = load.done.then(
    (r) => ({ ok: true as const, r }),
    (err: Error) => ({ ok: false as const, err }),
  );
  const t0 = performance.now();
  const now = (): number => (performance.now() - t0) / 1000;
  const plan = schedule(o);
  log(`load: ${o.sender} at ${o.rate} QPS for ${o.seconds} s against 127.0.0.1:${port}; ${plan.flips.length} flips, ${plan.reloads.length} reloads`);

  // The observer: the flipped region's answer and the reloaded TXT record, every OBSERVE_MS.
  const flips: FlipRecord[] = [];
  const reloads: ReloadRecord[] = [];
  let observedUp = true;
  let unexpected = 0;
  let observerMisses = 0;
  let running = true;
  const observer = (async () => {
    while (running) {
      const tick = performance.now();
      const [a, txt] = await Promise.all([ask(port, 'www.example.test', 1, FLIP_SUBNET), ask(port, RELOAD_NAME, 16, null)]);
      const t = now();
      if (a === undefined || txt === undefined) observerMisses++;
      if (a === ANSWER_UP || a === ANSWER_DOWN) {
        const up = a === ANSWER_UP;
        if (up !== observedUp) {
          observedUp = up;
          const f = flips[flips.length - 1];
          if (f && f.up === up && f.seenAfter === null) f.seenAfter = Math.round((t - f.at) * 100) / 100;
          else unexpected++;
        }
      }
      const r = reloads[reloads.length - 1];
      if (r && r.seenAfter === null && txt === `reload-${r.serial}`) r.seenAfter = Math.round((t - r.at) * 100) / 100;
      await sleep(OBSERVE_MS - (performance.now() - tick));
    }
  })();

  // Samples: /proc for serve and probe, /metrics for the event loop and the reload counter.
  const samples: Sample[] = [];
  let lastTicks = treeCpuTicks(serve.pid as number);
  let lastCore = coreTicks(o.pin ? o.serverCpu : 0);
  let lastT = 0;
  let lastReloadsOk = 0;
  let lastReloadsFailed = 0;
  const takeSample = async (): Promise<void> => {
    const m = await scrapeOnce(adminPort).then((p) => pickMetrics(p, FLIP_DC)).catch(() => null);
    const t = now();
    const ticks = treeCpuTicks(serve.pid as number);
    const core = coreTicks(o.pin ? o.serverCpu : 0);
    const dt = t - lastT;
    const first = samples.length === 0;
    const s: Sample = {
      t: Math.round(t),
      rssMb: treeRssMb(serve.pid as number),
      fds: treeFds(serve.pid as number),
      probeFds: treeFds(probe.pid as number),
      probeRssMb: treeRssMb(probe.pid as number),
      // The first sample only sets the baselines: its interval is the start-up, not the run.
      loopP99Ms: first || !m ? null : m.loopP99Ms,
      loopMaxMs: first || !m ? null : m.loopMaxMs,
      cpuPct: first || dt <= 0 ? null : ((ticks - lastTicks) / TICKS_PER_SECOND / dt) * 100,
      coreBusyPct: first || core[1] <= lastCore[1] ? null : ((core[0] - lastCore[0]) / (core[1] - lastCore[1])) * 100,
      reloadsOk: m ? m.reloadsOk : null,
      reloadsFailed: m ? m.reloadsFailed : null,
      heapUsedMb: m ? m.heapUsedMb : null,
      externalMb: m ? m.externalMb : null,
      handles: m ? m.handles : null,
    };
    [lastTicks, lastCore, lastT] = [ticks, core, t];
    if (m) [lastReloadsOk, lastReloadsFailed] = [m.reloadsOk, m.reloadsFailed];
    // A reload counts once the TXT answer showed it and the counter has reached it.
    reloads.forEach((r, i) => {
      if (r.seenAfter !== null && lastReloadsOk >= i + 1) r.counted = true;
    });
    samples.push(s);
    if (samples.length % Math.max(1, Math.round(60 / o.sampleEveryS)) === 0 || t >= o.seconds)
      log(`t=${s.t}s RSS ${s.rssMb.toFixed(1)} MB, fds ${s.fds}, loop p99 ${s.loopP99Ms?.toFixed(1) ?? '-'} ms, CPU ${s.cpuPct?.toFixed(0) ?? '-'}%, flips ${flips.filter((f) => f.seenAfter !== null).length}/${flips.length}, reloads ${lastReloadsOk}`);
  };

  type Ev = { at: number; kind: 'flip' | 'reload' | 'sample' };
  const events: Ev[] = [
    ...plan.flips.map((at) => ({ at, kind: 'flip' as const })),
    ...plan.reloads.map((at) => ({ at, kind: 'reload' as const })),
    ...Array.from({ length: Math.floor(o.seconds / o.sampleEveryS) + 1 }, (_, i) => ({ at: i * o.sampleEveryS, kind: 'sample' as const })),
  ].sort((a, b) => a.at - b.at);
  let flipUp = true;
  try {
    for (const ev of events) {
      while (now() < ev.at) {
        const why = aborted() ?? (!isAlive(serve.pid as number) ? 'serve died' : !isAlive(probe.pid as number) ? 'probe died' : null);
        if (why) throw new Error(`${why}; serve log tail:\n${serveOut.lines.slice(-20).join('\n')}`);
        await sleep(Math.min(100, (ev.at - now()) * 1000));
      }
      if (ev.kind === 'flip') {
        flipUp = !flipUp;
        endpoints[FLIP_DC].status = flipUp ? 200 : 503;
        flips.push({ at: Math.round(now() * 100) / 100, up: flipUp, seenAfter: null });
      } else if (ev.kind === 'reload') {
        const serial = reloads.length + 1;
        installMap(serial);
        reloads.push({ at: Math.round(now() * 100) / 100, serial, seenAfter: null, counted: false });
      } else {
        await takeSample();
      }
    }
    const end = await loadDone;
    if (!end.ok) throw end.err;
    // Settle the counters once more (the last reload may have been seen after the last sample).
    const m = await scrapeOnce(adminPort).then((p) => pickMetrics(p, FLIP_DC)).catch(() => null);
    if (m) [lastReloadsOk, lastReloadsFailed] = [m.reloadsOk, m.reloadsFailed];
    reloads.forEach((r, i) => {
      if (r.seenAfter !== null && lastReloadsOk >= i + 1) r.counted = true;
    });
    // The flips' own DOWN lines are expected: keep everything else.
    const expected = (l: string): boolean => /www\.example\.test in south is now DOWN/.test(l);
    const notes = serveOut.notes().filter((l) => !expected(l));
    if (observerMisses) notes.push(`observer: ${observerMisses} of its own queries got no reply within 1 s`);
    return {
      startedAt,
      machine: machine(o),
      commit: commit(),
      durationS: o.seconds,
      rate: o.rate,
      flipEveryS: o.flipEveryS,
      reloadEveryS: o.reloadEveryS,
      sampleEveryS: o.sampleEveryS,
      serveCommand: show(serveArgv),
      probeCommand: show(probeArgv),
      load: { ...end.r, command: show(end.r.command.split(' ')) },
      flips,
      reloads,
      unexpectedTransitions: unexpected,
      reloadsOk: lastReloadsOk,
      reloadsFailed: lastReloadsFailed,
      samples,
      serverLogNotes: [...notes, ...probeOut.notes().filter((l) => !expected(l)).slice(0, 10).map((l) => `probe: ${l}`)],
    };
  } finally {
    running = false;
    await observer;
  }
}

async function main(): Promise<number> {
  // `node --test` may pick this file up: never start a soak unasked.
  if (process.env.NODE_TEST_CONTEXT && process.argv.length <= 2) return 0;
  let o: Options;
  try {
    o = parseOptions(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    return 2;
  }
  if (!existsSync(MAIN)) {
    process.stderr.write(`soak: ${MAIN} missing: npm run build\n`);
    return 2;
  }
  if (!redisAvailable()) {
    process.stderr.write('soak: redis-server is not installed (apt-get install redis-server)\n');
    return 2;
  }
  const log = (s: string): void => {
    if (!o.quiet) process.stderr.write(`soak: ${s}\n`);
  };
  const td = new Teardown();
  let abortedBy: string | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abortedBy) {
      td.killNow(); // a second Ctrl-C: do not wait for a graceful stop
      process.exit(130);
    }
    abortedBy = `interrupted by ${sig}`;
    log(`${sig}: stopping and cleaning up (again to force)`);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);
  process.on('exit', () => td.killNow());
  let report: SoakReport;
  try {
    report = await soak(o, td, log, () => abortedBy);
  } catch (err) {
    process.stderr.write(`soak: ${(err as Error).message}\n`);
    return abortedBy ? 130 : 1;
  } finally {
    await td.run();
  }
  const verdict = judge(report);
  const md = renderReport(report, verdict);
  process.stdout.write(md + '\n');
  if (o.results) {
    writeFileSync(o.results, md);
    log(`written to ${o.results}`);
  }
  if (o.json) process.stdout.write(`SOAK_SUMMARY ${JSON.stringify({ ...report, verdict })}\n`);
  return verdict.pass ? 0 : 1;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`soak: ${err.stack ?? err.message}\n`);
      process.exit(2);
    },
  );
}
