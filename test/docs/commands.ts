import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { VERBS } from '../../src/cli/verbs';

// The `geosteer ...` command lines of the READMEs, as a reader would copy them.

/** One command line from a README code block. */
export interface DocCommand {
  /** README path relative to the repository root, and the line the command starts on. */
  file: string;
  line: number;
  /** The command as written (continuation lines joined, prompt removed, comment kept). */
  text: string;
  /** Ends with `&`: keeps running while the rest of its block runs. */
  background: boolean;
  /** serve and probe run until stopped. */
  daemon: boolean;
  /** The verb (`serve`, `check`, ...), or the flag (`--help`). */
  verb: string;
  /** In a ```console block: the output printed under it (until the next prompt or blank line + prompt). */
  output: string[] | null;
}

/** A code block's commands, in order, and the `export NAME=VALUE` lines among them. */
export interface DocBlock {
  file: string;
  line: number;
  lang: string;
  steps: Array<DocCommand | { export: string; value: string }>;
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console']);
const VERB_WORDS = [...Object.keys(VERBS), 'help', '--help', '-h', '--version', '-V', 'version'];
// Environment assignments, then `geosteer WORD`.
const COMMAND = /^((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)geosteer(?:\s+(\S+)|$)/;

/** README.md and the README of every part under src/. */
export function readmes(root: string): string[] {
  const parts = readdirSync(join(root, 'src')).filter((p) => statSync(join(root, 'src', p)).isDirectory());
  return [join(root, 'README.md'), ...parts.map((p) => join(root, 'src', p, 'README.md')).filter((f) => statSync(f, { throwIfNoEntry: false }))];
}

/**
 * Every fenced code block's `geosteer` commands. In sh/console blocks every line that runs
 * `geosteer` counts (a `$ ` prompt is dropped, `\` continuations joined); in any other block
 * (yaml, ini: commands shown as comments) a `# geosteer VERB ...` comment counts. ```text blocks
 * are diagrams: none.
 */
export function extractBlocks(root: string, path: string): DocBlock[] {
  const file = relative(root, path);
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const lang = fence[1];
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++;
    const body = lines.slice(start, end);
    i = end;
    if (lang === 'text') continue;
    const block: DocBlock = { file, line: start, lang, steps: [] };
    for (let j = 0; j < body.length; j++) {
      const lineNo = start + j + 1;
      let text: string;
      if (SHELL.has(lang)) {
        text = body[j];
        if (lang === 'console') {
          if (!text.startsWith('$ ')) continue;
          text = text.slice(2);
        }
        while (text.endsWith('\\') && j + 1 < body.length) text = text.slice(0, -1).trimEnd() + ' ' + body[++j].trim();
        text = text.trim();
        const exp = /^export ([A-Z_][A-Z0-9_]*)=(\S+)/.exec(text);
        if (exp) {
          block.steps.push({ export: exp[1], value: exp[2] });
          continue;
        }
      } else {
        const c = /^\s*#\s*(.*)$/.exec(body[j]);
        if (!c) continue;
        text = c[1].trim();
        const m = COMMAND.exec(text);
        if (!m || !VERB_WORDS.includes(m[2] ?? '')) continue;
      }
      const m = COMMAND.exec(text);
      if (!m) continue;
      const verb = m[2] ?? '';
      let output: string[] | null = null;
      if (lang === 'console') {
        output = [];
        while (j + 1 < body.length && !body[j + 1].startsWith('$ ')) output.push(body[++j]);
        while (output.length && output[output.length - 1] === '') output.pop();
      }
      block.steps.push({ file, line: lineNo, text, background: /&\s*(#.*)?$/.test(text), daemon: verb === 'serve' || verb === 'probe', verb, output });
    }
    if (block.steps.some((s) => 'text' in s)) blocks.push(block);
  }
  return blocks;
}

/**
 * Commands that only make sense in production: the docs test checks that they parse (verb, options,
 * arguments) but does not run them. Each rule says why; keep this list short.
 */
export const PRODUCTION: Array<{ why: string; matches: (text: string) => boolean }> = [
  { why: 'binds port 53 (a production listener; needs CAP_NET_BIND_SERVICE)', matches: (t) => /--listen \S*:53(\s|$)/.test(t) },
  { why: 'talks to a Redis or Sentinel on another host', matches: (t) => /rediss?:\/\/(?:[^@\s]*@)?(?!127\.0\.0\.1[:/\s]|\[::1\])/.test(t) || /--redis-sentinels (?!127\.0\.0\.1:)/.test(t) },
  { why: 'reads production files under /etc/geosteer', matches: (t) => t.includes('/etc/geosteer/') },
];

export const productionReason = (text: string): string | null => PRODUCTION.find((r) => r.matches(text))?.why ?? null;
