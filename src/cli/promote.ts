import { hostname } from 'node:os';
import { loadMapFile, type MapConfig } from '../config';
import { RedisStore } from '../health';
import { ControlClient } from './control-client';
import { redisOrServer, UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

/**
 * `geosteer promote SERVICE DC [--reason TEXT]`: the operator moves a primary
 * pointer (including moving it back after an automatic failover). Not fenced
 * by the leader lease: an operator outranks the leader.
 */
export async function promoteCommand(args: string[], defaultConfig: string, out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseVerbArgs('promote', args);
  const [rawService, dc] = positionals;
  const service = rawService.toLowerCase().replace(/\.$/, '');
  const redis = redisOrServer(values);
  const reason = values.reason ?? 'manual promote';
  const by = values.by ?? hostname();
  if (!redis) {
    // No shared table: the running server checks SERVICE and DC against its live map (or --config here first).
    if (values.config) checkPromote(loadMapFile(values.config), service, dc);
    await new ControlClient(values.server).promote({ service, dc, reason, by });
    out(`${service}: primary is now ${dc}`);
    return 0;
  }
  checkPromote(loadMapFile(values.config ?? defaultConfig), service, dc);
  const store = new RedisStore(redis);
  try {
    await store.whenReady();
    await store.setPrimary({ service, dc, epoch: 0, by, reason });
    await store.audit({ action: 'promote', service, dc, by, reason });
    out(`${service}: primary is now ${dc}`);
    return 0;
  } finally {
    await store.close();
  }
}

/** SERVICE must be a policy: primary service of the map and DC one of its datacenters. */
function checkPromote(map: MapConfig, service: string, dc: string): void {
  const svc = map.services.find((s) => s.name === service);
  if (!svc || svc.policy !== 'primary') {
    throw new UsageError(`"${service}" is not a policy: primary service (${map.services.filter((s) => s.policy === 'primary').map((s) => s.name).join(', ') || 'none in this map'})`);
  }
  const idx = map.datacenters.findIndex((d) => d.name === dc);
  if (idx < 0 || !svc.addresses[idx]) throw new UsageError(`"${dc}" is not a datacenter of ${service}`);
}
