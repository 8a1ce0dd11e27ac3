// The jobs' decisions. A job's tasks run to completion: a completed task is never rerun, a failed
// one is left to the restart policy. A run is the set of tasks of the current task spec, so
// `service update --force` (which bumps forceUpdate) starts a new run, as Swarm's job iteration
// does; tasks of an earlier run still going are shut down.
//
// Swarm creates job tasks with desired state 'complete'; orca uses 'running' because the
// scheduler's re-check and the worker only start tasks desired 'running'. A completed task stays
// desired 'running' so the history reaper keeps it: it is the record that its slot is done.

import type { Node, Service, Task } from '../../api/objects.ts';
import { ServiceModeError } from '../../errors.ts';
import { canKeepTask, canTakeTask, indexNodes, serviceConstraints } from './nodes.ts';
import { emptyPlan, newTask, type Plan, PlanBuilder } from './plan.ts';
import { reconcileSlot } from './slot.ts';
import { byNode, bySlot } from './slots.ts';
import { isLive, isWanted, runsSpec } from './task-state.ts';

export interface JobPlan extends Plan {
  /** Slots (replicated job) or nodes (global job) whose task of this run completed. */
  readonly completed: number;
  /** Every completion the job asks for is in: nothing more will be created. */
  readonly finished: boolean;
}

const asJob = { job: true } as const;

/**
 * `totalCompletions` slots, each done once one of its tasks completes; at most `maxConcurrent`
 * slots running at once (0: no limit beyond the slots left). Successors of failed tasks go
 * before slots not yet started, so a retry never waits behind fresh work.
 */
export function reconcileReplicatedJob(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): JobPlan {
  const mode = service.spec.mode;
  if (mode.kind !== 'replicated-job') {
    throw new ServiceModeError(service.meta.id, 'replicated-job', mode.kind);
  }
  const plan = new PlanBuilder();
  const nodesById = indexNodes(nodes);
  const current = shutDownEarlierRuns(service, tasks, plan);
  const slots = bySlot(current);

  let completed = 0;
  let active = 0;
  const retries: number[] = [];
  const fresh: number[] = [];
  for (let slot = 1; slot <= mode.totalCompletions; slot++) {
    const history = slots.get(slot) ?? [];
    if (history.some(isComplete)) {
      completed++;
      continue;
    }
    if (!reconcileSlot(service, history, nodesById, now, plan, asJob)) active++;
    else (history.length > 0 ? retries : fresh).push(slot);
  }
  const limit = mode.maxConcurrent > 0 ? mode.maxConcurrent : mode.totalCompletions;
  const room = Math.max(0, limit - active);
  for (const slot of [...retries, ...fresh].slice(0, room)) {
    plan.create(newTask(service, slot, '', now));
  }
  const built = plan.build();
  return { ...built, completed, finished: completed >= mode.totalCompletions };
}

/**
 * One run on every node that is ready, active and within the constraints, including nodes that
 * join later. A node that is drained, removed or leaves the constraints has its running task
 * shut down and gets no other.
 */
export function reconcileGlobalJob(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): JobPlan {
  const mode = service.spec.mode;
  if (mode.kind !== 'global-job') {
    throw new ServiceModeError(service.meta.id, 'global-job', mode.kind);
  }
  const constraints = serviceConstraints(service);
  if (constraints === null) return { ...emptyPlan, completed: 0, finished: false };
  const plan = new PlanBuilder();
  const nodesById = indexNodes(nodes);
  const onNode = byNode(shutDownEarlierRuns(service, tasks, plan));

  for (const [nodeId, history] of onNode) {
    const node = nodesById.get(nodeId);
    if (nodeId === '' || (node !== undefined && canKeepTask(node, constraints))) continue;
    for (const task of history)
      if (isLive(task)) plan.shutdown(task, 'node can no longer run the job');
  }
  let completed = 0;
  let pending = 0;
  for (const node of nodes) {
    const history = onNode.get(node.meta.id) ?? [];
    if (history.some(isComplete)) {
      completed++;
      continue;
    }
    if (!canTakeTask(node, constraints)) continue;
    pending++;
    if (reconcileSlot(service, history, nodesById, now, plan, asJob)) {
      plan.create(newTask(service, 0, node.meta.id, now));
    }
  }
  return { ...plan.build(), completed, finished: pending === 0 };
}

function isComplete(task: Task): boolean {
  return task.status.state === 'complete';
}

/** Returns the tasks of the current run; shuts down the live tasks of earlier ones. */
function shutDownEarlierRuns(service: Service, tasks: readonly Task[], plan: PlanBuilder): Task[] {
  const current: Task[] = [];
  for (const task of tasks) {
    if (runsSpec(task, service)) current.push(task);
    else if (isWanted(task) && isLive(task)) plan.shutdown(task, 'a new run of the job started');
  }
  return current;
}
