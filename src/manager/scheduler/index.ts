// The scheduler's public surface: `schedule` for the reconcile loop, constraint and preference
// parsing for the control API and the CLI's `--constraint` / `--placement-pref` validation.

export {
  type Constraint,
  matchesConstraints,
  parseConstraint,
  parseConstraints,
} from './constraint.ts';
export type { Filter } from './filter.ts';
export { defaultFilters } from './filters/index.ts';
// For the scheduler loop's check of tasks created with their node already chosen (global ones).
export { buildNodeInfos, holdsNode, type NodeInfo } from './node-info.ts';
export { firstRejecting, noSuitableNode } from './pipeline.ts';
export { parseSpread, type SpreadPreference } from './preference.ts';
export { type Recheck, recheck } from './recheck.ts';
export { compileOrExplain, type ImagePlatforms } from './request.ts';
export {
  type Assignment,
  type Plan,
  type ScheduleOptions,
  type Snapshot,
  schedule,
  type Unschedulable,
} from './schedule.ts';
export type { Scorer } from './scorer.ts';
export { defaultScorers } from './scorers/index.ts';
