export { MemoryStore } from './memory-store';
export { HealthMirror, type MirrorOptions, type MirrorSource, type PairStatus } from './mirror';
export { drainKey, pairKey, voteKey, type Drain, type HealthSnapshot, type PrimaryPointer, type Vote } from './model';
export { DEFAULT_HEALTH_OPTIONS, describeRedis, redisOptionsFrom, RedisConfigError, type HealthOptions, type RedisCliInput, type RedisConnectionOptions } from './options';
export { RedisStore } from './redis-store';
export type { DrainRequest, HealthStore } from './store';
export { computeVerdict, type Quorum, type Verdict } from './verdict';
export type { HealthView } from './view';
export { answerLoads, IpcStore, serveStoreOverIpc } from './ipc-store';
