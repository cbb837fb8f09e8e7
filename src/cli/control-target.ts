import type { MapConfig } from '../config';
import type { MemoryStore } from '../health';
import type { ControlTarget } from '../observability';

/**
 * The embedded table as the admin port's control routes see it: the store,
 * checked against the live map (`map()` follows reloads).
 */
export function embeddedControl(store: MemoryStore, map: () => MapConfig): ControlTarget {
  return {
    store,
    names: () => {
      const m = map();
      return {
        datacenters: m.datacenters.map((d) => d.name),
        services: m.services.map((s) => ({
          name: s.name,
          primary: s.policy === 'primary',
          datacenters: m.datacenters.filter((_, i) => s.addresses[i]).map((d) => d.name),
        })),
      };
    },
    quorum: () => map().health.quorum,
    leader: () => store.leader(),
    auditLog: (n) => store.auditLog.slice(-n).reverse(),
  };
}
