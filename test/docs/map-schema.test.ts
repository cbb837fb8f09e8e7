import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import Ajv, { type ValidateFunction } from 'ajv';
import { parse, parseDocument } from 'yaml';
import { parseMapText } from '../../src/config';
import { readmes } from './commands';

// docs/map.schema.json is what editors validate map.yaml with (yaml-language-server). `geosteer check` is
// the authority; these tests keep the two from drifting: every map check accepts is valid under the
// schema, and every key the parser accepts (the allowed-key lists its YamlReader.map calls pass) is
// declared by the schema, with no extra ones, so a new key without a schema entry fails here.

const ROOT = resolve(__dirname, '../../..');
const SCHEMA_FILE = join(ROOT, 'docs/map.schema.json');
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as JsonSchema;

interface JsonSchema {
  [k: string]: unknown;
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  definitions?: Record<string, JsonSchema>;
}

// Ajv's strict defaults (unknown keywords and ignored schema parts are errors), with type unions allowed
// (the parser reads a number where it reads a string); a strict-mode warning fails too. allErrors lists
// every problem, as check does.
const strictWarning = (...m: unknown[]): never => {
  throw new Error(`ajv: ${m.join(' ')}`);
};
const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, logger: { log: () => undefined, warn: strictWarning, error: strictWarning } });
const validateMap = ajv.compile(schema);
// A README fragment (one section, no datacenters/regions/zones) is checked section by section.
const validateFragment = ajv.compile({ ...schema, required: [], $id: 'fragment' });

const errorsOf = (v: ValidateFunction): string => ajv.errorsText(v.errors, { separator: '\n' });

/** YAML text as the plain data a schema validator sees (the parser reads the same YAML 1.2 core schema). */
const data = (text: string): unknown => parse(text, { uniqueKeys: true });

test('docs/map.schema.json is a valid draft-07 schema', () => {
  assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
  assert.ok(ajv.validateSchema(schema), ajv.errorsText(ajv.errors));
});

test('the sample maps geosteer check accepts are valid under the schema', () => {
  for (const f of ['geodata/map.yaml', 'geodata/demo.yaml']) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    assert.doesNotThrow(() => parseMapText(text, join(ROOT, f)), `${f}: check rejects it`);
    assert.ok(validateMap(data(text)), `${f}:\n${errorsOf(validateMap)}`);
  }
});

/** Every ```yaml block of the READMEs whose keys are all map-file sections: the map examples. */
function readmeMapExamples(): Array<{ where: string; text: string }> {
  const sections = Object.keys(schema.properties ?? {});
  const out: Array<{ where: string; text: string }> = [];
  for (const f of readmes(ROOT)) {
    const src = readFileSync(f, 'utf8');
    for (const m of src.matchAll(/^```yaml\n([\s\S]*?)^```/gm)) {
      const where = `${relative(ROOT, f)}:${src.slice(0, m.index).split('\n').length}`;
      const doc = parseDocument(m[1]);
      // The map-file synopsis in README.md ([optional] KEY: VALUE) is not YAML; blocks of other files (Prometheus) are not maps.
      if (doc.errors.length) continue;
      const value = doc.toJS() as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) continue;
      if (!Object.keys(value).every((k) => sections.includes(k))) continue;
      out.push({ where, text: m[1] });
    }
  }
  return out;
}

test("the README's map examples are valid under the schema, and the whole maps among them pass check", () => {
  const examples = readmeMapExamples();
  assert.ok(examples.length >= 8, `only ${examples.length} map examples found in the READMEs`);
  let whole = 0;
  for (const { where, text } of examples) {
    const value = data(text) as Record<string, unknown>;
    if (['datacenters', 'regions', 'zones'].every((k) => k in value)) {
      whole++;
      // Relative `file:` / `geoip.database` paths would resolve beside the README; none of the examples has one.
      assert.doesNotThrow(() => parseMapText(text, join(ROOT, 'example.yaml')), `${where}: check rejects this example`);
      assert.ok(validateMap(value), `${where}:\n${errorsOf(validateMap)}`);
    } else {
      assert.ok(validateFragment(value), `${where}:\n${errorsOf(validateFragment)}`);
    }
  }
  assert.ok(whole >= 1, 'no whole map among the README examples');
});

test('the forms check accepts for each key are valid under the schema (one edit of the sample map each)', () => {
  const sample = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');
  const server = (block: string): string => sample.replace('  id: ns1.example.com\n', `  id: ns1.example.com\n${block}`);
  const service = (block: string): string => sample.replace('    fallback: first\n', `    fallback: first\n${block}`);
  const edits: Array<[string, string]> = [
    ['rrl: off', server('  rrl: off\n')],
    ['rrl: false', server('  rrl: false\n')],
    ['rrl: on', server('  rrl: on\n')],
    ['rrl settings', server('  rrl: { responses_per_second: 50, errors_per_second: 5, window: 5, slip: 0, ipv4_prefix: 32, ipv6_prefix: 64, exempt: [10.0.0.0/8, "::1"], log_only: true, table_size: 4096 }\n')],
    ['version hidden, ACLs', server('  version: hidden\n  explain_acl: [10.0.0.0/8, 192.0.2.1]\n  chaos_acl: ["2001:db8::/32"]\n')],
    ['health', sample.replace('\ndatacenters:\n', '\nhealth: { quorum: 2, failover_ttl: 45, hold_down: 1m30s }\ndatacenters:\n')],
    ['health quorum majority, hold_down in ms', sample.replace('\ndatacenters:\n', '\nhealth: { quorum: majority, failover_ttl: 1M, hold_down: 500ms }\ndatacenters:\n')],
    ['alerts', sample.replace('\ndatacenters:\n', '\nalerts: { webhook: "https://hooks.example.org/x", timeout: 1500ms, retries: 0, queue: 10 }\ndatacenters:\n')],
    ['a datacenter without a description', sample.replace('sg: { description: Singapore }', 'sg: {}')],
    ['region rules of every kind', sample.replace('    countries: [CN]\n', '    countries: [cn]\n    continents: [eu]\n    cidrs: [198.51.100.0/24, "2001:db8::/32"]\n')],
    ['zone ttl as seconds, transfer', sample.replace('    ttl: 1h           #', '    transfer: [192.0.2.54]\n    ttl: 3600         #')],
    ['an http check', service('    check: { type: https, port: 8443, path: /healthz, method: HEAD, expect_status: [200, "200-299"], host: www.example.com, interval: 5s, timeout: 1.5, fall: 2, rise: 1 }\n')],
    ['a dns check', service('    check: { type: dns, name: www.example.com, qtype: aaaa, rcode: noerror, require_answer: false }\n')],
    ['a tcp check with targets', service('    check: { type: tcp, port: 443, targets: { gz: "10.0.1.5:443", bj: "[2001:db8::5]:443", sg: 10.0.3.5 } }\n')],
    ['policy primary', service('    policy: primary\n    primary: gz\n    standbys: [bj, sg]\n    hold_down: 10s\n    failover_ttl: 20s\n')],
    ['fallback all, ttl in seconds', sample.replace('    fallback: first\n', '    fallback: all\n').replace('    ttl: 60s\n', '    ttl: 60\n')],
  ];
  for (const [what, text] of edits) {
    assert.notEqual(text, sample, what);
    assert.doesNotThrow(() => parseMapText(text, join(ROOT, 'geodata/map.yaml')), `${what}: check rejects it`);
    assert.ok(validateMap(data(text)), `${what}:\n${errorsOf(validateMap)}`);
  }
});

test('the schema rejects what check rejects for a misspelt or misplaced key, at every level', () => {
  const sample = readFileSync(join(ROOT, 'geodata/map.yaml'), 'utf8');
  const edits: Array<[string, string]> = [
    ['top level', sample.replace('\nservices:\n', '\nservice:\n')],
    ['server', sample.replace('  id: ns1.example.com', '  ident: ns1.example.com')],
    ['a datacenter', sample.replace('gz: { description: Guangzhou }', 'gz: { descr: Guangzhou }')],
    ['a region', sample.replace('    countries: [CN]', '    country: [CN]')],
    ['a zone', sample.replace('    ns: [ns1', '    nameservers: [ns1')],
    ['the SOA', sample.replace('      minimum: 5m', '      minimun: 5m')],
    ['a service', sample.replace('    fallback: first', '    fallbak: first')],
    ['a service address', sample.replace('gz: { a: [192.0.2.10]', 'gz: { ipv4: [192.0.2.10]')],
    ['a check', sample.replace('    fallback: first', '    check: { type: tcp, port: 80, path: / }')],
    ['an empty section', sample.replace('\ndatacenters:\n', '\nhealth:\ndatacenters:\n')],
  ];
  for (const [what, text] of edits) {
    assert.notEqual(text, sample, what);
    assert.throws(() => parseMapText(text, join(ROOT, 'geodata/map.yaml')), `${what}: check accepts it`);
    assert.equal(validateMap(data(text)), false, `${what}: the schema accepts it`);
  }
});

// The parser's allowed keys, read from its source: every `r.map(NODE, PATH, KEYS)` call in src/ (KEYS an
// array literal or a const array of the same file). A call without KEYS reads names (datacenters, zones...).

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The arguments of the call whose `(` is at `open`, split at top-level commas. */
function callArgs(text: string, open: number): string[] {
  const args: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < text.length; i++) {
    const c = text[i];
    if (c === "'" || c === '"' || c === '`') {
      i = text.indexOf(c, i + 1);
      continue;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        args.push(text.slice(start, i).trim());
        return args.filter(Boolean);
      }
    } else if (c === ',' && depth === 1) {
      args.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  throw new Error('unbalanced call');
}

function parserKeyLists(): Array<{ where: string; keys: string[] }> {
  const out: Array<{ where: string; keys: string[] }> = [];
  for (const f of sourceFiles(join(ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/\br\.map\(/g)) {
      const where = `${relative(ROOT, f)}:${text.slice(0, m.index).split('\n').length}`;
      const args = callArgs(text, (m.index ?? 0) + m[0].length - 1);
      if (args.length < 3) continue;
      let list = args[2].replace(/\s+as const$/, '');
      if (/^[A-Za-z_]\w*$/.test(list)) {
        const def = new RegExp(`\\bconst ${list} = (\\[[^\\]]*\\])`).exec(text);
        assert.ok(def, `${where}: cannot find the key list ${list} in the same file; keep allowed keys in an array literal or a const array`);
        list = def[1];
      }
      assert.match(list, /^\[[^\]]*\]$/, `${where}: the allowed keys are not an array literal: ${list}`);
      const keys = [...list.matchAll(/'([^']+)'/g)].map((k) => k[1]);
      assert.ok(keys.length > 0, `${where}: no keys in ${list}`);
      out.push({ where, keys });
    }
  }
  return out;
}

/** Every object in the schema that lists its keys (additionalProperties: false), with a path for messages. */
function closedObjects(): Array<{ where: string; keys: string[] }> {
  const out: Array<{ where: string; keys: string[] }> = [];
  const walk = (node: unknown, where: string): void => {
    if (Array.isArray(node)) return node.forEach((n, i) => walk(n, `${where}[${i}]`));
    if (node === null || typeof node !== 'object') return;
    const o = node as JsonSchema;
    if (o.additionalProperties === false) out.push({ where, keys: Object.keys(o.properties ?? {}) });
    for (const [k, v] of Object.entries(o)) if (k !== 'properties' || typeof v !== 'object') walk(v, `${where}/${k}`);
    for (const [k, v] of Object.entries(o.properties ?? {})) walk(v, `${where}/properties/${k}`);
  };
  walk(schema, '#');
  return out;
}

const sameKeys = (a: string[], b: string[]): boolean => a.length === b.length && a.every((k) => b.includes(k));

test('every key list the map parser accepts is an object of the schema, with the same keys', () => {
  const lists = parserKeyLists();
  // server, rrl, geoip, health, alerts, datacenter, region, zone, soa, service, addresses, check (and the top level).
  assert.ok(lists.length >= 13, `found only ${lists.length} r.map(..., KEYS) calls in src/: did the parser change shape?`);
  const objects = closedObjects();
  for (const l of lists) {
    const match = objects.find((o) => sameKeys(o.keys, l.keys));
    const near = objects.filter((o) => l.keys.some((k) => o.keys.includes(k))).map((o) => `${o.where}: ${o.keys.join(', ')}`);
    assert.ok(match, `${l.where}: the parser accepts [${l.keys.join(', ')}] but no schema object declares exactly these keys; nearest:\n${near.join('\n')}`);
  }
  for (const o of objects) {
    assert.ok(lists.some((l) => sameKeys(o.keys, l.keys)), `${o.where}: the schema declares [${o.keys.join(', ')}], which no parser key list accepts`);
  }
});
