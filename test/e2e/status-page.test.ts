import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { startAdminHttp, type AdminHttp } from '../../src/observability/http';
import { statusRoutes, statusSourceFrom, type StatusJson, type StatusSource } from '../../src/observability/status-page';
import { DEFAULT_MAP, startServer, type TestServer } from '../helpers/server';
import { Endpoint } from '../helpers/endpoint';
import { until as waitUntil } from '../helpers/wait';

// The status page end to end: a real server probing local HTTP endpoints the
// test flips to 503, the page served by the real admin HTTP server, and (when
// Debian's chromium and playwright-core are present) a headless browser that
// watches the page update itself without a reload.

const SVC = 'www.example.com';
const DB = 'db.example.com';
const INTERVAL = 200;
const CHROMIUM = '/usr/bin/chromium';
/** Repo root: three levels above dist/test/e2e. */
// The committed screenshot is refreshed only on request (UPDATE_SCREENSHOT=1 npm test), so a test run leaves the tree clean.
const SCREENSHOT = process.env.UPDATE_SCREENSHOT ? resolve(__dirname, '../../../docs/status-page.png') : join(tmpdir(), 'geosteer-status-page.png');
/** Free text from the map that must come out as text, never as markup. */
const NASTY = 'Guangzhou </script><script>alert(1)</script> "q" & <b>bold</b>';

/** The page updates every 2 s: wait longer than the shared default. */
const until = <T>(what: string, fn: () => Promise<T> | T, timeoutMs = 10_000): Promise<NonNullable<T>> => waitUntil(what, fn, timeoutMs);

const SAMPLE = readFileSync(DEFAULT_MAP, 'utf8');

/** The sample map with an http check on www.example.com, plus a `policy: primary` service checked at the same endpoints. */
function mapWithChecks(ports: { gz: number; bj: number; sg: number }): string {
  const check = [
    '    check:',
    '      type: http',
    '      path: /health',
    `      interval: ${INTERVAL}ms`,
    '      timeout: 150ms',
    '      fall: 3',
    '      rise: 2',
    `      targets: { gz: "127.0.0.1:${ports.gz}", bj: "127.0.0.1:${ports.bj}", sg: "127.0.0.1:${ports.sg}" }`,
  ].join('\n');
  const anchor = `  ${SVC}:\n    ttl: 60s\n`;
  assert.ok(SAMPLE.includes(anchor), 'sample map layout changed');
  const db = [
    `  ${DB}:`,
    '    policy: primary',
    '    primary: bj',
    '    standbys: [gz, sg]',
    '    datacenters:',
    '      gz: { a: [192.0.2.20] }',
    '      bj: { a: [198.51.100.20] }',
    '      sg: { a: [203.0.113.20] }',
    check,
  ].join('\n');
  return `${SAMPLE.replace(anchor, `${anchor}${check}\n`).trimEnd()}\n${db}\n`;
}

/** The sample map with a datacenter description full of markup. */
function mapWithNastyText(): string {
  const line = '  gz: { description: Guangzhou }\n';
  assert.ok(SAMPLE.includes(line), 'sample map layout changed');
  return SAMPLE.replace(line, `  gz: { description: ${JSON.stringify(NASTY)} }\n`);
}

interface Site {
  server: TestServer;
  source: StatusSource;
  admin: AdminHttp;
  base: string;
}

async function startSite(mapText: string): Promise<Site> {
  const server = await startServer({ mapText, snapshotPath: null });
  const source = statusSourceFrom(server);
  const admin = await startAdminHttp({ listen: '127.0.0.1:0', routes: statusRoutes(source) });
  return { server, source, admin, base: `http://127.0.0.1:${admin.port}` };
}

async function stopSite(site: Site | undefined): Promise<void> {
  if (!site) return;
  await site.admin.close();
  site.source.close();
  await site.server.close();
}

const getJson = async <T>(url: string): Promise<{ status: number; body: T }> => {
  const r = await fetch(url);
  return { status: r.status, body: (await r.json()) as T };
};

let endpoints: { gz: Endpoint; bj: Endpoint; sg: Endpoint };
let site: Site;
let nasty: Site;

before(async () => {
  const [gz, bj, sg] = await Promise.all([Endpoint.start(), Endpoint.start(), Endpoint.start()]);
  endpoints = { gz, bj, sg };
  site = await startSite(mapWithChecks({ gz: gz.port, bj: bj.port, sg: sg.port }));
  nasty = await startSite(mapWithNastyText());
});

after(async () => {
  await stopSite(site);
  await stopSite(nasty);
  for (const e of Object.values(endpoints ?? {})) await e.close();
});

test('/api/status has the whole picture and /api/explain explains (400 on bad input)', async () => {
  // Wait for the first round of votes, so the verdicts rest on fresh votes.
  const status = await until('fresh votes for every www pair', async () => {
    const { body } = await getJson<StatusJson>(`${site.base}/api/status`);
    return body.pairs.filter((p) => p.service === SVC && p.basis === 'quorum').length === 3 ? body : null;
  });
  assert.equal(status.server.id, 'ns1.example.com');
  assert.equal(status.server.mapVersion, site.server.map.version);
  assert.equal(status.health.store, 'memory');
  assert.equal(status.health.source, 'store');
  assert.equal(status.health.connected, true);
  assert.deepEqual(
    status.datacenters.map((d) => d.name),
    ['gz', 'bj', 'sg'],
  );
  const gz = status.pairs.find((p) => p.service === SVC && p.dc === 'gz');
  assert.ok(gz);
  assert.equal(gz.state, 'up');
  assert.equal(gz.checked, true);
  assert.ok(gz.votes.length >= 1, 'the in-process prober voted');
  assert.equal(gz.votes[0].up, true);
  assert.match(gz.votes[0].detail, /HTTP 200/);
  assert.equal(typeof gz.votes[0].ageMs, 'number');

  const www = status.routing.find((r) => r.service === SVC);
  assert.ok(www);
  assert.equal(www.policy, 'geo');
  assert.deepEqual(
    www.regions.map((r) => [r.region, r.list.map((d) => d.dc).join(','), r.chosen, r.route]),
    [
      ['south', 'gz,bj,sg', 'gz', 'first'],
      ['north', 'bj,gz,sg', 'bj', 'first'],
      ['overseas', 'sg,gz,bj', 'sg', 'first'],
    ],
  );
  const db = status.routing.find((r) => r.service === DB);
  assert.ok(db);
  assert.deepEqual(
    db.regions.map((r) => [r.region, r.chosen]),
    [['*', 'bj']],
  );
  assert.deepEqual(
    status.primaries.map((p) => [p.service, p.configured, p.current]),
    [[DB, 'bj', 'bj']],
  );
  assert.deepEqual(status.drains, []);
  assert.ok(Array.isArray(status.events));

  // Explain: the default name is the first service; a resolver address and an ECS prefix.
  const ok = await getJson<{ name: string; lines: string[] }>(`${site.base}/api/explain?ip=183.6.0.1`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.name, SVC);
  assert.ok(ok.body.lines.includes('region south by subdivision CN-GD'), ok.body.lines.join('\n'));
  assert.ok(ok.body.lines.includes('chosen gz'), ok.body.lines.join('\n'));
  const ecs = await getJson<{ lines: string[] }>(`${site.base}/api/explain?ip=202.96.0.1&name=api.example.com.&prefix=24`);
  assert.equal(ecs.status, 200);
  assert.ok(ecs.body.lines.includes('client 202.96.0.0 (ECS 202.96.0.0/24)'), ecs.body.lines.join('\n'));
  assert.ok(ecs.body.lines.includes('chosen bj'), ecs.body.lines.join('\n'));

  for (const [query, pattern] of [
    ['ip=not-an-ip', /not an IPv4 or IPv6 address/],
    ['ip=', /ip is required/],
    ['ip=183.6.0.1&prefix=33', /prefix/],
    ['ip=183.6.0.1&prefix=abc', /prefix/],
    ['ip=183.6.0.1&name=%3Cscript%3E', /not a domain name/],
  ] as const) {
    const bad = await getJson<{ error: string }>(`${site.base}/api/explain?${query}`);
    assert.equal(bad.status, 400, query);
    assert.match(bad.body.error, pattern, query);
  }

  // The page itself: HTML with a strict CSP, the status embedded for the first paint.
  const page = await fetch(`${site.base}/`);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'sha256-/);
  const html = await page.text();
  assert.match(html, /<script id="initial-status" type="application\/json">/);
  assert.ok(!/https?:\/\/(?!127\.0\.0\.1)/.test(html.replace(/http:\/\/admin\.local/g, '')), 'no external resources');
});

test('text from the map is escaped in the page', async () => {
  const html = await (await fetch(`${nasty.base}/`)).text();
  assert.ok(!html.includes('<script>alert(1)'), 'markup from the map reached the page raw');
  assert.ok(!html.includes('<b>bold'), 'markup from the map reached the page raw');
  const embedded = /<script id="initial-status" type="application\/json">(.*?)<\/script>/s.exec(html);
  assert.ok(embedded, 'embedded status');
  const status = JSON.parse(embedded[1]) as StatusJson;
  assert.equal(status.datacenters[0].description, NASTY, 'the embedded JSON decodes back to the text');
});

test('/api/explain answers 400 naming the parameter for unknown, repeated and invalid ones', async () => {
  for (const [query, parameter, pattern] of [
    // The bug: this explained 1.2.3.4 with no prefix and said nothing about 5.6.7.8 or subnet.
    ['ip=1.2.3.4&ip=5.6.7.8&subnet=999', 'ip', /ip: given more than once/],
    ['ip=1.2.3.4&subnet=24', 'subnet', /unknown parameter "subnet" \(allowed: ip, name, prefix, type\)/],
    ['ip=1.2.3.4&type=BOGUS', 'type', /type: "BOGUS" is not a record type/],
    ['subnet=24&ip=1.2.3.4', 'subnet', /unknown parameter "subnet"/],
    ['ip=1.2.3.4&prefix=24&prefix=16', 'prefix', /prefix: given more than once/],
    ['ip=1.2.3.4&name=www.example.com&name=api.example.com', 'name', /name: given more than once/],
    ['ip=1.2.3.4&prefix=999', 'prefix', /prefix: "999" must be 0\.\.32/],
    ['ip=1.2.3.999', 'ip', /not an IPv4 or IPv6 address/],
    ['ip=', 'ip', /ip is required/],
    [`ip=1.2.3.4&${'x'.repeat(500)}=1`, 'x'.repeat(40) + '...', /unknown parameter "x{40}\.\.\."/],
  ] as const) {
    const bad = await getJson<{ error: string; parameter: string }>(`${site.base}/api/explain?${query}`);
    assert.equal(bad.status, 400, query);
    assert.equal(bad.body.parameter, parameter, query);
    assert.match(bad.body.error, pattern, query);
  }
  const ok = await getJson<{ lines: string[] }>(`${site.base}/api/explain?ip=183.6.0.1&name=www.example.com&prefix=24`);
  assert.equal(ok.status, 200);
  // type= explains that record type, as `geosteer explain --type` does: AAAA answers with gz's IPv6 address.
  const v6 = await getJson<{ lines: string[] }>(`${site.base}/api/explain?ip=183.6.0.1&name=www.example.com&prefix=24&type=AAAA`);
  assert.equal(v6.status, 200);
  assert.ok(v6.body.lines.some((l) => l.includes('2001:db8:10::10')), v6.body.lines.join('\n'));
  assert.ok(!v6.body.lines.some((l) => l.includes('192.0.2.10')), 'an AAAA explanation shows no A answer');
});

test('map reloads, applied and refused, show in the recent changes', async () => {
  const file = nasty.server.map.file;
  const before = nasty.server.map.version;
  appendFileSync(file, '\n# touched by the status page test\n');
  assert.equal(await nasty.server.reload('test'), true);
  const applied = await until('a reload event', async () => {
    const { body } = await getJson<StatusJson>(`${nasty.base}/api/status`);
    return body.events.find((e) => e.kind === 'reload') ? body : null;
  });
  assert.notEqual(applied.server.mapVersion, before);
  assert.match(applied.events.find((e) => e.kind === 'reload')?.text ?? '', new RegExp(`now version ${applied.server.mapVersion}`));
  assert.ok(applied.server.reloads.ok >= 1);

  writeFileSync(file, `${readFileSync(file, 'utf8')}\nnot: [valid\n`);
  assert.equal(await nasty.server.reload('test'), false);
  const refused = await until('a reload-failed event', async () => {
    const { body } = await getJson<StatusJson>(`${nasty.base}/api/status`);
    return body.events.find((e) => e.kind === 'reload-failed') ? body : null;
  });
  assert.equal(refused.server.mapVersion, applied.server.mapVersion, 'still serving the last good map');
  assert.ok(refused.server.reloads.failed >= 1);
  assert.ok(refused.server.reloads.lastError);
});

/** Why the browser test cannot run here, or false. */
function browserSkip(): string | false {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  try {
    require.resolve('playwright-core');
  } catch {
    return 'playwright-core not installed';
  }
  return false;
}

test('in headless Chromium the page follows a datacenter going down without a reload, and explains', { skip: browserSkip() }, async () => {
  // Required lazily, so the rest of the file runs without playwright-core.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { chromium } = require('playwright-core') as typeof import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'geosteer-chromium-'));
  let ctx: BrowserContext | null = null;
  try {
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 800 },
    });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The explain form's deliberate 400 is logged by Chromium as a failed load; anything else counts.
    page.on('console', (m) => m.type() === 'error' && !m.text().includes('400 (Bad Request)') && errors.push(m.text()));
    let loads = 0;
    page.on('load', () => loads++);

    const cell = (dc: string, state: string): string => `td.pair[data-service="${SVC}"][data-dc="${dc}"][data-state="${state}"]`;
    const route = (region: string, chosen: string): string => `tr[data-service="${SVC}"][data-region="${region}"][data-chosen="${chosen}"]`;

    await page.goto(`${site.base}/`);
    await page.locator(`${cell('gz', 'up')}[data-basis="quorum"]`).waitFor({ timeout: 10_000 });
    await page.locator(route('south', 'gz')).waitFor({ timeout: 10_000 });
    assert.match((await page.locator(cell('gz', 'up')).textContent()) ?? '', /UP/);
    await page.evaluate('window.__sameDocument = true');

    // gz fails its checks: the page polls and redraws, the south region moves to bj.
    endpoints.gz.status = 503;
    await page.locator(cell('gz', 'down')).waitFor({ timeout: 10_000 });
    await page.locator(`${route('south', 'bj')}[data-route="moved"]`).waitFor({ timeout: 10_000 });
    await page.locator('#events-body li[data-kind="down"]', { hasText: `${SVC} in gz is now DOWN` }).waitFor({ timeout: 10_000 });
    assert.match((await page.locator(cell('gz', 'down')).textContent()) ?? '', /HTTP 503/);

    // An operator drain shows up too (time left and reason), and moves overseas off sg.
    await site.server.store.setDrain({ dc: 'sg', service: '*', forMs: 3_600_000, reason: 'kernel upgrade', by: 'ops@example' });
    await page.locator('#drains-body tr[data-dc="sg"]', { hasText: 'kernel upgrade' }).waitFor({ timeout: 10_000 });
    await page.locator(`${route('overseas', 'bj')}[data-route="moved"]`).waitFor({ timeout: 10_000 });

    // The explain form.
    await page.fill('#explain-ip', '183.6.0.1');
    await page.click('#explain-form button[type="submit"]');
    await page.locator('#explain-out', { hasText: 'region south' }).waitFor({ timeout: 10_000 });
    assert.match((await page.locator('#explain-out').textContent()) ?? '', /chosen bj/);
    await page.fill('#explain-ip', 'nonsense');
    await page.click('#explain-form button[type="submit"]');
    await page.locator('#explain-out.error', { hasText: 'not an IPv4 or IPv6 address' }).waitFor({ timeout: 10_000 });
    await page.fill('#explain-ip', '183.6.0.1');
    await page.click('#explain-form button[type="submit"]');
    await page.locator('#explain-out', { hasText: 'region south' }).waitFor({ timeout: 10_000 });

    assert.equal(await page.evaluate('window.__sameDocument'), true, 'the page was reloaded');
    assert.equal(loads, 1, 'the page was reloaded');

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Markup in the map's text shows as text and runs nothing.
    await page.goto(`${nasty.base}/`);
    const th = page.locator('#health-body thead th', { hasText: 'alert(1)' }).first();
    await th.waitFor({ timeout: 10_000 });
    assert.ok(((await th.textContent()) ?? '').includes('</script><script>alert(1)</script>'));
    assert.equal(await page.locator('#health-body b').count(), 0, 'markup from the map was parsed');
    assert.deepEqual(dialogs, []);
    assert.deepEqual(errors, []);
  } finally {
    await ctx?.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
