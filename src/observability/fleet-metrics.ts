import type { Registry } from 'prom-client';
import { scraped } from './metrics';

/** What a serve knows of the fleet: its own published version and the registry as last read. */
export interface FleetView {
  /** Runs from the published map (serve --redis without --config). */
  follows: boolean;
  /** The published version serving; null when running from a file. */
  servingVersion: number | null;
  /** Current in Redis as last read; null: nothing published or never read. */
  currentVersion: number | null;
  /** How long this host has served another version than current, ms (0: it is current). */
  behindMs: number;
  /** Published versions refused on this host since start. */
  rejected: number;
  /** The version refused last and why, while current stays refused. */
  refused: { version: number; message: string } | null;
  /** Registered hosts: alive, gone (expired, not yet forgotten), alive but behind for over a minute. */
  hosts: { alive: number; gone: number; behind: number };
}

/** geosteer_fleet_map_* for this host, geosteer_fleet_hosts for every registered one (alert rules in docs/alerts.yml). */
export function registerFleetMetrics(registry: Registry, view: () => FleetView): void {
  scraped(registry, {
    name: 'geosteer_fleet_map_version',
    help: 'The published map version this server runs (serve --redis without --config), and the current one in Redis as last read',
    type: 'gauge',
    aggregator: 'min',
    read: () => {
      const v = view();
      if (!v.follows) return [];
      return [
        { labels: { which: 'serving' }, value: v.servingVersion ?? 0 },
        { labels: { which: 'current' }, value: v.currentVersion ?? 0 },
      ];
    },
  });
  scraped(registry, {
    name: 'geosteer_fleet_map_behind_seconds',
    help: 'How long this server has served another map version than the current published one (0: current)',
    type: 'gauge',
    aggregator: 'max',
    read: () => (view().follows ? [{ value: view().behindMs / 1000 }] : []),
  });
  scraped(registry, {
    name: 'geosteer_fleet_map_rejected_total',
    help: 'Published map versions this server refused to load (it kept serving the previous one); the log and geosteer status say why',
    type: 'counter',
    aggregator: 'max',
    read: () => (view().follows ? [{ value: view().rejected }] : []),
  });
  scraped(registry, {
    name: 'geosteer_fleet_hosts',
    help: 'Name servers registered in Redis, as this server last read them: alive (registration fresh), gone (expired), behind (alive, on an old map version for over a minute)',
    type: 'gauge',
    aggregator: 'max',
    read: () => {
      const h = view().hosts;
      return [
        { labels: { state: 'alive' }, value: h.alive },
        { labels: { state: 'gone' }, value: h.gone },
        { labels: { state: 'behind' }, value: h.behind },
      ];
    },
  });
}
