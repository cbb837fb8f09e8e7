export { Router } from './router';
export { buildInWorker, type BuildSource, type Prebuilt } from './build';
export { releaseTablesLater } from './pack-file';
export { applyHealth, type Entry, type RoutingTables, type ServiceRuntime } from './tables';
export { buildTables } from './pack';
export { explain, explanationLines, serviceFor, type Explanation, type ServerAnswer } from './explain';
export { qtypeCode, qtypeName } from './answer-text';
export { buildTransfers, TRANSFER_MESSAGE_BYTES, type ZoneTransfer } from './transfer';
export { describeSpill, hasCapacity, planSpill, type SpillPlan } from './spill';
