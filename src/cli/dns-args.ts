import { parseDurationMs } from '../config/duration';
import type { DnsOptions } from '../dns';
import { UsageError } from './redis-args';

/** serve's TCP limit flags (process settings, like the listen addresses; defaults in src/dns/options.ts). */
export const DNS_ARGS = {
  'tcp-max-connections': { type: 'string' },
  'tcp-max-per-source': { type: 'string' },
  'tcp-idle-timeout': { type: 'string' },
  'tcp-max-lifetime': { type: 'string' },
  'tcp-max-in-flight': { type: 'string' },
  udp: { type: 'string' },
} as const;

export const DNS_USAGE = `  --tcp-max-connections N (1000)  --tcp-max-per-source N (32)  --tcp-max-in-flight N (32)
  --tcp-idle-timeout DUR (10s)    --tcp-max-lifetime DUR (120s)
  --udp batched|dgram (batched: recvmmsg/sendmmsg, one SO_REUSEPORT socket per worker; dgram if it cannot load)`;

type DnsArgValues = Partial<Record<keyof typeof DNS_ARGS, string>>;

export function dnsOptionsFromArgs(values: DnsArgValues): Partial<DnsOptions> {
  const out: Partial<DnsOptions> = {};
  const count = (flag: keyof typeof DNS_ARGS, max: number): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${flag} must be a whole number from 1 to ${max}`);
    return n;
  };
  const duration = (flag: keyof typeof DNS_ARGS): number | undefined => {
    const raw = values[flag];
    if (raw === undefined) return undefined;
    const ms = parseDurationMs(raw);
    if (ms === null || ms < 100 || ms > 86_400_000) throw new UsageError(`--${flag} must be a duration from 100ms to 1d, such as 10s`);
    return ms;
  };
  const set = <K extends keyof DnsOptions>(k: K, v: DnsOptions[K] | undefined): void => {
    if (v !== undefined) out[k] = v;
  };
  const udp = values.udp;
  if (udp !== undefined && udp !== 'batched' && udp !== 'dgram') throw new UsageError('--udp must be batched or dgram');
  set('udp', udp);
  set('tcpMaxConnections', count('tcp-max-connections', 1_000_000));
  set('tcpMaxConnectionsPerSource', count('tcp-max-per-source', 1_000_000));
  set('tcpMaxInFlight', count('tcp-max-in-flight', 65_535));
  set('tcpIdleTimeoutMs', duration('tcp-idle-timeout'));
  set('tcpMaxLifetimeMs', duration('tcp-max-lifetime'));
  return out;
}
