import type { Node } from 'yaml';
import { DEFAULT_ZONE_FILE_BYTES, formatSize, MAX_SIZE_LIMIT, parseSize } from './text-file';
import { join, type YamlReader } from './yaml-reader';
import { MAX_ZONE_RECORDS } from './zone-file';

/**
 * The map's `limits:` block: how much a load may read. The map file's own
 * limit cannot live here (the map is read before it is parsed): it is the
 * GEOSTEER_MAP_FILE_BYTES environment variable (text-file.ts).
 */
export interface LimitsConfig {
  /** Largest zone file a `file:` may name, in bytes. @default 512 MB */
  zoneFileBytes: number;
  /** Static records one zone may hold (`records:` and `file:` together). @default 1,000,000 */
  zoneRecords: number;
}

export const DEFAULT_LIMITS_CONFIG: LimitsConfig = { zoneFileBytes: DEFAULT_ZONE_FILE_BYTES, zoneRecords: MAX_ZONE_RECORDS };
/** Past this a zone's prebuilt answers would not fit in the default heap. */
const MAX_ZONE_RECORDS_LIMIT = 10_000_000;

export function parseLimitsBlock(r: YamlReader, node: Node | null): LimitsConfig {
  const out = { ...DEFAULT_LIMITS_CONFIG };
  for (const [k, v] of r.map(node, 'limits', ['zone_file_bytes', 'zone_records'] as const)) {
    const kp = join('limits', k);
    if (k === 'zone_records') {
      out.zoneRecords = r.int(v, kp, 1, MAX_ZONE_RECORDS_LIMIT) ?? out.zoneRecords;
      continue;
    }
    const raw = r.scalar(v);
    const n = typeof raw === 'string' || typeof raw === 'number' ? parseSize(raw) : null;
    if (n === null) r.error(v, kp, `expected a size from 1 byte to ${formatSize(MAX_SIZE_LIMIT)}, such as 512MB, 64MiB or 1000000`);
    else out.zoneFileBytes = n;
  }
  return out;
}
