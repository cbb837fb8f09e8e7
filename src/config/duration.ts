/**
 * Durations in the map file carry units (`60s`, `10m`, `1h30m`, `14d`, `1w`), as
 * CoreDNS and BIND write them; a bare number means seconds. Returns seconds, or
 * null when the text is not a duration.
 */
const UNIT: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

export function parseDuration(text: string | number): number | null {
  if (typeof text === 'number') return Number.isInteger(text) && text >= 0 ? text : null;
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) return Number(t);
  if (!/^(\d+[smhdw])+$/.test(t)) return null;
  let total = 0;
  for (const m of t.matchAll(/(\d+)([smhdw])/g)) total += Number(m[1]) * UNIT[m[2]];
  return total;
}

/** Like parseDuration but in milliseconds, and `ms` is allowed (`500ms`, `2s`, `1m30s`). Bare numbers are seconds. */
export function parseDurationMs(text: string | number): number | null {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.round(text * 1000) : null;
  const t = text.trim().toLowerCase();
  if (/^\d+$/.test(t)) return Number(t) * 1000;
  if (!/^(\d+(ms|[smhdw]))+$/.test(t)) return null;
  let total = 0;
  for (const m of t.matchAll(/(\d+)(ms|[smhdw])/g)) total += m[2] === 'ms' ? Number(m[1]) : Number(m[1]) * UNIT[m[2]] * 1000;
  return total;
}
