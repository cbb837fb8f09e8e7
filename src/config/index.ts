export {
  inZone,
  loadMapFile,
  normalizeName,
  parseMapText,
  readMapText,
  type DatacenterConfig,
  type Fallback,
  type MapConfig,
  type RegionConfig,
  type ServiceAddresses,
  type ServiceConfig,
  type SoaConfig,
  type ZoneConfig,
} from './map-file';
export { parseDuration } from './duration';
export type { OwnedRecords, RData, RecordType, ZoneGrouping, ZoneRecord } from './records';
export { parseZoneText } from './zone-file';
export { MapWatcher, type MapWatcherOptions } from './map-watcher';
export { DEFAULT_ALERTS_CONFIG, type AlertsConfig } from './alerts-config';
export {
  DEFAULT_CHECK_TIMING,
  type CheckConfig,
  type CheckTimingConfig,
  type CheckType,
  type DnsCheckConfig,
  type HttpCheckConfig,
  type TcpCheckConfig,
} from './check-config';
export { loadMapBundle, readMapBundle } from './map-bundle';
