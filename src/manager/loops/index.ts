// The leader loops' public surface: what the daemon starts with leadership.

export { Leadership, type LeadershipOptions } from './leadership.ts';
export { OrchestratorLoop, type OrchestratorLoopOptions } from './orchestrator-loop.ts';
export { checkPreassigned } from './preassigned.ts';
export { type LoopLog, type ReconcileLoop, runPasses } from './reconcile.ts';
export { SchedulerLoop, type SchedulerLoopOptions } from './scheduler-loop.ts';
