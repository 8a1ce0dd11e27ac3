// The orchestrators' public surface: pure decisions over a snapshot of one service's tasks and
// the cluster's nodes, each returning the changes for the reconcile loop to apply.

export { reconcileGlobal } from './global.ts';
export { reapHistory, reapRemovedService } from './history.ts';
export { type JobPlan, reconcileGlobalJob, reconcileReplicatedJob } from './jobs.ts';
export { type DesiredStateChange, type NewTask, newTask, type Plan } from './plan.ts';
export { reconcileReplicated } from './replicated.ts';
export { type RestartVerdict, restartVerdict } from './restart.ts';
export { reconcileService } from './service.ts';
export { planUpdate, type UpdateDecision } from './update.ts';
