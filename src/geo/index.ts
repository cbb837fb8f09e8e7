// Public face of the geo part: other parts import from here only.
export { GeoDatabase, GeoDbWatcher, staleReason } from './database';
export type { GeoMatch, GeoLookup, GeoDbWatcherOptions } from './database';
export { GeoClassifier } from './classifier';
export type { RegionRules, Classification, GeoClassifierOptions } from './classifier';
export { RegionTrie, buildRegionTrieInWorker, packedRegion, packedScope } from './region-trie';
export type { RegionTrieParts } from './region-trie';
export { loadAsnData } from './asn-database';
export type { AsnData, AsnInfo } from './asn-database';
export type { AsnRules } from './rules';
