import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '../../src/observability';
import { dig } from '../helpers/dig';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { httpGet, parseProm, promValue, scrape, type PromText } from '../helpers/prom';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { startReceiver, type Receiver } from '../helpers/webhook-receiver';

// Operating it: /metrics counts what was asked and answered, /healthz and
// /readyz, reloads in the counters, and the alerts webhook on state changes.

const MAIN = resolve(__dirname, '../../src/cli/main.js');
const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');
const GD = '183.6.0.0/24';
const BJ = '202.96.0.0/24';
const US = '8.8.8.0/24';
const dir = mkdtempSync(join(tmpdir(), 'geosteer-metrics-'));
const mapPath = join(dir, 'map.yaml');
let s: TestServer;
let receiver: Receiver;
let mapText = '';

function install(text: string): void {
  const tmp = join(dir, `.map-${Math.random()}`);
  writeFileSync(tmp, text);
  renameSync(tmp, mapPath);
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const port = (): number => s.admin?.port ?? 0;
const vote = (dc: string, up: boolean): Promise<void> =>
  s.store.writeVote({ prober: 'test', service: 'www.example.com', dc, up, ttlMs: 600_000, detail: up ? 'HTTP 200' : 'set down by test', latencyMs: 0 });
const delta = (a: PromText, b: PromText, name: string, labels: Record<string, string> = {}): number => promValue(b, name, labels) - promValue(a, name, labels);

before(async () => {
  receiver = await startReceiver();
  mapText = `${SAMPLE}\nalerts:\n  webhook: ${receiver.url}\n  timeout: 1s\n`;
  install(mapText);
  s = await startServer({ config: mapPath, mapPollMs: 50, metricsListen: '127.0.0.1:0', timingSample: 1 });
});
after(async () => {
  await s.close();
  await receiver.close();
});

test('queries move the counters by the right amounts, with the right labels', async () => {
  const before = await scrape(port());
  for (let i = 0; i < 3; i++) assert.deepEqual((await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`])).answer.map((r) => r[4]), ['192.0.2.10']);
  for (let i = 0; i < 2; i++) assert.deepEqual((await dig(s.port, ['www.example.com', 'A', `+subnet=${BJ}`])).answer.map((r) => r[4]), ['198.51.100.10']);
  for (let i = 0; i < 2; i++) assert.deepEqual((await dig(s.port, ['www.example.com', 'A', `+subnet=${US}`])).answer.map((r) => r[4]), ['203.0.113.10']);
  assert.equal((await dig(s.port, ['nope.example.com', 'A'])).status, 'NXDOMAIN');
  assert.equal((await dig(s.port, ['www.example.com', 'AAAA', `+subnet=${GD}`, '+tcp'])).answer.length, 1);
  const after = await scrape(port());

  assert.equal(delta(before, after, 'geosteer_dns_requests_total', { proto: 'udp', family: 'ipv4', type: 'A' }), 8);
  assert.equal(delta(before, after, 'geosteer_dns_requests_total', { proto: 'tcp', family: 'ipv4', type: 'AAAA' }), 1);
  assert.equal(delta(before, after, 'geosteer_dns_requests_total'), 9);
  assert.equal(delta(before, after, 'geosteer_dns_responses_total', { rcode: 'NOERROR' }), 8);
  assert.equal(delta(before, after, 'geosteer_dns_responses_total', { rcode: 'NXDOMAIN' }), 1);
  assert.equal(delta(before, after, 'geosteer_dns_ecs_total', { present: 'true' }), 8);
  assert.equal(delta(before, after, 'geosteer_dns_ecs_total', { present: 'false' }), 1);
  assert.equal(delta(before, after, 'geosteer_dns_tcp_connections_total'), 1);
  const answers = (region: string, datacenter: string): number =>
    delta(before, after, 'geosteer_routing_answers_total', { service: 'www.example.com', zone: 'example.com', region, datacenter, moved: 'false' });
  assert.equal(answers('south', 'gz'), 4, 'three A and one AAAA over TCP from Guangdong');
  assert.equal(answers('north', 'bj'), 2);
  assert.equal(answers('overseas', 'sg'), 2);
  assert.equal(delta(before, after, 'geosteer_routing_answers_total', { moved: 'true' }), 0);
  assert.equal(delta(before, after, 'geosteer_routing_fallback_answers_total'), 0);
  // Every query timed here (timingSample: 1): the histogram counts all 9, buckets cumulative.
  assert.equal(delta(before, after, 'geosteer_dns_request_duration_seconds_count'), 9);
  assert.equal(delta(before, after, 'geosteer_dns_request_duration_seconds_bucket', { le: '+Inf' }), 9);
  assert.ok(delta(before, after, 'geosteer_dns_request_duration_seconds_sum') > 0);
  const buckets = after.samples.filter((x) => x.name === 'geosteer_dns_request_duration_seconds_bucket').map((x) => x.value);
  assert.deepEqual(buckets, [...buckets].sort((a, b) => a - b), 'buckets are cumulative');

  assert.equal(promValue(after, 'geosteer_health_verdict', { service: 'www.example.com', dc: 'gz' }), 1);
  assert.equal(promValue(after, 'geosteer_health_store_up'), 1);
  assert.equal(promValue(after, 'geosteer_config_info', { version: s.map.version }), 1);
  assert.ok(after.samples.some((x) => x.name === 'geosteer_health_mirror_age_seconds' && x.value >= 0 && x.value < 30));
  assert.equal(after.types.get('geosteer_dns_requests_total'), 'counter');
  assert.equal(after.types.get('geosteer_dns_request_duration_seconds'), 'histogram');
});

test('/healthz and /readyz answer 200 once serving; other paths 404', async () => {
  assert.equal((await httpGet(port(), '/healthz')).status, 200);
  const ready = await httpGet(port(), '/readyz');
  assert.equal(ready.status, 200, ready.body);
  assert.equal(s.notReady(), null);
  assert.equal((await httpGet(port(), '/nope')).status, 404);
  assert.match((await httpGet(port(), '/metrics')).type, /^text\/plain/);
});

test('a vote that flips a verdict sends one webhook event and moves the health metrics', async () => {
  const m0 = await scrape(port());
  await vote('gz', false);
  try {
    const e = await receiver.waitFor((x) => x.kind === 'verdict' && x.dc === 'gz' && x.up === false);
    assert.equal(e.service, 'www.example.com');
    assert.equal(e.server, 'ns1.example.com');
    assert.ok(!Number.isNaN(Date.parse(String(e.at))));
    assert.match(String(e.reason), /set down by test/);
    const r = await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    assert.deepEqual(r.answer.map((x) => x[4]), ['198.51.100.10']);
    const m1 = await scrape(port());
    assert.equal(promValue(m1, 'geosteer_health_verdict', { service: 'www.example.com', dc: 'gz' }), 0);
    assert.equal(promValue(m1, 'geosteer_health_vote_up', { service: 'www.example.com', dc: 'gz', prober: 'test' }), 0);
    const age = m1.samples.find((x) => x.name === 'geosteer_health_vote_age_seconds' && x.labels.prober === 'test' && x.labels.dc === 'gz');
    assert.ok(age && age.value >= 0 && age.value < 30, `vote age ${age?.value}`);
    assert.equal(delta(m0, m1, 'geosteer_routing_answers_total', { region: 'south', datacenter: 'bj', moved: 'true' }), 1);
    assert.ok(promValue(m1, 'geosteer_alerts_webhook_total', { result: 'sent' }) >= 1);
  } finally {
    await vote('gz', true);
  }
  await receiver.waitFor((x) => x.kind === 'verdict' && x.dc === 'gz' && x.up === true);
  assert.equal(receiver.events.filter((x) => x.kind === 'verdict' && x.dc === 'gz' && x.up === false).length, 1, 'one event per flip');
});

test('a drain and its end are logged as events on the webhook and in geosteer_health_drained', async () => {
  await s.store.setDrain({ dc: 'sg', service: 'www.example.com', forMs: 60_000, reason: 'router swap', by: 'test' });
  const e = await receiver.waitFor((x) => x.kind === 'drain' && x.dc === 'sg');
  assert.match(String(e.reason), /router swap/);
  assert.equal(promValue(await scrape(port()), 'geosteer_health_drained', { service: 'www.example.com', dc: 'sg' }), 1);
  await s.store.clearDrain('www.example.com', 'sg');
  const u = await receiver.waitFor((x) => x.kind === 'undrain' && x.dc === 'sg');
  assert.match(String(u.reason), /lifted/);
  assert.equal(promValue(await scrape(port()), 'geosteer_health_drained', { service: 'www.example.com', dc: 'sg' }), 0);
});

test('answers given while every datacenter is down count as fallback answers', async () => {
  const m0 = await scrape(port());
  for (const dc of ['gz', 'bj', 'sg']) await vote(dc, false);
  try {
    await until('every verdict down', async () => promValue(await scrape(port()), 'geosteer_health_verdict') === 0);
    assert.deepEqual((await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`])).answer.map((x) => x[4]), ['192.0.2.10']);
    assert.deepEqual((await dig(s.port, ['www.example.com', 'A', `+subnet=${US}`])).answer.map((x) => x[4]), ['203.0.113.10']);
    const m1 = await scrape(port());
    assert.equal(delta(m0, m1, 'geosteer_routing_fallback_answers_total', { service: 'www.example.com' }), 2);
    assert.equal(promValue(m1, 'geosteer_routing_fallback_regions', { service: 'www.example.com' }), 3);
  } finally {
    for (const dc of ['gz', 'bj', 'sg']) await vote(dc, true);
  }
  assert.equal(promValue(await scrape(port()), 'geosteer_routing_fallback_regions'), 0);
});

test('a rejected reload counts as failed and keeps the version; the next good one counts as ok', async () => {
  const m0 = await scrape(port());
  const version = s.map.version;
  const failed = s.reloads.failed;
  install(mapText.replace('    fallback: first', '    fallbak: first'));
  await until('the bad map to be rejected', () => s.reloads.failed === failed + 1);
  const m1 = await scrape(port());
  assert.equal(delta(m0, m1, 'geosteer_config_reloads_total', { result: 'failed' }), 1);
  assert.equal(delta(m0, m1, 'geosteer_config_reloads_total', { result: 'ok' }), 0);
  assert.equal(promValue(m1, 'geosteer_config_last_reload_successful'), 0);
  assert.equal(promValue(m1, 'geosteer_config_info', { version }), 1);

  const ok = s.reloads.ok;
  install(mapText.replace('gz: { a: [192.0.2.10]', 'gz: { a: [192.0.2.99]'));
  await until('the good map to be applied', () => s.reloads.ok === ok + 1);
  assert.equal((await dig(s.port, ['www.example.com', 'A', `+subnet=${GD}`])).answer[0][4], '192.0.2.99');
  const m2 = await scrape(port());
  assert.equal(delta(m1, m2, 'geosteer_config_reloads_total', { result: 'ok' }), 1);
  assert.equal(promValue(m2, 'geosteer_config_last_reload_successful'), 1);
  assert.equal(promValue(m2, 'geosteer_config_info', { version }), 0);
  assert.equal(promValue(m2, 'geosteer_config_info', { version: s.map.version }), 1);
  // The router was replaced: what the old one counted is kept, the new one's is added.
  assert.equal(delta(m0, m2, 'geosteer_routing_answers_total', { region: 'south', datacenter: 'gz' }), 1);
  assert.ok(promValue(m2, 'geosteer_routing_answers_total', { region: 'south', datacenter: 'gz' }) >= promValue(m0, 'geosteer_routing_answers_total', { region: 'south', datacenter: 'gz' }));
  install(mapText);
  await until('the sample map back', () => s.reloads.ok === ok + 2);
});

test('--query-log-sample: one query in N is logged with its region and datacenter', async () => {
  const lines: string[] = [];
  const q = await startServer({ queryLogSample: 2, logger: createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(l) } }) });
  try {
    for (let i = 0; i < 4; i++) await dig(q.port, ['www.example.com', 'A', `+subnet=${GD}`]);
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.msg === 'query');
    assert.equal(logged.length, 2);
    assert.equal(logged[0].name, 'www.example.com');
    assert.equal(logged[0].type, 'A');
    assert.equal(logged[0].rcode, 'NOERROR');
    assert.equal(logged[0].region, 'south');
    assert.equal(logged[0].dc, 'gz');
    assert.equal(logged[0].ecs, '183.6.0.0/24');
    assert.equal(logged[0].client, '127.0.0.1');
  } finally {
    await q.close();
  }
});

/** A port free for both UDP and TCP on 127.0.0.1. */
async function freePort(): Promise<number> {
  for (;;) {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const p = udp.address().port;
    const tcp = createServer();
    const ok = await new Promise<boolean>((r) => {
      tcp.once('error', () => r(false));
      tcp.listen(p, '127.0.0.1', () => r(true));
    });
    udp.close();
    if (ok) {
      await new Promise<void>((r) => tcp.close(() => r()));
      return p;
    }
  }
}

test('with --workers 2 the primary serves /metrics summed over the workers', async () => {
  const dnsPort = await freePort();
  const child = spawn(process.execPath, [MAIN, 'serve', '--workers', '2', '--listen', `127.0.0.1:${dnsPort}`, '--metrics-listen', '127.0.0.1:0'], {
    env: { ...process.env, LOG_LEVEL: 'info', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  try {
    let admin = 0;
    await until('the primary to log its metrics port', () => {
      const m = /"port":(\d+),"msg":"metrics and health/.exec(out);
      if (m) admin = Number(m[1]);
      return admin > 0;
    }, 10_000);
    await until('/readyz (both workers ready)', async () => (await httpGet(admin, '/readyz')).status === 200, 15_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${out}`);
    });
    let answered = 0;
    for (let i = 0; i < 50; i++) {
      const q = buildQuery({ name: 'www.example.com', id: i + 1, edns: { options: [ecsOption('183.6.0.0', 24)] } });
      if (await udpExchange(dnsPort, q, 2000)) answered++;
    }
    assert.equal(answered, 50);
    const m = parseProm((await httpGet(admin, '/metrics')).body);
    assert.equal(promValue(m, 'geosteer_dns_requests_total', { proto: 'udp', type: 'A' }), 50);
    assert.equal(promValue(m, 'geosteer_routing_answers_total', { region: 'south', datacenter: 'gz' }), 50);
    assert.equal(promValue(m, 'geosteer_cluster_workers'), 2);
    // Views of the shared table are not multiplied by the number of workers.
    assert.equal(promValue(m, 'geosteer_health_verdict', { service: 'www.example.com', dc: 'gz' }), 1);
    assert.equal(m.samples.filter((x) => x.name === 'geosteer_config_info').length, 1);
    assert.ok(promValue(m, 'process_cpu_user_seconds_total') > 0, 'default process metrics are there');
    // Each name appears once (HELP/TYPE not duplicated by the merge).
    const helps = (await httpGet(admin, '/metrics')).body.split('\n').filter((l) => l.startsWith('# TYPE '));
    assert.equal(new Set(helps).size, helps.length);
  } finally {
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
  }
});
