import assert from 'node:assert/strict';
import { test } from 'node:test';
import { increases, renderHtml, renderMarkdown, type Report } from '../../src/report';

// The arithmetic and the escaping of the report, on hand-made inputs (report-prometheus.test.ts
// runs the whole thing against a real Prometheus).

test('increases: the first point is the baseline, a series born later counts from 0, a drop is a restart', () => {
  const inc = (v: number[]): number[] => Array.from(increases(Float64Array.from(v)));
  assert.deepEqual(inc([100, 150, 150, 400]), [0, 50, 0, 250]);
  assert.deepEqual(inc([NaN, NaN, 30, 90]), [0, 0, 30, 60]);
  assert.deepEqual(inc([500, 20, 70]), [0, 20, 50]);
  // A gap (no sample within the lookback) keeps the last value as the reference.
  assert.deepEqual(inc([10, NaN, 40]), [0, 0, 30]);
});

const NASTY = '<script>alert(1)</script>|"q"&';

function report(): Report {
  const t = { total: 120, peakQps: 1.5, peakAt: '2026-12-07T02:00:00.000Z' };
  return {
    format: 'geosteer-report/1',
    prometheus: 'http://127.0.0.1:9090/<x>',
    period: 'day',
    from: '2026-12-06T02:00:00.000Z',
    to: '2026-12-07T02:00:00.000Z',
    stepSeconds: 60,
    queries: t,
    serviceAnswers: t,
    datacenters: [{ datacenter: NASTY, ...t, share: 1, movedIn: 0 }],
    regions: [{ region: NASTY, ...t, moved: 12, movedShare: 0.1, movedMinutes: 2, datacenters: { [NASTY]: 120 } }],
    cells: [{ region: NASTY, datacenter: NASTY, ...t }],
    failover: [{ service: NASTY, dc: NASTY, downMinutes: 2, flips: 2 }],
    fallback: [{ service: NASTY, minutes: 0, answers: 0 }],
    topMoved: [{ region: NASTY, moved: 12, movedShare: 0.1 }],
    headroom: { declared: false, note: 'no capacity declared' },
    timeline: { at: ['2026-12-07T01:59:00.000Z', '2026-12-07T02:00:00.000Z'], queries: [0, 2], datacenters: { [NASTY]: [0, 2] } },
  };
}

test('HTML: every string from Prometheus labels is text, never markup; nothing is loaded from anywhere', () => {
  const html = renderHtml(report());
  assert.doesNotMatch(html, /<script|<x>|\bsrc=|\bhref=|url\(/i);
  assert.ok(html.includes('&#60;script&#62;alert(1)&#60;/script&#62;|&#34;q&#34;&#38;'));
  assert.match(html, /default-src 'none'/);
  assert.match(html, /no capacity declared/);
});

test('Markdown: a label cannot break a table row or start markup', () => {
  const md = renderMarkdown(report());
  // Each table's rows have as many cells as its header: the label's | is escaped.
  const cells = (l: string): number => l.split(/(?<!\\)\|/).length;
  let header = 0;
  let rows = 0;
  for (const l of md.split('\n')) {
    if (!l.startsWith('|')) {
      header = 0;
      continue;
    }
    if (header === 0) header = cells(l);
    else assert.equal(cells(l), header, l);
    if (l.startsWith('| \\<script\\>')) rows++;
  }
  assert.equal(rows, 6);
  assert.match(md, /- Headroom: no capacity declared/);
  assert.match(md, /peak 1\.50 q\/s at 2026-12-07 02:00 UTC/);
});
