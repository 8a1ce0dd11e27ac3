// The task reaper's decision. Replaced tasks stay in the store so `service ps` can show what
// happened and the restart policy can count attempts; beyond the cluster's task history limit
// per slot (per node for global services) the oldest go. Tasks of a removed service are asked to
// stop and deleted once they have.

import type { Node, Task } from '../../api/objects.ts';
import { indexNodes, nodeLoss } from './nodes.ts';
import { type Plan, PlanBuilder } from './plan.ts';
import { groupBy } from './slots.ts';
import { byStatusTime, hasStopped, isWanted } from './task-state.ts';

/**
 * Task ids to delete from one service's tasks. Only tasks the orchestrator has let go of (no
 * longer wanted) and that have stopped count as history: a stopped task still wanted awaits the
 * restart policy, and a job's completed task is the record that its slot is done. A negative
 * limit keeps everything.
 */
export function reapHistory(tasks: readonly Task[], taskHistoryLimit: number): string[] {
  if (taskHistoryLimit < 0) return [];
  const doomed: string[] = [];
  const instances = groupBy(tasks, (task) =>
    task.slot > 0 ? `slot ${task.slot}` : `node ${task.nodeId}`,
  );
  for (const instance of instances.values()) {
    const history = instance
      .filter((task) => !isWanted(task) && hasStopped(task))
      .sort(byStatusTime);
    const excess = history.length - taskHistoryLimit;
    for (const task of history.slice(0, Math.max(0, excess))) doomed.push(task.meta.id);
  }
  return doomed;
}

/**
 * For the tasks of a service that no longer exists: still-wanted ones are given desired 'remove'
 * (as Swarm, so the worker removes the container too); those that have stopped, were never
 * assigned, or whose node is lost are deleted, since no worker will report on them again.
 */
export function reapRemovedService(tasks: readonly Task[], nodes: readonly Node[]): Plan {
  const plan = new PlanBuilder();
  const nodesById = indexNodes(nodes);
  for (const task of tasks) {
    if (hasStopped(task) || task.nodeId === '' || nodeLoss(task, nodesById) === 'removed') {
      plan.delete(task.meta.id);
    } else if (task.desiredState !== 'remove') {
      plan.setDesired(task, 'remove', 'service removed');
    }
  }
  return plan.build();
}
