// Child-process entry of buildInWorker (build.ts): loads the map, builds and packs its tables, hands them over
// through a file (pack-file.ts) and the IPC channel.
import { ConfigError } from '../common/errors';
import { lowerProcessPriority } from '../common/worker';
import { loadMapBundle, loadMapFile, type MapConfig } from '../config';
import { loadZoneKeys, nextKeyEvent as nextEvent, validityAt, ZoneSigner, type SigningStats } from '../dnssec';
import { writePackedTemp } from './pack-file';
import { buildPacked, buildServices } from './tables';
import type { Signers } from './sign-answers';
import { buildTransfers } from './transfer';
import type { BuildJob, ChildReply } from './build';

function load(job: BuildJob): MapConfig {
  if (job.source.kind === 'file') return loadMapFile(job.source.path);
  // A published map is the same for every host: each names itself by --id (id.server, NSID, the registry).
  const m = loadMapBundle(job.source.bundle);
  m.server.id = job.source.id;
  m.serverId = job.source.id;
  return m;
}

function run(job: BuildJob): ChildReply {
  try {
    if (job.background) lowerProcessPriority();
    const map = load(job);
    if (job.unless && map.version === job.unless.version && (map.asn?.digest ?? null) === job.unless.asnDigest) return { ok: true, unchanged: true, version: map.version };
    const signers = new Map<string, ZoneSigner>();
    const stats: SigningStats = { signatures: 0, seconds: 0 };
    const at = Date.now();
    const validity = validityAt(at);
    // Keys are published, sign and go by their timing metadata as it stands at this build.
    let nextKeyEvent: number | null = null;
    for (const z of map.zones) {
      if (!z.dnssec) continue;
      const keys = loadZoneKeys(z.dnssec.keys, z.name);
      const next = nextEvent(keys, Math.floor(at / 1000));
      if (next !== null && (nextKeyEvent === null || next < nextKeyEvent)) nextKeyEvent = next;
      signers.set(z.name, new ZoneSigner(z.name, keys, validity, stats, at));
    }
    const packed = buildPacked(map, buildServices(map), signers as Signers, buildTransfers(map));
    // The keys go to the answering thread too: a compact NXDOMAIN names the query, so it is signed there. A KeyObject
    // does not cross a process boundary: its PKCS#8 DER goes over the IPC socket pair (never to a file or a log).
    const zones = [...signers.values()].map((z) => ({ zone: z.zone, keys: z.keys.map((k) => ({ ...k, privateKey: k.privateKey.export({ format: 'der', type: 'pkcs8' }) })) }));
    const signing = { zones, validity, at, nextKeyEvent, signatures: stats.signatures, seconds: stats.seconds };
    // The records are in the packed answers now; the answering thread gets the map without them.
    const lite: MapConfig = { ...map, zones: map.zones.map((z) => ({ ...z, records: [] })) };
    const records = map.zones.reduce((n, z) => n + z.records.length, 0);
    const file = writePackedTemp(packed);
    return { ok: true, unchanged: false, map: lite, file, records, signing };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, issues: err.issues, message: err.message };
    return { ok: false, issues: null, message: err instanceof Error ? err.message : String(err) };
  }
}

if (process.send) {
  process.once('message', (job: BuildJob) => {
    const reply = run(job);
    process.send?.(reply, () => process.disconnect());
  });
}
