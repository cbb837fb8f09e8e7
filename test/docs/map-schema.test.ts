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

// strict mode would reject the `if` without a `type` beside it; allErrors lists every problem, as check does.
const ajv = new Ajv({ allErrors: true, strict: false });
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
