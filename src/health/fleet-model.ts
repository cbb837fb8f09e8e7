/**
 * What the fleet shares besides the health table: published map versions and
 * the NS hosts that serve them. Times are ms on the store clock (Redis TIME).
 */

/** A map as published: its text and the text of every file it names, so any host can load it without its own copies. */
export interface MapBundle {
  /** Absolute path the map had where it was published; relative `file:` paths resolve against its directory. */
  path: string;
  text: string;
  /** Absolute path -> text, every zone file the map names. */
  files: Record<string, string>;
  /** The map's version hash (map text and zone files), as `check` and serve show it. */
  hash: string;
}

/** One stored version, without its content. */
export interface MapVersionInfo {
  version: number;
  hash: string;
  /** Who published it (user@host) and why. */
  by: string;
  reason: string;
  at: number;
  /** Size of the stored bundle, bytes, and how many files it holds besides the map. */
  bytes: number;
  files: number;
}

export interface PublishedMap extends MapVersionInfo {
  bundle: MapBundle;
}

/** One `serve` as it registers itself, refreshed every few seconds with an expiry. */
export interface FleetHost {
  id: string;
  /** DNS addresses it listens on (HOST:PORT). */
  addresses: string[];
  /** Its admin port as HOST:PORT (status page, /api/state for `geosteer recover`); null: none. */
  admin: string | null;
  /** `published`: runs from the published map; `file`: from its own --config. */
  mapSource: 'published' | 'file';
  /** The published version it serves (null when running from a file). */
  mapVersion: number | null;
  mapHash: string;
  geoip: string;
  ready: boolean;
  /** The last published version this host refused to load, and why (null: none). */
  mapError: { version: number; message: string } | null;
  /** How long it had served something other than the current published version when it registered, ms (0: current). */
  behindMs: number;
  pid: number;
  startedAt: number;
  lastSeen: number;
  /** The entry counts as alive while now - lastSeen <= ttlMs. */
  ttlMs: number;
}

/** FleetHost as registered: the store stamps lastSeen. */
export type FleetHostInput = Omit<FleetHost, 'lastSeen'>;
