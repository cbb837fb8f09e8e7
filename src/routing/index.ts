export { Router } from './router';
export { applyHealth, buildTables, type Entry, type RoutingTables, type ServiceRuntime } from './tables';
export { explain, explanationLines, serviceFor, type Explanation } from './explain';
export { buildTransfers, TRANSFER_MESSAGE_BYTES, type ZoneTransfer } from './transfer';
