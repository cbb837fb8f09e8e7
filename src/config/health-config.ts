import { isIP } from 'node:net';
import type { Node } from 'yaml';
import type { Quorum } from '../health/verdict';
import { DEFAULT_CHECK_TIMING, type CheckConfig, type CheckType } from './check-config';
import { parseDuration, parseDurationMs } from './duration';
import { join, type YamlReader } from './yaml-reader';

/** The map's `health:` block. */
export interface HealthConfig {
  quorum: Quorum;
  /** TTL of answers that moved away from a region's first choice (failover, fallback, promoted primary). */
  failoverTtl: number;
  /** How long a primary must stay down before the leader promotes a standby. */
  holdDownMs: number;
}

export const DEFAULT_HEALTH_CONFIG: HealthConfig = { quorum: 'majority', failoverTtl: 30, holdDownMs: 30_000 };

/** Where a prober checks one datacenter of a service. */
export interface CheckTarget {
  address: string;
  port: number;
}

const QTYPES: Record<string, number> = { A: 1, NS: 2, CNAME: 5, SOA: 6, MX: 15, TXT: 16, AAAA: 28, SRV: 33 };
const RCODES: Record<string, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 };
const DEFAULT_PORT: Record<CheckType, number> = { http: 80, https: 443, dns: 53, tcp: 0 };

export function parseHealthBlock(r: YamlReader, node: Node | null): HealthConfig {
  const out = { ...DEFAULT_HEALTH_CONFIG };
  for (const [k, v] of r.map(node, 'health', ['quorum', 'failover_ttl', 'hold_down'] as const)) {
    const kp = join('health', k);
    if (k === 'quorum') {
      const raw = r.scalar(v);
      if (raw === 'majority') out.quorum = 'majority';
      else if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 1 && raw <= 100) out.quorum = raw;
      else r.error(v, kp, 'quorum must be "majority" or a number of down votes (1-100)');
    } else if (k === 'failover_ttl') {
      const raw = r.scalar(v);
      const d = typeof raw === 'string' || typeof raw === 'number' ? parseDuration(raw) : null;
      if (d === null) r.error(v, kp, 'expected a duration such as 30s');
      else out.failoverTtl = d;
    } else {
      const ms = readMs(r, v, kp);
      if (ms !== null) out.holdDownMs = ms;
    }
  }
  return out;
}

function readMs(r: YamlReader, node: Node | null, path: string): number | null {
  const raw = r.scalar(node);
  const d = typeof raw === 'string' || typeof raw === 'number' ? parseDurationMs(raw) : null;
  if (d === null) r.error(node, path, 'expected a duration such as 500ms, 5s, 1m');
  return d;
}

function parseTarget(text: string, defaultPort: number): CheckTarget | null {
  let m = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  if (!m) m = /^(\d{1,3}(?:\.\d{1,3}){3})(?::(\d{1,5}))?$/.exec(text);
  if (!m && isIP(text) === 6) return { address: text, port: defaultPort };
  if (!m || !isIP(m[1])) return null;
  const port = m[2] ? Number(m[2]) : defaultPort;
  return port > 0 && port <= 65535 ? { address: m[1], port } : null;
}

/**
 * A service's `check:` block. `targets` maps a datacenter to the address
 * probed instead of the service's public addresses (probing a management or
 * private address is common); without it every address of the datacenter is
 * checked, and the datacenter passes only when all of them do.
 */
export function parseCheck(
  r: YamlReader,
  node: Node | null,
  path: string,
  serviceName: string,
  dcIndex: Map<string, number>,
): { check: CheckConfig; targets: Map<number, CheckTarget> } | null {
  const keys = ['type', 'port', 'path', 'method', 'expect_status', 'body', 'host', 'name', 'qtype', 'rcode', 'require_answer', 'interval', 'timeout', 'fall', 'rise', 'targets', 'per_address'] as const;
  const f = new Map<string, Node | null>();
  for (const [k, v] of r.map(node, path, keys)) f.set(k, v);
  const typeText = f.has('type') ? r.str(f.get('type') ?? null, join(path, 'type')) : null;
  if (!f.has('type')) {
    r.error(node, join(path, 'type'), 'missing: http, https, tcp or dns');
    return null;
  }
  if (typeText === null) return null;
  if (!['http', 'https', 'tcp', 'dns'].includes(typeText)) {
    r.error(f.get('type') ?? null, join(path, 'type'), `check type must be http, https, tcp or dns, not "${typeText}"`);
    return null;
  }
  const type = typeText as CheckType;
  const allowed: Record<CheckType, string[]> = {
    http: ['path', 'method', 'expect_status', 'body', 'host'],
    https: ['path', 'method', 'expect_status', 'body', 'host'],
    tcp: [],
    dns: ['name', 'qtype', 'rcode', 'require_answer'],
  };
  const common = ['type', 'port', 'interval', 'timeout', 'fall', 'rise', 'targets', 'per_address'];
  for (const k of f.keys()) {
    if (!common.includes(k) && !allowed[type].includes(k)) r.error(f.get(k) ?? null, join(path, k), `"${k}" does not apply to ${type} checks`);
  }
  const timing = { ...DEFAULT_CHECK_TIMING };
  if (f.has('interval')) timing.intervalMs = readMs(r, f.get('interval') ?? null, join(path, 'interval')) ?? timing.intervalMs;
  if (f.has('timeout')) timing.timeoutMs = readMs(r, f.get('timeout') ?? null, join(path, 'timeout')) ?? timing.timeoutMs;
  if (f.has('fall')) timing.fall = r.int(f.get('fall') ?? null, join(path, 'fall'), 1, 100) ?? timing.fall;
  if (f.has('rise')) timing.rise = r.int(f.get('rise') ?? null, join(path, 'rise'), 1, 100) ?? timing.rise;
  if (f.has('per_address')) timing.perAddress = r.bool(f.get('per_address') ?? null, join(path, 'per_address')) ?? false;
  if (timing.perAddress && f.has('targets')) {
    r.error(f.get('per_address') ?? null, join(path, 'per_address'), 'per_address checks the served addresses themselves: it cannot be combined with targets');
  }
  if (timing.intervalMs < 100) r.error(f.get('interval') ?? node, join(path, 'interval'), 'interval must be at least 100ms');
  if (timing.timeoutMs >= timing.intervalMs || timing.timeoutMs < 10) {
    r.error(f.get('timeout') ?? node, join(path, 'timeout'), `timeout (${timing.timeoutMs} ms) must be at least 10ms and shorter than interval (${timing.intervalMs} ms), so checks never overlap`);
  }
  let port = DEFAULT_PORT[type];
  if (f.has('port')) port = r.int(f.get('port') ?? null, join(path, 'port'), 1, 65535) ?? port;
  else if (type === 'tcp') r.error(node, join(path, 'port'), 'missing: tcp checks need a port');

  const targets = new Map<number, CheckTarget>();
  for (const [dcName, tv, tpair] of r.map(f.get('targets') ?? null, join(path, 'targets'))) {
    const tp = join(join(path, 'targets'), dcName);
    const dc = dcIndex.get(dcName);
    if (dc === undefined) {
      r.error(tpair.key as Node, tp, `unknown datacenter "${dcName}" (known: ${[...dcIndex.keys()].join(', ')})`);
      continue;
    }
    const s = r.str(tv, tp);
    const t = s === null ? null : parseTarget(s, port);
    if (s !== null && !t) r.error(tv, tp, `"${s}" is not ADDRESS, ADDRESS:PORT or [IPV6]:PORT`);
    if (t) targets.set(dc, t);
  }

  if (type === 'tcp') return { check: { type, port, ...timing }, targets };
  if (type === 'dns') {
    const qtypeText = f.has('qtype') ? r.str(f.get('qtype') ?? null, join(path, 'qtype')) : 'A';
    const qtype = qtypeText ? QTYPES[qtypeText.toUpperCase()] : undefined;
    if (qtypeText && qtype === undefined) r.error(f.get('qtype') ?? null, join(path, 'qtype'), `qtype must be one of ${Object.keys(QTYPES).join(', ')}`);
    const rcodeText = f.has('rcode') ? r.str(f.get('rcode') ?? null, join(path, 'rcode')) : 'NOERROR';
    const rcode = rcodeText ? RCODES[rcodeText.toUpperCase()] : undefined;
    if (rcodeText && rcode === undefined) r.error(f.get('rcode') ?? null, join(path, 'rcode'), `rcode must be one of ${Object.keys(RCODES).join(', ')}`);
    const name = f.has('name') ? (r.str(f.get('name') ?? null, join(path, 'name')) ?? serviceName) : serviceName;
    const requireAnswer = f.has('require_answer') ? (r.bool(f.get('require_answer') ?? null, join(path, 'require_answer')) ?? true) : true;
    return { check: { type, port, name: name.toLowerCase().replace(/\.$/, ''), qtype: qtype ?? 1, expectRcode: rcode ?? 0, requireAnswer, ...timing }, targets };
  }
  const p = f.has('path') ? (r.str(f.get('path') ?? null, join(path, 'path')) ?? '/') : '/';
  if (!p.startsWith('/')) r.error(f.get('path') ?? null, join(path, 'path'), 'path must start with "/"');
  const method = f.has('method') ? r.str(f.get('method') ?? null, join(path, 'method')) : 'GET';
  if (method !== null && method !== 'GET' && method !== 'HEAD') r.error(f.get('method') ?? null, join(path, 'method'), 'method must be GET or HEAD');
  const expectStatus: Array<[number, number]> = [];
  if (f.has('expect_status')) {
    r.seq(f.get('expect_status') ?? null, join(path, 'expect_status')).forEach((item, i) => {
      const raw = r.scalar(item);
      const m = /^(\d{3})(?:-(\d{3}))?$/.exec(String(raw));
      if (!m || Number(m[1]) < 100 || Number(m[2] ?? m[1]) > 599 || Number(m[2] ?? m[1]) < Number(m[1])) {
        r.error(item, join(join(path, 'expect_status'), i), `"${String(raw)}" is not a status code (200) or range (200-399)`);
      } else expectStatus.push([Number(m[1]), Number(m[2] ?? m[1])]);
    });
  } else expectStatus.push([200, 399]);
  const body = f.has('body') ? r.str(f.get('body') ?? null, join(path, 'body')) : null;
  if (body !== null && method === 'HEAD') r.error(f.get('body') ?? null, join(path, 'body'), 'a HEAD check has no body to match');
  const host = f.has('host') ? r.str(f.get('host') ?? null, join(path, 'host')) : null;
  return {
    check: { type, port, path: p, method: method === 'HEAD' ? 'HEAD' : 'GET', expectStatus, bodyContains: body, host, ...timing },
    targets,
  };
}
