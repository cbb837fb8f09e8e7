export { Router } from './router';
export { applyHealth, buildTables, type Entry, type RoutingTables, type ServiceRuntime } from './tables';
