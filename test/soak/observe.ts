import { get } from 'node:http';
import { buildQuery, ecsOption, udpExchange } from '../helpers/packet';
import { parseProm, promValue, type PromText } from '../helpers/prom';

/**
 * How the soak watches the server from outside: one DNS question at a time
 * (the flipped region's answer, the reloaded TXT record) and /metrics.
 */

/** The first answer record's data: an A record as a dotted quad, a TXT record as its joined strings; null for none. */
export function firstAnswer(reply: Buffer): string | null {
  if (reply.length < 12 || reply.readUInt16BE(6) === 0) return null;
  let off = 12;
  const skipName = (): void => {
    while (off < reply.length) {
      const len = reply[off];
      if (len >= 0xc0) {
        off += 2;
        return;
      }
      off += 1 + len;
      if (len === 0) return;
    }
  };
  for (let q = reply.readUInt16BE(4); q > 0; q--) {
    skipName();
    off += 4;
  }
  skipName();
  if (off + 10 > reply.length) return null;
  const type = reply.readUInt16BE(off);
  const rdlen = reply.readUInt16BE(off + 8);
  const rdata = reply.subarray(off + 10, off + 10 + rdlen);
  if (type === 1 && rdlen === 4) return [...rdata].join('.');
  if (type === 16) {
    const parts: string[] = [];
    for (let i = 0; i < rdata.length; i += 1 + rdata[i]) parts.push(rdata.subarray(i + 1, i + 1 + rdata[i]).toString('latin1'));
    return parts.join('');
  }
  return null;
}

let nextId = 1;

/** Asks NAME TYPE (optionally with an ECS /24) and returns the first answer's data, undefined when no reply came. */
export async function ask(port: number, name: string, type: number, ecs: string | null, timeoutMs = 1000): Promise<string | null | undefined> {
  nextId = (nextId % 65535) + 1;
  const q = buildQuery({ id: nextId, name, type, edns: { options: ecs ? [ecsOption(ecs, 24)] : [] } });
  const r = await udpExchange(port, q, timeoutMs);
  return r ? firstAnswer(r) : undefined;
}

/** GET /metrics without keep-alive (a pooled connection would show in the server's fd count). */
export function scrapeOnce(port: number, timeoutMs = 4000): Promise<PromText> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(parseProm(body)) : reject(new Error(`/metrics answered ${res.statusCode}`))));
    });
    req.on('timeout', () => req.destroy(new Error('/metrics timed out')));
    req.on('error', reject);
  });
}

/** The numbers the soak samples from serve's /metrics. */
export interface ServeMetricsSample {
  loopP99Ms: number;
  loopMaxMs: number;
  reloadsOk: number;
  reloadsFailed: number;
  verdictUp: number;
  /** V8 heap in use and memory outside it (Buffers, ArrayBuffers: the MMDB file), MB; to tell a leak from RSS slack. */
  heapUsedMb: number;
  externalMb: number;
  handles: number;
}

export function pickMetrics(p: PromText, dc: string): ServeMetricsSample {
  return {
    loopP99Ms: promValue(p, 'nodejs_eventloop_lag_p99_seconds') * 1000,
    loopMaxMs: promValue(p, 'nodejs_eventloop_lag_max_seconds') * 1000,
    reloadsOk: promValue(p, 'geosteer_config_reloads_total', { result: 'ok' }),
    reloadsFailed: promValue(p, 'geosteer_config_reloads_total', { result: 'failed' }),
    verdictUp: promValue(p, 'geosteer_health_verdict', { dc }),
    heapUsedMb: promValue(p, 'nodejs_heap_size_used_bytes') / 2 ** 20,
    externalMb: promValue(p, 'nodejs_external_memory_bytes') / 2 ** 20,
    handles: promValue(p, 'nodejs_active_handles_total'),
  };
}
