// The rolling update's decision. Swarm's updater is a goroutine per service that remembers which
// slots it has done and sleeps between batches; here everything is read back from the snapshot
// each pass: a slot is up to date when its wanted task runs the service's current task spec, a
// batch is in flight until its new tasks run (or stop), the delay and the monitor period are
// counted from when the last of them settled, and the failures are the update's own tasks (the
// current spec, created since the update started) that stopped by themselves.
//
// Only existing tasks are touched: stop-first shuts the old task down and the replicated or
// global decision fills the slot once it has stopped; start-first creates the new task here and
// shuts the old one down once the new one runs.

import type { Node, Service, Task, UpdateConfig, UpdateStatus } from '../../api/objects.ts';
import { indexNodes, isStopping, type NodesById } from './nodes.ts';
import { emptyPlan, newTask, type Plan, PlanBuilder } from './plan.ts';
import { wouldRestart } from './restart.ts';
import { groupBy } from './slots.ts';
import {
  createdAt,
  endedByItself,
  hasStopped,
  isRunning,
  isWanted,
  runsSpec,
  statusAt,
} from './task-state.ts';

export interface UpdateDecision {
  readonly plan: Plan;
  /** What the service's updateStatus should now be: the same object when unchanged. */
  readonly updateStatus: UpdateStatus | null;
  /**
   * The update failed and rolls back: the loop stores spec := previousSpec, previousSpec := spec
   * with this updateStatus; the next pass rolls the tasks back under the rollback config.
   */
  readonly rollBack: boolean;
}

type SlotKey = number | string;

/** A slot as the update sees it. */
type SlotState =
  | { readonly kind: 'settled' }
  | { readonly kind: 'in-flight' }
  /** Runs (or ran) an old spec and is next in line. */
  | { readonly kind: 'outdated'; readonly key: SlotKey; readonly old: readonly Task[] };

export function planUpdate(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): UpdateDecision {
  const status = service.updateStatus;
  const unchanged: UpdateDecision = { plan: emptyPlan, updateStatus: status, rollBack: false };
  const mode = service.spec.mode.kind;
  // Jobs are rerun, not rolled: a new task spec starts a new run (see jobs.ts).
  if (mode === 'replicated-job' || mode === 'global-job') return unchanged;
  if (status?.state === 'paused' || status?.state === 'rollback_paused') return unchanged;

  const rollingBack = status?.state === 'rollback_started';
  const config = rollingBack ? service.spec.rollback : service.spec.update;
  const nodesById = indexNodes(nodes);
  const plan = new PlanBuilder();
  const slots = [...slotsInScope(service, tasks)].map(([key, history]) =>
    slotState(service, key, history, nodesById, now, config, plan),
  );
  const outdated = slots.filter((slot) => slot.kind === 'outdated');
  const inFlight = slots.filter((slot) => slot.kind === 'in-flight').length;

  const inProgress = status?.state === 'updating' || rollingBack;
  if (!inProgress) {
    if (outdated.length === 0) return unchanged;
    const started: UpdateStatus = {
      state: 'updating',
      startedAt: iso(now),
      message: 'update in progress',
    };
    startBatch(service, outdated, config, now, plan);
    return { plan: plan.build(), updateStatus: started, rollBack: false };
  }

  const startedAt = Date.parse(status.startedAt);
  const own = tasks.filter((task) => runsSpec(task, service) && createdAt(task) >= startedAt);
  const failed = own.filter((task) => hasStopped(task) && endedByItself(task));
  if (failed.length > 0 && failed.length / slots.length > config.maxFailureRatio) {
    const failure = onFailure(service, config, status, failed[0]!, now);
    if (failure !== null) return failure;
  }

  const settledAt = lastSettled(own);
  if (outdated.length === 0 && inFlight === 0) {
    const doneAt = (settledAt ?? startedAt) + config.monitorMs;
    if (now < doneAt) {
      plan.wakeAt(doneAt);
      return { plan: plan.build(), updateStatus: status, rollBack: false };
    }
    const completed: UpdateStatus = {
      state: rollingBack ? 'rollback_completed' : 'completed',
      startedAt: status.startedAt,
      completedAt: iso(now),
      message: rollingBack ? 'rollback completed' : 'update completed',
    };
    return { plan: plan.build(), updateStatus: completed, rollBack: false };
  }
  if (inFlight > 0) {
    return { plan: plan.build(), updateStatus: status, rollBack: false };
  }
  const nextBatchAt = settledAt === null ? now : settledAt + config.delayMs;
  if (now < nextBatchAt) {
    plan.wakeAt(nextBatchAt);
    return { plan: plan.build(), updateStatus: status, rollBack: false };
  }
  startBatch(service, outdated, config, now, plan);
  return { plan: plan.build(), updateStatus: status, rollBack: false };
}

/** Replicated: slots 1..replicas (the rest are being scaled away). Global: nodes with tasks. */
function slotsInScope(service: Service, tasks: readonly Task[]): Map<SlotKey, Task[]> {
  const mode = service.spec.mode;
  if (mode.kind === 'replicated') {
    const slots = groupBy<SlotKey>(
      tasks.filter((task) => task.slot >= 1 && task.slot <= mode.replicas),
      (task) => task.slot,
    );
    // An empty slot is being filled by the replicated decision: the batch waits for it.
    for (let slot = 1; slot <= mode.replicas; slot++) if (!slots.has(slot)) slots.set(slot, []);
    return slots;
  }
  const onNodes = groupBy<SlotKey>(
    tasks.filter((task) => task.nodeId !== ''),
    (task) => task.nodeId,
  );
  // A node none of whose tasks is wanted or stopping has been shed: it is not the update's.
  for (const [key, history] of onNodes) {
    if (!history.some((task) => isWanted(task) || !hasStopped(task))) onNodes.delete(key);
  }
  return onNodes;
}

function slotState(
  service: Service,
  key: SlotKey,
  history: readonly Task[],
  nodes: NodesById,
  now: number,
  config: UpdateConfig,
  plan: PlanBuilder,
): SlotState {
  const spec = service.spec.task;
  const wanted = history.filter(isWanted);
  const fresh = wanted.filter((task) => runsSpec(task, service));
  const old = wanted.filter((task) => !runsSpec(task, service));
  const starting = fresh.some((task) => !hasStopped(task) && !isRunning(task));

  if (old.length === 0) {
    if (fresh.length === 0) {
      return history.some((task) => isStopping(task, nodes)) ||
        service.spec.mode.kind === 'replicated'
        ? { kind: 'in-flight' }
        : { kind: 'settled' };
    }
    return starting ? { kind: 'in-flight' } : { kind: 'settled' };
  }
  if (fresh.some(isRunning)) {
    // start-first: the successor runs, so the old task can go.
    for (const task of old) plan.shutdown(task, 'updated: replaced by a running task');
    return { kind: 'settled' };
  }
  if (starting) return { kind: 'in-flight' };
  // A successor that failed already counts against the update; this slot is not tried again.
  if (fresh.length > 0) return { kind: 'settled' };
  // An old task that stopped and will be restarted gets the current spec from the restart.
  const restarting = old.some(
    (task) => hasStopped(task) && wouldRestart(task, history, spec.restart, now),
  );
  if (restarting && config.order === 'stop-first') return { kind: 'in-flight' };
  return { kind: 'outdated', key, old };
}

/** The next `parallelism` outdated slots (0: all), in slot (or node id) order. */
function startBatch(
  service: Service,
  outdated: readonly SlotState[],
  config: UpdateConfig,
  now: number,
  plan: PlanBuilder,
): void {
  const ordered = outdated
    .flatMap((slot) => (slot.kind === 'outdated' ? [slot] : []))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const size = config.parallelism > 0 ? config.parallelism : ordered.length;
  for (const slot of ordered.slice(0, size)) {
    const live = slot.old.some((task) => !hasStopped(task));
    if (config.order === 'start-first' && live) {
      const [slotNumber, nodeId] = typeof slot.key === 'number' ? [slot.key, ''] : [0, slot.key];
      plan.create(newTask(service, slotNumber, nodeId, now));
    } else {
      for (const task of slot.old) plan.shutdown(task, 'updating to the new spec');
    }
  }
}

function onFailure(
  service: Service,
  config: UpdateConfig,
  status: UpdateStatus,
  task: Task,
  now: number,
): UpdateDecision | null {
  const what = `failure or early termination of task ${task.meta.id}`;
  const rollingBack = status.state === 'rollback_started';
  const pause = (message: string): UpdateDecision => ({
    plan: emptyPlan,
    updateStatus: {
      state: rollingBack ? 'rollback_paused' : 'paused',
      startedAt: status.startedAt,
      message,
    },
    rollBack: false,
  });
  switch (config.failureAction) {
    case 'continue':
      return null;
    case 'pause':
      return pause(`${rollingBack ? 'rollback' : 'update'} paused due to ${what}`);
    case 'rollback':
      // A rollback that fails has nothing further back to go to, as in Swarm.
      if (rollingBack) return pause(`rollback paused due to ${what}`);
      if (service.previousSpec === null) {
        return pause(`update paused due to ${what}; no previous spec to roll back to`);
      }
      return {
        plan: emptyPlan,
        updateStatus: {
          state: 'rollback_started',
          startedAt: iso(now),
          message: `update rolled back due to ${what}`,
        },
        rollBack: true,
      };
  }
}

/** When the last of the update's tasks began running or stopped; null before any did. */
function lastSettled(own: readonly Task[]): number | null {
  let latest: number | null = null;
  for (const task of own) {
    if (!isRunning(task) && !hasStopped(task)) continue;
    const at = statusAt(task);
    if (latest === null || at > latest) latest = at;
  }
  return latest;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
