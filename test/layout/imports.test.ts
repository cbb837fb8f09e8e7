import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

// The design's import rules, checked on the source (repo root is three levels
// above dist/test/layout): cli wires the parts and no part imports cli; no
// import cycle between files; and the parts themselves depend one way (the
// graph of src/<part> -> src/<part> edges has no cycle).

const SRC = resolve(__dirname, '../../../src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** file (relative to src, no extension) -> the src files it imports. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  const all = new Set(files(SRC).map((f) => relative(SRC, f).replace(/\.ts$/, '')));
  for (const f of all) {
    const text = readFileSync(join(SRC, f + '.ts'), 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.[^']+)'/g)) {
      const target = relative(SRC, resolve(SRC, dirname(f), m[1]));
      const hit = all.has(target) ? target : all.has(target + '/index') ? target + '/index' : null;
      assert.ok(hit, `${f} imports ${m[1]}, which is not a source file`);
      deps.push(hit);
    }
    g.set(f, deps);
  }
  return g;
}

/** One cycle (as a path) or null. */
function findCycle(g: Map<string, string[]>): string[] | null {
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const visit = (n: string): string[] | null => {
    state.set(n, 1);
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      if (state.get(d) === 1) return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const c = visit(d);
        if (c) return c;
      }
    }
    stack.pop();
    state.set(n, 2);
    return null;
  };
  for (const n of g.keys()) {
    if (state.has(n)) continue;
    const c = visit(n);
    if (c) return c;
  }
  return null;
}

const partOf = (f: string): string => f.split('/')[0];

test('no part imports cli', () => {
  for (const [f, deps] of graph()) {
    if (partOf(f) === 'cli') continue;
    for (const d of deps) assert.notEqual(partOf(d), 'cli', `${f} imports ${d}`);
  }
});

test('no import cycle between source files', () => {
  assert.equal(findCycle(graph())?.join(' -> ') ?? null, null);
});

test('the parts depend one way: no cycle between src/ folders', () => {
  const parts = new Map<string, string[]>();
  for (const [f, deps] of graph()) {
    const p = partOf(f);
    const list = parts.get(p) ?? [];
    for (const d of deps) if (partOf(d) !== p && !list.includes(partOf(d))) list.push(partOf(d));
    parts.set(p, list);
  }
  assert.equal(findCycle(parts)?.join(' -> ') ?? null, null);
});
