import { loadMapFile } from '../config';
import { parseDurationMs } from '../config/duration';
import { RedisStore } from '../health';
import { operator } from './operator';
import { ControlClient } from './control-client';
import { redisOrServer, UsageError } from './redis-args';
import { parseVerbArgs } from './verbs';

/** Checks DC (and SERVICE) against the map when one was given, so a typo does not drain nothing. */
function checkNames(config: string | undefined, dc: string, service: string): void {
  if (!config) return;
  const map = loadMapFile(config);
  if (!map.datacenters.some((d) => d.name === dc)) throw new UsageError(`unknown datacenter "${dc}" (known: ${map.datacenters.map((d) => d.name).join(', ')})`);
  if (service !== '*' && !map.services.some((s) => s.name === service)) {
    throw new UsageError(`unknown service "${service}" (known: ${map.services.map((s) => s.name).join(', ')})`);
  }
}

type DrainValues = Partial<ReturnType<typeof parseVerbArgs<'drain'>>['values']>;

/**
 * `geosteer drain DC [--service S] --for 30m --reason TEXT` and
 * `geosteer undrain DC [--service S]`: an operator's forced down, stored with
 * an expiry and a reason, honoured by every server within a second.
 */
export async function drainCommand(verb: 'drain' | 'undrain', args: string[], out: (s: string) => void): Promise<number> {
  // undrain's entry has no --for/--reason: given to undrain, they are usage errors.
  const parsed = verb === 'drain' ? parseVerbArgs('drain', args) : parseVerbArgs('undrain', args);
  const values: DrainValues = parsed.values;
  const positionals = parsed.positionals;
  const dc = positionals[0];
  const service = values.service ? values.service.toLowerCase().replace(/\.$/, '') : '*';
  const redis = redisOrServer(values);
  checkNames(values.config, dc, service);
  const by = values.by ?? operator();
  let forMs = 0;
  if (verb === 'drain') {
    const d = values.for ? parseDurationMs(values.for) : null;
    if (d === null || d <= 0) throw new UsageError('drain needs --for DURATION (e.g. 30m): a drain always expires');
    if (!values.reason) throw new UsageError('drain needs --reason TEXT: it is shown to every operator and kept in the audit log');
    forMs = d;
  }
  const what = service === '*' ? 'every service' : service;
  if (!redis) {
    // No shared table: the running server's own (embedded) table, through its admin port.
    const server = new ControlClient(values.server);
    if (verb === 'drain') {
      await server.drain({ dc, service, forMs, reason: values.reason as string, by });
      out(`drained ${dc} for ${what} for ${Math.round(forMs / 1000)}s: ${values.reason}`);
      return 0;
    }
    const had = await server.undrain(service, dc, by);
    out(had ? `undrained ${dc} for ${what}` : `no drain of ${dc} for ${what}`);
    return had ? 0 : 1;
  }
  const store = new RedisStore(redis);
  try {
    await store.whenReady();
    if (verb === 'drain') {
      await store.setDrain({ dc, service, forMs, reason: values.reason as string, by });
      await store.audit({ action: 'drain', dc, service, forMs, reason: values.reason, by });
      out(`drained ${dc} for ${what} for ${Math.round(forMs / 1000)}s: ${values.reason}`);
      return 0;
    }
    const had = await store.clearDrain(service, dc);
    await store.audit({ action: 'undrain', dc, service, by, existed: had });
    // Exit 1 all the same: Redis had no such drain. The undrain is still published, so a
    // server that kept the drain after Redis lost it (fail-static) drops it too.
    out(
      had
        ? `undrained ${dc} for ${what}`
        : `no drain of ${dc} for ${what} in Redis (servers still holding one after Redis lost it drop it now)`,
    );
    return had ? 0 : 1;
  } finally {
    await store.close();
  }
}
