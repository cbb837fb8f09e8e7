import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './build';
import { renderHtml, renderMarkdown } from './render';

/** Writes report.html, report.md and report.json into DIR (made if missing), each by rename so a reader never sees half a file. */
export function writeReport(r: Report, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const files: Array<[string, string]> = [
    ['report.html', renderHtml(r)],
    ['report.md', renderMarkdown(r) + '\n'],
    ['report.json', JSON.stringify(r, null, 2) + '\n'],
  ];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(`${path}.tmp`, text);
    renameSync(`${path}.tmp`, path);
    return path;
  });
}
