import { parseMapText, readMapText, type MapConfig } from '../config';
import { buildRegionTrieInWorker, GeoDatabase, type RegionTrie } from '../geo';
import { sameRegionRules } from '../routing/diff';

export interface EarlyTrie {
  /** The database and its region trie, if they were made for `map`'s rules and GeoIP files; else null. */
  take(map: MapConfig): Promise<{ db: GeoDatabase; trie: RegionTrie } | null>;
}

/**
 * serve's start: the region trie (1-2 s for the bundled GeoIP data, on this
 * thread) needs only the map's rules and GeoIP files, not its zones. A parse
 * of the map file with every zone file read as empty gives those in a few
 * ms, and the trie is built in a worker thread while the build process
 * loads and encodes the zones, instead of after it. The build's map decides:
 * `take` hands the trie over only for the same rules and database files (the
 * file may have been edited in between); otherwise, or when the early parse
 * fails, the caller builds the trie as before.
 */
export function startEarlyTrie(path: string): EarlyTrie {
  const early = begin(path);
  // A failure here is the build's to report (it reads the same file); keep it from going unhandled meanwhile.
  early?.trie.catch(() => undefined);
  return {
    async take(map) {
      if (!early || !sameRegionRules(early.map, map) || early.paths.join('\n') !== pathsOf(map).join('\n')) return null;
      try {
        return { db: early.db, trie: await early.trie };
      } catch {
        return null;
      }
    },
  };
}

const pathsOf = (map: MapConfig): string[] => GeoDatabase.pathsFor(map.geoDatabase, map.geoDatabaseIpv6);

function begin(path: string): { map: MapConfig; paths: string[]; db: GeoDatabase; trie: Promise<RegionTrie> } | null {
  try {
    const map = parseMapText(readMapText(path), path, { readFile: () => '' });
    const paths = pathsOf(map);
    const db = GeoDatabase.open(paths);
    return { map, paths, db, trie: buildRegionTrieInWorker(db, map.rules) };
  } catch {
    return null;
  }
}
