import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * ISO codes for GeoIP databases that carry only a country code and subdivision *names*: the flat schema of the
 * @ip-location-db MMDBs (DB-IP Lite, the default database) has `country_code` and `state1` ('Guangdong'), no
 * continent and no ISO 3166-2 code. The table (geodata/geo-names.json) maps country -> continent and
 * 'CC|English name' -> subdivision code, so map rules stay `CN-GD` and `AS` whichever database is in use.
 */
interface GeoNames {
  continents: Record<string, string>;
  subdivisions: Record<string, string>;
}

let table: { continents: Map<string, string>; subdivisions: Map<string, string> } | null = null;

function names(): NonNullable<typeof table> {
  if (!table) {
    // dist/src/geo -> the repo (or package) root, where geodata/ ships.
    const raw = JSON.parse(readFileSync(resolve(__dirname, '../../../geodata/geo-names.json'), 'utf8')) as GeoNames;
    table = { continents: new Map(Object.entries(raw.continents)), subdivisions: new Map(Object.entries(raw.subdivisions)) };
  }
  return table;
}

/** The continent code of an ISO 3166-1 country ('CN' -> 'AS'), or null. */
export function continentOf(country: string): string | null {
  return names().continents.get(country) ?? null;
}

/** The ISO 3166-2 subdivision part for a country and a subdivision name ('CN', 'Guangdong' -> 'GD'), or null. */
export function subdivisionCode(country: string, name: string): string | null {
  return names().subdivisions.get(`${country}|${name}`) ?? null;
}
