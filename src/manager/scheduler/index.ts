// The scheduler's public surface: `schedule` for the reconcile loop, constraint and preference
// parsing for the control API and the CLI's `--constraint` / `--placement-pref` validation.

export { type Constraint, parseConstraint, parseConstraints } from './constraint.ts';
export type { Filter } from './filter.ts';
export { defaultFilters } from './filters/index.ts';
export { parseSpread, type SpreadPreference } from './preference.ts';
export { type Recheck, recheck } from './recheck.ts';
export type { ImagePlatforms } from './request.ts';
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
