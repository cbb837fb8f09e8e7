export { MemoryHealthTable } from './memory-table';
export type { HealthView } from './view';
