import { isMap, isScalar, isSeq, LineCounter, type Node, type Pair, type Scalar, type YAMLMap, type YAMLSeq } from 'yaml';
import type { ConfigIssue } from '../common/errors';

/**
 * Typed access to a parsed YAML document that records every problem with the
 * node's file:line:col and YAML path, so a bad map file is reported whole
 * instead of one error per edit-and-retry.
 */
export class YamlReader {
  readonly issues: ConfigIssue[] = [];
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  pos(node: Node | null | undefined): { line: number; col: number } {
    const off = node?.range?.[0] ?? 0;
    return this.lines.linePos(off);
  }

  error(node: Node | null | undefined, path: string, message: string): void {
    const { line, col } = this.pos(node);
    this.issues.push({ file: this.file, line, col, path, message });
  }

  /** A mapping; unknown keys are reported against `allowed`. Returns [] pairs when absent or wrong. */
  map<K extends string = string>(node: unknown, path: string, allowed?: readonly K[]): Array<[K, Node | null, Pair]> {
    if (node == null) return [];
    if (!isMap(node)) {
      this.error(node as Node, path, `expected a mapping (key: value), found ${describe(node)}`);
      return [];
    }
    const out: Array<[K, Node | null, Pair]> = [];
    for (const pair of (node as YAMLMap).items) {
      const keyNode = pair.key as Node | null;
      if (!isScalar(keyNode) || (typeof keyNode.value !== 'string' && typeof keyNode.value !== 'number')) {
        this.error(keyNode, path, 'keys must be plain strings');
        continue;
      }
      const key = String(keyNode.value);
      if (allowed && !(allowed as readonly string[]).includes(key)) {
        this.error(keyNode, join(path, key), `unknown key "${key}" (allowed: ${allowed.join(', ')})`);
        continue;
      }
      out.push([key as K, (pair.value as Node | null) ?? null, pair]);
    }
    return out;
  }

  seq(node: Node | null, path: string): Node[] {
    if (node == null) return [];
    if (!isSeq(node)) {
      this.error(node, path, `expected a list, found ${describe(node)}`);
      return [];
    }
    return (node as YAMLSeq).items as Node[];
  }

  str(node: Node | null, path: string): string | null {
    if (isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number')) return String(node.value);
    this.error(node, path, `expected a string, found ${describe(node)}`);
    return null;
  }

  bool(node: Node | null, path: string): boolean | null {
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    this.error(node, path, `expected true or false, found ${describe(node)}`);
    return null;
  }

  int(node: Node | null, path: string, min: number, max: number): number | null {
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value)) {
      if (node.value >= min && node.value <= max) return node.value;
      this.error(node, path, `${node.value} is out of range ${min}..${max}`);
      return null;
    }
    this.error(node, path, `expected an integer, found ${describe(node)}`);
    return null;
  }

  /** Raw scalar value (string, number or boolean) for callers that accept several forms. */
  scalar(node: Node | null): Scalar['value'] | undefined {
    return isScalar(node) ? node.value : undefined;
  }
}

export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

function describe(node: unknown): string {
  if (node == null) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) return node.value === null ? 'null' : `${typeof node.value} ${JSON.stringify(node.value)}`;
  return 'an unexpected node';
}
