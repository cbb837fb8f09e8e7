import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

// Conventions that drift unless a test holds them (like CoreDNS's readme_test.go).

const ROOT = resolve(__dirname, '../../..');
const parts = readdirSync(join(ROOT, 'src')).filter((p) => statSync(join(ROOT, 'src', p)).isDirectory() && p !== 'common');

test('every part has a README with Name, Description, Syntax and Examples in that order', () => {
  for (const part of parts) {
    const text = readFileSync(join(ROOT, 'src', part, 'README.md'), 'utf8');
    assert.match(text, new RegExp(`^# ${part}\\n`), `${part}: title`);
    let last = -1;
    for (const h of ['## Name', '## Description', '## Syntax', '## Examples']) {
      const at = text.indexOf(`\n${h}\n`);
      assert.ok(at > last, `${part}/README.md: "${h}" missing or out of order`);
      last = at;
    }
  }
});

test('every yaml block in the part READMEs parses', () => {
  for (const part of parts) {
    const text = readFileSync(join(ROOT, 'src', part, 'README.md'), 'utf8');
    for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
      assert.doesNotThrow(() => parse(m[1]), `${part}/README.md yaml block:\n${m[1]}`);
    }
  }
});

test('docs/errors.md documents every GS_ERR code used in src', () => {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : f.endsWith('.ts') ? [join(dir, f)] : []));
  const codes = new Set<string>();
  for (const f of walk(join(ROOT, 'src'))) for (const m of readFileSync(f, 'utf8').matchAll(/'(GS_ERR_[A-Z_]+)'/g)) codes.add(m[1]);
  assert.ok(codes.size > 0);
  for (const c of codes) assert.ok(doc.includes(c), `${c} missing from docs/errors.md`);
});
