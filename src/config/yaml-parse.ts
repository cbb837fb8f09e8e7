import { Composer, CST, LineCounter, Parser, type Document } from 'yaml';
import type { ConfigIssue } from '../common/errors';
import { join } from './yaml-reader';

/**
 * Deepest nesting of mappings and lists accepted in a map file. A real map
 * nests about 6 levels (services.FQDN.check.targets.DC); the yaml library
 * composes documents recursively and runs out of stack near 1000 levels,
 * which would surface as "Maximum call stack size exceeded".
 */
export const MAX_YAML_DEPTH = 64;

export interface ParsedYaml {
  /** The first document; null when the text was refused before composing (too deep). */
  doc: Document.Parsed | null;
  lines: LineCounter;
  /** Syntax errors, duplicate keys, a second document, too deep: each at FILE:LINE:COL. */
  issues: ConfigIssue[];
}

/**
 * Parses one YAML document like `parseDocument`, but checks the nesting depth
 * on the parser's tokens (a flat walk, no recursion) before the recursive
 * composer runs, so a hostile or broken file gets a normal map error.
 */
export function parseYaml(text: string, file: string): ParsedYaml {
  const lines = new LineCounter();
  const tokens = Array.from(new Parser(lines.addNewLine).parse(text));
  const issue = (offset: number, path: string, message: string): ConfigIssue => {
    const p = lines.linePos(offset);
    return { file, line: p.line, col: p.col, path, message };
  };
  const deep = tooDeep(tokens);
  if (deep) return { doc: null, lines, issues: [issue(deep.offset, deep.path, `nesting deeper than ${MAX_YAML_DEPTH} levels (mappings and lists inside each other); the limit is ${MAX_YAML_DEPTH}`)] };
  let doc: Document.Parsed | null = null;
  let second: ConfigIssue | null = null;
  for (const d of new Composer({ uniqueKeys: true }).compose(tokens, true, text.length)) {
    if (doc) {
      second = issue(d.range[0], '', 'a map file is one YAML document; remove the second one ("---")');
      break;
    }
    doc = d;
  }
  const issues = (doc?.errors ?? []).map((e) => issue(e.pos[0], '', e.message.split('\n')[0]));
  if (second) issues.push(second);
  return { doc, lines, issues };
}

/** Where the first collection deeper than MAX_YAML_DEPTH starts, with its YAML path (shortened when long). */
function tooDeep(tokens: CST.Token[]): { offset: number; path: string } | null {
  const stack: Array<{ token: CST.Token; depth: number; path: string }> = tokens.map((token) => ({ token, depth: 0, path: '' }));
  stack.reverse();
  while (stack.length > 0) {
    const { token, depth, path } = stack.pop() as { token: CST.Token; depth: number; path: string };
    if (token.type === 'document') {
      if (token.value) stack.push({ token: token.value, depth, path });
      continue;
    }
    if (token.type !== 'block-map' && token.type !== 'block-seq' && token.type !== 'flow-collection') continue;
    if (depth + 1 > MAX_YAML_DEPTH) return { offset: token.offset, path: path.length > 80 ? `${path.slice(0, 80)}...` : path };
    const isSeq = token.type === 'block-seq' || (token.type === 'flow-collection' && token.start.source === '[');
    // Pushed in reverse so the first item is looked at first (the error names the earliest place).
    for (let i = token.items.length - 1; i >= 0; i--) {
      const item = token.items[i] as { key?: CST.Token | null; value?: CST.Token };
      const key = isSeq ? i : item.key ? (CST.resolveAsScalar(item.key)?.value ?? '?') : '?';
      // Only the path is built for the prefix that will be shown.
      const next = path.length > 80 ? path : join(path, key);
      if (item.value) stack.push({ token: item.value, depth: depth + 1, path: next });
      if (item.key) stack.push({ token: item.key, depth: depth + 1, path: next });
    }
  }
  return null;
}
