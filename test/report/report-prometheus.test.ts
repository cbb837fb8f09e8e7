import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import type { Report } from '../../src/report';
import { CLI, cliEnv, runCli, showRun } from '../helpers/cli';
import { stopChild } from '../helpers/process';
import { parseProm, promValue } from '../helpers/prom';
import { freePort } from '../helpers/redis';
import { until } from '../helpers/wait';
import { runTraffic, type QueryKind } from '../load/traffic';

// geosteer report against a real Prometheus (Debian's prometheus package) scraping a real
// `geosteer serve` every second under a bounded load (200 q/s for 20 s over ECS subnets of the three
// regions, gz drained half way through): the report's totals are the served-query counters read from
// /metrics directly. Tolerance: 0.5% (and at least 1 query); the counters are still when the report
// runs and the report takes increases rather than extrapolating, so it is exact in practice.

const TOLERANCE = 0.005;
const ROOT = resolve(__dirname, '../../..');
const CHROMIUM = '/usr/bin/chromium';
// The committed screenshot is refreshed only on request (UPDATE_SCREENSHOT=1), so a test run leaves the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT ? resolve(__dirname, '../../../docs/report.png') : join(tmpdir(), 'geosteer-report.png');
const KINDS: QueryKind[] = [
  { label: 'www/south', name: 'www.example.com', subnet: '183.6.0.0/24' },
  { label: 'www/south2', name: 'www.example.com', subnet: '183.6.7.0/24' },
  { label: 'www/north', name: 'www.example.com', subnet: '202.96.0.0/24' },
  { label: 'www/overseas', name: 'www.example.com', subnet: '8.8.8.0/24' },
  { label: 'www6/overseas', name: 'www.example.com', type: 28, subnet: '8.8.4.0/24' },
];

function prometheusSkip(): string | false {
  const r = spawnSync('prometheus', ['--version'], { encoding: 'utf8' });
  return r.error ? 'prometheus not installed (apt-get install --no-install-recommends prometheus)' : false;
}

const skip = prometheusSkip();
const tmp = mkdtempSync(join(tmpdir(), 'geosteer-report-'));
const children: Array<{ proc: ChildProcess; exited: Promise<unknown> }> = [];
let adminPort = 0;
let promUrl = '';
let dnsPort = 0;

function start(cmd: string, args: string[]): ChildProcess {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: cliEnv() });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise((r) => proc.once('exit', r));
  proc.once('exit', (code) => code && process.stderr.write(`${cmd} exited ${code}: ${stderr}\n`));
  children.push({ proc, exited });
  return proc;
}

async function metrics(): Promise<ReturnType<typeof parseProm>> {
  return parseProm(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text());
}

/** One instant query's scalar result (the sum Prometheus holds now), or null before it has one. */
async function promSum(query: string): Promise<number | null> {
  const r = (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(query)}`)).json()) as { data: { result: Array<{ value: [number, string] }> } };
  return r.data.result.length ? Number(r.data.result[0].value[1]) : null;
}

before(async () => {
  if (skip) return;
  [dnsPort, adminPort] = [await freePort(), await freePort()];
  const promPort = await freePort();
  promUrl = `http://127.0.0.1:${promPort}`;
  start(process.execPath, [CLI, 'serve', '--workers', '1', '--listen', `127.0.0.1:${dnsPort}`, '--metrics-listen', `127.0.0.1:${adminPort}`]);
  await until('serve ready', async () => (await fetch(`http://127.0.0.1:${adminPort}/readyz`).catch(() => null))?.status === 200, 20_000, 100);
  const config = join(tmp, 'prometheus.yml');
  // docs/recording-rules.yml as shipped, evaluated every second instead of 30 s so the test sees them soon.
  writeFileSync(join(tmp, 'recording-rules.yml'), readFileSync(join(ROOT, 'docs/recording-rules.yml'), 'utf8').replace(/^(\s*)interval: \S+$/m, '$1interval: 1s'));
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: ['recording-rules.yml']\nscrape_configs:\n  - job_name: geosteer\n    static_configs:\n      - targets: ['127.0.0.1:${adminPort}']\n`);
  start('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${join(tmp, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn']);
  await until('prometheus ready', async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.status === 200, 20_000, 100);
  // The first scrape before any query: the counters' baseline is in the database.
  await until('first scrape', async () => (await promSum('up{job="geosteer"}').catch(() => null)) === 1, 15_000, 200);
});

after(async () => {
  for (const c of children.reverse()) await stopChild(c.proc, c.exited);
  rmSync(tmp, { recursive: true, force: true });
});

test('geosteer report --period day: its totals are the served-query counters (Prometheus scraping serve every 1 s)', { skip, timeout: 90_000 }, async (t) => {
  const traffic = runTraffic({ port: dnsPort, rate: 200, durationMs: 20_000, kinds: KINDS, validate: () => true });
  // Half way through, gz is drained: south's answers move to bj (the report's failover columns).
  await new Promise((r) => setTimeout(r, 10_000));
  const drain = await runCli(['drain', 'gz', '--for', '10m', '--reason', 'report test', '--server', `127.0.0.1:${adminPort}`]);
  assert.equal(drain.code, 0, showRun(drain));
  const load = await traffic;
  // Whatever was lost on a busy machine, the report must match what the server counted.
  assert.ok(load.ok > 0, `${load.ok}/${load.sent} answered`);

  // The counters are still now; wait until Prometheus has scraped their final values.
  const m = await metrics();
  const served = promValue(m, 'geosteer_dns_requests_total');
  const answers = promValue(m, 'geosteer_routing_answers_total');
  await until('last scrape', async () => (await promSum('sum(geosteer_dns_requests_total)')) === served, 15_000, 200);

  const out = join(tmp, 'out');
  const r = await runCli(['report', '--prometheus', promUrl, '--period', 'day', '--out', out, '--json'], { timeoutMs: 30_000 });
  assert.equal(r.code, 0, showRun(r));
  const report = JSON.parse(r.stdout) as Report;
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')), report);

  const near = (got: number, want: number, what: string): void => {
    assert.ok(Math.abs(got - want) <= Math.max(1, want * TOLERANCE), `${what}: report ${got}, counters ${want}`);
  };
  t.diagnostic(`queries: report ${report.queries.total}, /metrics ${served}; service answers: report ${report.serviceAnswers.total}, /metrics ${answers}; sent ${load.sent}`);
  assert.ok(served >= load.ok);
  near(report.queries.total, served, 'queries');
  near(report.serviceAnswers.total, answers, 'service answers');
  for (const region of ['south', 'north', 'overseas']) {
    const row = report.regions.find((g) => g.region === region);
    assert.ok(row, `region ${region} in the report`);
    near(row.total, promValue(m, 'geosteer_routing_answers_total', { region }), `region ${region}`);
    assert.ok(row.peakQps > 0 && row.peakAt !== null, `${region}: a peak and its hour`);
  }
  for (const d of report.datacenters) near(d.total, promValue(m, 'geosteer_routing_answers_total', { datacenter: d.datacenter }), `datacenter ${d.datacenter}`);
  for (const c of report.cells) near(c.total, promValue(m, 'geosteer_routing_answers_total', { region: c.region, datacenter: c.datacenter }), `${c.region} -> ${c.datacenter}`);
  near(report.datacenters.reduce((a, d) => a + d.share, 0), 1, 'shares add up');
  // The drain moved south (and only south: north and overseas do not start at gz) to bj.
  const south = report.regions.find((g) => g.region === 'south')!;
  near(south.moved, promValue(m, 'geosteer_routing_answers_total', { region: 'south', moved: 'true' }), 'south moved');
  assert.ok(south.moved > 0 && south.movedMinutes > 0);
  assert.equal(report.topMoved[0]?.region, 'south');
  assert.ok(report.datacenters.find((d) => d.datacenter === 'bj')!.movedIn > 0);
  assert.equal(report.headroom.note, 'no capacity declared');
  assert.ok(report.fallback.every((f) => f.minutes === 0), JSON.stringify(report.fallback));

  // The Markdown says the same; the HTML loads nothing from anywhere and runs no script.
  const md = readFileSync(join(out, 'report.md'), 'utf8');
  assert.ok(md.includes(`**${Math.round(served).toLocaleString('en-US')}**`), md);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /<script|\bsrc=|\bhref=|url\(/i);
  assert.match(html, /<svg[^>]*aria-label="queries per second per datacenter"/);
  assert.match(html, /default-src 'none'/);

  const browser = browserSkip();
  if (browser) return t.diagnostic(`no screenshot: ${browser}`);
  await screenshot(join(out, 'report.html'));
});

test('docs/recording-rules.yml and every docs/grafana-dashboard.json query evaluate on that Prometheus, and the main series have data', { skip, timeout: 30_000 }, async () => {
  const query = async (q: string): Promise<{ status: string; error?: string; data?: { result: Array<{ metric: Record<string, string> }> } }> =>
    (await (await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as never;
  // The rule group loaded without an error and every rule is healthy.
  const rules = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } };
  const loaded = rules.data.groups.flatMap((g) => g.rules);
  assert.ok(loaded.length >= 10, JSON.stringify(rules));
  await until('rules evaluated', () => query('region_datacenter:geosteer_routing_answers:rate5m').then((r) => (r.data?.result.length ?? 0) > 0), 15_000, 250);
  const again = (await (await fetch(`${promUrl}/api/v1/rules`)).json()) as typeof rules;
  for (const r of again.data.groups.flatMap((g) => g.rules)) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? r.health}`);
  const regions = (await query('region_datacenter:geosteer_routing_answers:rate5m')).data!.result.map((s) => s.metric.region);
  for (const region of ['south', 'north', 'overseas']) assert.ok(regions.includes(region), `no ${region} in ${regions.join(', ')}`);
  for (const name of ['instance:geosteer_dns_requests:rate5m', 'datacenter:geosteer_routing_answers:share5m', 'instance:geosteer_config_info:version', 'service:geosteer_routing_fallback:active']) {
    assert.ok(((await query(name)).data?.result.length ?? 0) > 0, `${name} has no series`);
  }
  // Each panel's query, with Grafana's variables filled in as Grafana would.
  const dash = JSON.parse(readFileSync(join(ROOT, 'docs/grafana-dashboard.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  for (const p of dash.panels) {
    for (const t of p.targets) {
      const r = await query(t.expr.replaceAll('$service', '.*').replaceAll('$__range', '1h'));
      assert.equal(r.status, 'success', `${p.title}: ${t.expr}: ${r.error}`);
    }
  }
});

/** Why the screenshot cannot be taken here, or false. */
function browserSkip(): string | false {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core not installed';
  }
  return false;
}

/** The report in headless Chromium (Debian's, driven by playwright-core): it renders with no failed load or error, and a screenshot. */
async function screenshot(file: string): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'geosteer-chromium-'));
  let ctx: BrowserContext | null = null;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 960, height: 800 },
    });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('requestfailed', (q) => problems.push(`failed ${q.url()}`));
    const requests: string[] = [];
    page.on('request', (q) => requests.push(q.url()));
    await page.goto(`file://${file}`);
    assert.equal(await page.locator('svg path').count() > 1, true, 'the chart has lines');
    assert.deepEqual(problems, []);
    assert.deepEqual(requests, [`file://${file}`], 'the page loads nothing else');
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    await ctx?.close();
    rmSync(profile, { recursive: true, force: true });
  }
}
