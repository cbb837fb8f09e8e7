export { runCheck } from './check';
export { PrimaryLeader, type LeaderOptions, type PromotionEvent } from './leader';
export { DEFAULT_CHECK_TIMING, type CheckConfig, type CheckOutcome, type CheckResult } from './options';
export { Prober, type CheckEvent, type ProberOptions, type TargetState } from './prober';
