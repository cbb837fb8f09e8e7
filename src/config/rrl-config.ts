import type { Node } from 'yaml';
import { parseCidr, type Cidr } from '../common/ip';
import type { RrlConfig } from '../dns';
import { join, type YamlReader } from './yaml-reader';

/**
 * `server.rrl`: response rate limiting (src/dns/rrl.ts). On by default, with
 * numbers meant never to touch a real resolver: Knot's documented example
 * rate (200 answers/s for one name from one /24), a 2 s burst, and every
 * second limited answer sent truncated so a resolver that really sent it
 * retries over TCP. A GeoDNS behind ECS-forwarding public resolvers sees one
 * query per cached client subnet, not per resolver, which is why the answer
 * rate is not BIND's example 5/s; our ECS scopes are the widest same-answer
 * block (a Guangdong /24 gets /11), so that fan-out stays small. The key
 * never includes the ECS subnet: a spoofer would vary it to dodge the limit.
 * `rrl: off` turns it off.
 */
export const DEFAULT_RRL_CONFIG: RrlConfig = {
  responsesPerSecond: 200,
  errorsPerSecond: 50,
  window: 2,
  slip: 2,
  ipv4Prefix: 24,
  ipv6Prefix: 56,
  // Loopback cannot be spoofed from outside (Linux drops martian sources), and
  // local health checks and benchmarks come from it.
  exempt: [parseCidr('127.0.0.0/8') as Cidr, parseCidr('::1/128') as Cidr],
  logOnly: false,
  tableSize: 65_536,
};

const KEYS = ['responses_per_second', 'errors_per_second', 'window', 'slip', 'ipv4_prefix', 'ipv6_prefix', 'exempt', 'log_only', 'table_size'] as const;

/** Parses the `rrl` value; `readAcl` is the map's CIDR-list reader. Returns null for `off`. */
export function parseRrlBlock(r: YamlReader, node: Node | null, path: string, readAcl: (node: Node | null, path: string) => Cidr[]): RrlConfig | null {
  const raw = r.scalar(node);
  if (raw === false || raw === 'off') return null;
  const out: RrlConfig = { ...DEFAULT_RRL_CONFIG };
  if (raw === true || raw === 'on') return out;
  for (const [k, v] of r.map(node, path, KEYS)) {
    const kp = join(path, k);
    if (k === 'responses_per_second') out.responsesPerSecond = r.int(v, kp, 1, 1_000_000) ?? out.responsesPerSecond;
    else if (k === 'errors_per_second') out.errorsPerSecond = r.int(v, kp, 1, 1_000_000) ?? out.errorsPerSecond;
    else if (k === 'window') out.window = r.int(v, kp, 1, 3600) ?? out.window;
    else if (k === 'slip') out.slip = r.int(v, kp, 0, 10) ?? out.slip;
    else if (k === 'ipv4_prefix') out.ipv4Prefix = r.int(v, kp, 8, 32) ?? out.ipv4Prefix;
    else if (k === 'ipv6_prefix') out.ipv6Prefix = r.int(v, kp, 16, 64) ?? out.ipv6Prefix;
    else if (k === 'exempt') out.exempt = readAcl(v, kp);
    else if (k === 'log_only') out.logOnly = r.bool(v, kp) ?? out.logOnly;
    else out.tableSize = r.int(v, kp, 1024, 16_777_216) ?? out.tableSize;
  }
  return out;
}
