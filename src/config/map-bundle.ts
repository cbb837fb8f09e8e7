import { resolve } from 'node:path';
import type { MapBundle } from '../health/fleet-model';
import { parseMapText, readMapText, type MapConfig } from './map-file';
import { readTextFile, TextFileError } from './text-file';

/**
 * A map and every file it names, read once from disk for `geosteer publish`:
 * the bundle holds exactly the bytes that were validated (an edit between the
 * check and the upload cannot slip in). Throws ConfigError like loadMapFile.
 */
export function readMapBundle(path: string): { map: MapConfig; bundle: MapBundle } {
  const full = resolve(path);
  const text = readMapText(path);
  const files: Record<string, string> = {};
  const map = parseMapText(text, full, {
    readFile: (p, maxBytes) => {
      const t = readTextFile(p, maxBytes);
      files[p] = t;
      return t;
    },
  });
  return { map, bundle: { path: full, text, files, hash: map.version } };
}

/**
 * The map of a published bundle, from its stored copies only (never this
 * host's disk: a zone file the bundle lacks is an error, not a local read).
 * Throws ConfigError; the GeoIP database is still this host's own file.
 */
export function loadMapBundle(bundle: MapBundle): MapConfig {
  return parseMapText(bundle.text, bundle.path, {
    readFile: (p) => {
      const t = Object.hasOwn(bundle.files, p) ? bundle.files[p] : undefined;
      if (t === undefined) throw new TextFileError('not in the published map (publish it again with the file in place)');
      return t;
    },
  });
}
