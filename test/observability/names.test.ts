import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { collectProcessMetrics, Registry } from '../../src/observability';
import { startServer, type TestServer } from '../helpers/server';

// Metric names are an interface: lint them like CoreDNS's metric_naming_test.go,
// and hold docs/alerts.yml and the READMEs to the names that exist.

const ROOT = resolve(__dirname, '../../..');
const SUBSYSTEMS = ['dns', 'dnssec', 'routing', 'health', 'config', 'probe', 'alerts', 'cluster', 'fleet', 'geoip'];
const registry = new Registry();
let s: TestServer;

/** Every metric name written as a literal in src (some exist only in the cluster primary). */
function namesInSource(): Set<string> {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
  const out = new Set<string>();
  for (const f of walk(join(ROOT, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'(geosteer_[a-z0-9_]+)'/g)) if (!/_(bucket|sum|count)$/.test(m[1])) out.add(m[1]);
  }
  return out;
}

before(async () => {
  collectProcessMetrics(registry);
  // Embedded with probes and a lead worker: every per-process metric family is registered.
  s = await startServer({ registry, probe: true });
});
after(async () => {
  await s.close();
});

test('every metric is geosteer_<part>_<name>, process_* or nodejs_*, with help text and snake_case labels', async () => {
  const metrics = await registry.getMetricsAsJSON();
  assert.ok(metrics.length > 30);
  for (const m of metrics) {
    assert.match(m.name, /^(geosteer_[a-z]+_[a-z0-9_]+|process_[a-z0-9_]+|nodejs_[a-z0-9_]+)$/, m.name);
    assert.ok(m.help.length > 10, `${m.name}: help text`);
    for (const v of m.values) for (const l of Object.keys(v.labels)) assert.match(l, /^[a-z_]+$/, `${m.name}: label ${l}`);
    if (!m.name.startsWith('geosteer_')) continue;
    assert.ok(SUBSYSTEMS.includes(m.name.split('_')[1]), `${m.name}: subsystem is one of ${SUBSYSTEMS.join(', ')}`);
  }
});

test('counters end in _total, nothing else does, and durations are in _seconds', async () => {
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    if (type === 'counter') assert.match(m.name, /_total$/, `${m.name} is a counter`);
    if (!m.name.startsWith('geosteer_')) continue; // prom-client's nodejs_active_resources_total is a gauge
    if (type !== 'counter') assert.doesNotMatch(m.name, /_total$/, `${m.name} is a ${type}`);
    if (type === 'histogram') assert.match(m.name, /_(seconds|bytes)$/, m.name);
  }
});

test('the names in the source are the names registered (plus the cluster primary\'s and the fleet\'s own)', async () => {
  const registered = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  for (const n of namesInSource()) {
    if (n.startsWith('geosteer_cluster_')) continue;
    if (n.startsWith('geosteer_fleet_')) continue; // only with a shared table: test/e2e/fleet.test.ts reads them
    assert.ok(registered.has(n), `${n} is in src but was not registered by serve`);
  }
});

test('docs/alerts.yml: each rule is complete and its expr uses only metrics geosteer exports', () => {
  const doc = parse(readFileSync(join(ROOT, 'docs/alerts.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Array<Record<string, unknown>> }> };
  const known = namesInSource();
  const seen = new Set<string>();
  let rules = 0;
  for (const g of doc.groups) {
    for (const r of g.rules) {
      rules++;
      const alert = String(r.alert);
      assert.match(alert, /^Geosteer[A-Z][A-Za-z]+$/, `alert name ${alert}`);
      assert.ok(!seen.has(alert), `${alert} twice`);
      seen.add(alert);
      assert.equal(typeof r.expr, 'string', `${alert}: expr`);
      const labels = r.labels as Record<string, string>;
      assert.ok(['critical', 'warning', 'info'].includes(labels?.severity), `${alert}: severity`);
      assert.ok((r.annotations as Record<string, string>)?.summary, `${alert}: summary`);
      const used = [...String(r.expr).matchAll(/\b(geosteer_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''));
      assert.ok(used.length > 0, `${alert}: uses no geosteer metric`);
      for (const n of used) assert.ok(known.has(n), `${alert}: ${n} is not a geosteer metric`);
    }
  }
  // The list: datacenter down, failover, fallback in use, mirror stale, reload failing, versions disagree.
  for (const a of ['GeosteerDatacenterDown', 'GeosteerFailover', 'GeosteerFallbackInUse', 'GeosteerHealthMirrorStale', 'GeosteerReloadFailing', 'GeosteerMapVersionMismatch']) {
    assert.ok(seen.has(a), `${a} missing`);
  }
  assert.ok(rules >= 6);
});

test('every metric is documented in src/observability/README.md and README.md', () => {
  const part = readFileSync(join(ROOT, 'src/observability/README.md'), 'utf8');
  const top = readFileSync(join(ROOT, 'README.md'), 'utf8');
  for (const n of namesInSource()) {
    assert.ok(part.includes(n), `${n} missing from src/observability/README.md`);
    assert.ok(top.includes(n), `${n} missing from README.md "Monitoring and alerts"`);
  }
});
