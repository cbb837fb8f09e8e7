import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

// docs/recording-rules.yml and docs/grafana-dashboard.json are an interface too: every expression may
// name only metrics geosteer exports and recording rules the rules file defines (as names.test.ts holds
// docs/alerts.yml to the exported names).

const ROOT = resolve(__dirname, '../../..');

/** Every metric name written as a literal in src (names.test.ts checks these are the registered ones). */
function namesInSource(): Set<string> {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
  const out = new Set<string>();
  for (const f of walk(join(ROOT, 'src'))) {
    for (const m of readFileSync(f, 'utf8').matchAll(/'(geosteer_[a-z0-9_]+)'/g)) out.add(m[1]);
  }
  return out;
}

/** Recording-rule names (level:metric:operations, with colons) and the raw geosteer_ metrics an expression uses. */
function namesIn(text: string): { recorded: string[]; raw: string[] } {
  // Range selectors ([5m], [$__range:1m]), label matchers and Grafana variables are not names.
  const expr = text.replace(/\[[^\]]*\]/g, ' ').replace(/\{[^}]*\}/g, ' ').replace(/\$\w+/g, ' ');
  const recorded = [...expr.matchAll(/\b[a-z_][a-z0-9_]*(?::[a-z0-9_]+)+/g)].map((m) => m[0]);
  let rest = expr;
  for (const r of recorded) rest = rest.split(r).join(' ');
  const raw = [...rest.matchAll(/\b(geosteer_[a-z0-9_]+)/g)].map((m) => m[1].replace(/_(bucket|sum|count)$/, ''));
  return { recorded, raw };
}

interface Rule {
  record: string;
  expr: string;
}
const rules = (parse(readFileSync(join(ROOT, 'docs/recording-rules.yml'), 'utf8')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((g) => g.rules);

test('docs/recording-rules.yml: each rule has a level:metric:operations name and uses only exported metrics', () => {
  const known = namesInSource();
  const seen = new Set<string>();
  for (const r of rules) {
    assert.match(r.record, /^[a-z_]+:geosteer_[a-z0-9_]+:[a-z0-9_]+$/, `record name ${r.record}`);
    assert.ok(!seen.has(r.record), `${r.record} twice`);
    seen.add(r.record);
    const { recorded, raw } = namesIn(r.expr);
    assert.deepEqual(recorded, [], `${r.record}: rules here are built on raw metrics only`);
    assert.ok(raw.length > 0, `${r.record}: uses no geosteer metric`);
    for (const n of raw) assert.ok(known.has(n), `${r.record}: ${n} is not a geosteer metric`);
  }
  // The list: QPS per region and datacenter, share moved, fallback, verdict flips, RRL, per-host map version.
  for (const want of ['geosteer_dns_requests_total', 'geosteer_routing_answers_total', 'geosteer_routing_fallback_regions', 'geosteer_health_verdict', 'geosteer_dns_rrl_limited_total', 'geosteer_config_info']) {
    assert.ok(rules.some((r) => r.expr.includes(want)), `no recording rule over ${want}`);
  }
});

test('docs/recording-rules.yml passes promtool check rules', (t) => {
  const r = spawnSync('promtool', ['check', 'rules', join(ROOT, 'docs/recording-rules.yml')], { encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return t.skip('promtool not installed (Debian package prometheus)');
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
});

interface Panel {
  id: number;
  title: string;
  type: string;
  targets?: Array<{ expr: string; refId: string }>;
  gridPos: { x: number; y: number; w: number; h: number };
}

test('docs/grafana-dashboard.json: every panel queries only exported metrics and defined recording rules', () => {
  const dash = JSON.parse(readFileSync(join(ROOT, 'docs/grafana-dashboard.json'), 'utf8')) as { uid: string; panels: Panel[]; templating: { list: Array<{ query: unknown }> } };
  const known = namesInSource();
  const defined = new Set(rules.map((r) => r.record));
  const used = new Set<string>();
  assert.ok(dash.uid);
  assert.ok(dash.panels.length >= 10);
  const ids = new Set<number>();
  for (const p of dash.panels) {
    assert.ok(!ids.has(p.id), `panel id ${p.id} twice`);
    ids.add(p.id);
    assert.ok(p.targets?.length, `${p.title}: no query`);
    for (const t of p.targets) {
      const { recorded, raw } = namesIn(t.expr);
      assert.ok(recorded.length + raw.length > 0, `${p.title}: ${t.expr} uses no geosteer series`);
      for (const n of recorded) {
        assert.ok(defined.has(n), `${p.title}: ${n} is not a rule of docs/recording-rules.yml`);
        used.add(n);
      }
      for (const n of raw) assert.ok(known.has(n), `${p.title}: ${n} is not a geosteer metric`);
    }
  }
  // The template variable's query too.
  for (const v of dash.templating.list) for (const n of namesIn(JSON.stringify(v.query ?? '')).raw) assert.ok(known.has(n), `variable: ${n}`);
  // Every recording rule is on some panel (a rule nobody plots is dead weight).
  for (const r of defined) assert.ok(used.has(r), `${r} is on no panel`);
});

test('both files are mentioned in src/observability/README.md and README.md', () => {
  for (const f of ['src/observability/README.md', 'README.md']) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    assert.ok(text.includes('docs/recording-rules.yml'), `${f}: docs/recording-rules.yml`);
    assert.ok(text.includes('docs/grafana-dashboard.json'), `${f}: docs/grafana-dashboard.json`);
  }
});
