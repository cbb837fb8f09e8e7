export { runCheck } from './check';
export { PrimaryLeader, type LeaderOptions, type PromotionEvent } from './leader';
export type { CheckOutcome, CheckResult } from './options';
export { Prober, type CheckEvent, type ProberOptions, type TargetState } from './prober';
