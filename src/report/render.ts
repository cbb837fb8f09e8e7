import type { Report, Traffic } from './build';

/** Report files: report.html (charts), report.md (for people and tickets), report.json (for scripts). */

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const qps = (n: number): string => (n >= 100 ? n.toFixed(0) : n.toFixed(2));
const pct = (n: number): string => `${(n * 100).toFixed(1)}%`;
const hour = (iso: string | null): string => (iso === null ? '-' : `${iso.slice(0, 13).replace('T', ' ')}:00 UTC`);
const mins = (n: number): string => (n === 0 ? '0' : n.toFixed(n < 10 ? 1 : 0));
const peak = (t: Traffic): string => `${qps(t.peakQps)} q/s at ${hour(t.peakAt)}`;
const when = (iso: string): string => `${iso.slice(0, 19).replace('T', ' ')} UTC`;

/** Markdown cells: a | or a newline would break the table. */
const md = (s: string): string => s.replace(/[|\\`*_[\]<>]/g, (c) => `\\${c}`).replace(/\s+/g, ' ');

export function renderMarkdown(r: Report): string {
  const out: string[] = [];
  const table = (head: string[], rows: string[][]): void => {
    out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((c) => `| ${c.join(' | ')} |`), '');
  };
  out.push(`# geosteer traffic report: ${r.period}`, '');
  out.push(`${when(r.from)} .. ${when(r.to)}, from ${md(r.prometheus)}; peaks are the highest ${r.stepSeconds} s average.`, '');
  out.push(`- Queries answered (all names and types): **${int(r.queries.total)}**, peak ${peak(r.queries)}`);
  out.push(`- Service answers: **${int(r.serviceAnswers.total)}**, peak ${peak(r.serviceAnswers)}`);
  out.push(`- Headroom: ${r.headroom.note}`, '');
  out.push('## Datacenters', '');
  table(['datacenter', 'answers', 'share', 'peak q/s', 'peak hour', 'moved in'], r.datacenters.map((d) => [md(d.datacenter), int(d.total), pct(d.share), qps(d.peakQps), hour(d.peakAt), int(d.movedIn)]));
  out.push('## Regions', '');
  table(['region', 'answers', 'peak q/s', 'peak hour', 'moved', 'moved share', 'moved minutes'], r.regions.map((g) => [md(g.region), int(g.total), qps(g.peakQps), hour(g.peakAt), int(g.moved), pct(g.movedShare), mins(g.movedMinutes)]));
  out.push('## Region x datacenter', '');
  table(['region', 'datacenter', 'answers', 'peak q/s', 'peak hour'], r.cells.map((c) => [md(c.region), md(c.datacenter), int(c.total), qps(c.peakQps), hour(c.peakAt)]));
  out.push('## Top regions moved by failover', '');
  if (r.topMoved.length) table(['region', 'moved answers', 'share of its answers'], r.topMoved.map((m) => [md(m.region), int(m.moved), pct(m.movedShare)]));
  else out.push('None: every region was answered by its first choice.', '');
  out.push('## Failover and fallback', '');
  table(['service', 'datacenter', 'minutes down', 'verdict flips'], r.failover.map((f) => [md(f.service), md(f.dc), mins(f.downMinutes), String(f.flips)]));
  table(['service', 'minutes in fallback', 'fallback answers'], r.fallback.map((f) => [md(f.service), mins(f.minutes), int(f.answers)]));
  return out.join('\n');
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** A line chart of queries per second per datacenter over the period, as inline SVG. */
function lineChart(r: Report): string {
  const W = 860;
  const H = 240;
  const L = 56;
  const B = 28;
  const series = Object.entries(r.timeline.datacenters);
  const n = r.timeline.at.length;
  const max = Math.max(1e-9, ...r.timeline.queries, ...series.flatMap(([, v]) => v));
  const x = (i: number): number => L + ((W - L - 10) * i) / Math.max(1, n - 1);
  const y = (v: number): number => H - B - ((H - B - 10) * v) / max;
  const path = (v: number[]): string => v.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)},${y(p).toFixed(1)}`).join('');
  const ticks = [0, 0.5, 1].map((f) => `<text x="${L - 6}" y="${y(max * f) + 4}" text-anchor="end">${esc(qps(max * f))}</text><line x1="${L}" x2="${W - 10}" y1="${y(max * f)}" y2="${y(max * f)}" class="grid"/>`);
  const anchor = ['start', 'middle', 'end'];
  const times = [0, Math.floor((n - 1) / 2), n - 1].map((i, k) => `<text x="${x(i)}" y="${H - 8}" text-anchor="${anchor[k]}">${esc((r.timeline.at[i] ?? '').slice(0, 16).replace('T', ' '))}</text>`);
  const lines = [`<path d="${path(r.timeline.queries)}" class="all"/>`, ...series.map(([, v], i) => `<path d="${path(v)}" stroke="${COLORS[i % COLORS.length]}"/>`)];
  const legend = [['all queries', '#888'], ...series.map(([dc], i) => [dc, COLORS[i % COLORS.length]])]
    .map(([name, c], i) => `<rect x="${L + i * 120}" y="0" width="10" height="10" fill="${c}"/><text x="${L + i * 120 + 14}" y="9">${esc(name)}</text>`);
  return `<svg viewBox="0 0 ${W} ${H + 14}" role="img" aria-label="queries per second per datacenter"><g transform="translate(0,14)">${ticks.join('')}${times.join('')}<g class="lines">${lines.join('')}</g></g><g class="legend">${legend.join('')}</g></svg>`;
}

/** A horizontal bar per datacenter: its share of the service answers. */
function shareChart(r: Report): string {
  const W = 860;
  const row = 26;
  const bars = r.datacenters.map((d, i) => {
    const w = Math.max(0, (W - 260) * d.share);
    return `<text x="0" y="${i * row + 17}">${esc(d.datacenter)}</text><rect x="120" y="${i * row + 4}" width="${w.toFixed(1)}" height="18" fill="${COLORS[i % COLORS.length]}"/><text x="${(126 + w).toFixed(1)}" y="${i * row + 17}">${esc(`${pct(d.share)} (${int(d.total)})`)}</text>`;
  });
  return `<svg viewBox="0 0 ${W} ${Math.max(1, r.datacenters.length) * row + 6}" role="img" aria-label="share per datacenter">${bars.join('')}</svg>`;
}

function htmlTable(head: string[], rows: string[][]): string {
  if (!rows.length) return '<p class="none">none</p>';
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${rows.map((c) => `<tr>${c.map((v) => `<td>${esc(v)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

/** One self-contained page: inline CSS and SVG, no script, a CSP that forbids loading anything. */
export function renderHtml(r: Report): string {
  const title = `geosteer traffic report: ${r.period}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${esc(title)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:900px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
.sub{color:#666}.kpi{display:flex;gap:16px;margin:14px 0}.kpi div{border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.kpi b{display:block;font-size:20px}table{border-collapse:collapse;margin:4px 0}
th,td{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}th:first-child,td:first-child{text-align:left}
th{background:#f6f6f6}svg{width:100%;height:auto;font-size:11px}svg .grid{stroke:#eee}
svg .lines path{fill:none;stroke-width:1.5}svg path.all{stroke:#888;stroke-dasharray:4 3}.none{color:#666}
</style></head><body>
<h1>${esc(title)}</h1>
<div class="sub">${esc(`${when(r.from)} .. ${when(r.to)} from ${r.prometheus}; peaks are the highest ${r.stepSeconds} s average`)}</div>
<div class="kpi">
<div>queries answered<b>${esc(int(r.queries.total))}</b>${esc(`peak ${peak(r.queries)}`)}</div>
<div>service answers<b>${esc(int(r.serviceAnswers.total))}</b>${esc(`peak ${qps(r.serviceAnswers.peakQps)} q/s`)}</div>
<div>moved by failover<b>${esc(int(r.regions.reduce((a, g) => a + g.moved, 0)))}</b>answers</div>
<div>headroom<b>-</b>${esc(r.headroom.note)}</div>
</div>
<h2>Queries per second</h2>
${lineChart(r)}
<h2>Share carried per datacenter</h2>
${shareChart(r)}
<h2>Datacenters</h2>
${htmlTable(['datacenter', 'answers', 'share', 'peak q/s', 'peak hour', 'moved in'], r.datacenters.map((d) => [d.datacenter, int(d.total), pct(d.share), qps(d.peakQps), hour(d.peakAt), int(d.movedIn)]))}
<h2>Regions</h2>
${htmlTable(['region', 'answers', 'peak q/s', 'peak hour', 'moved', 'moved share', 'moved minutes'], r.regions.map((g) => [g.region, int(g.total), qps(g.peakQps), hour(g.peakAt), int(g.moved), pct(g.movedShare), mins(g.movedMinutes)]))}
<h2>Region x datacenter</h2>
${htmlTable(['region', 'datacenter', 'answers', 'peak q/s', 'peak hour'], r.cells.map((c) => [c.region, c.datacenter, int(c.total), qps(c.peakQps), hour(c.peakAt)]))}
<h2>Top regions moved by failover</h2>
${htmlTable(['region', 'moved answers', 'share of its answers'], r.topMoved.map((m) => [m.region, int(m.moved), pct(m.movedShare)]))}
<h2>Failover and fallback</h2>
${htmlTable(['service', 'datacenter', 'minutes down', 'verdict flips'], r.failover.map((f) => [f.service, f.dc, mins(f.downMinutes), String(f.flips)]))}
${htmlTable(['service', 'minutes in fallback', 'fallback answers'], r.fallback.map((f) => [f.service, mins(f.minutes), int(f.answers)]))}
</body></html>
`;
}
