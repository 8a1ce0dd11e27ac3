// The replicated orchestrator's decision: slots 1..replicas each hold one wanted task. Slots
// above the count are shut down, empty slots get a new task, a task whose node is lost is
// replaced at once, and a task that stopped by itself is left to the restart policy.

import type { Node, Service, Task } from '../../api/objects.ts';
import { ServiceModeError } from '../../errors.ts';
import { indexNodes } from './nodes.ts';
import { newTask, type Plan, PlanBuilder } from './plan.ts';
import { reconcileSlot } from './slot.ts';
import { bySlot } from './slots.ts';
import { isWanted } from './task-state.ts';

/** `tasks`: every task of this service. `now`: ms since the epoch. */
export function reconcileReplicated(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): Plan {
  const mode = service.spec.mode;
  if (mode.kind !== 'replicated')
    throw new ServiceModeError(service.meta.id, 'replicated', mode.kind);
  const plan = new PlanBuilder();
  const nodesById = indexNodes(nodes);
  const slots = bySlot(tasks.filter((task) => task.slot > 0));

  // Highest first, so a loop applying the plan in pieces removes the last replicas first.
  const surplus = [...slots.keys()].filter((slot) => slot > mode.replicas).sort((a, b) => b - a);
  for (const slot of surplus) {
    for (const task of slots.get(slot)!) if (isWanted(task)) plan.shutdown(task, 'scaled down');
  }
  for (let slot = 1; slot <= mode.replicas; slot++) {
    const needsTask = reconcileSlot(service, slots.get(slot) ?? [], nodesById, now, plan);
    if (needsTask) plan.create(newTask(service, slot, '', now));
  }
  return plan.build();
}
