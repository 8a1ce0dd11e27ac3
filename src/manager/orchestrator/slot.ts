// One slot's decision, shared by every mode: a slot is a replica number (replicated services and
// jobs) or a node (global ones). It holds while one of its tasks is live or waits on the restart
// policy; it waits while an old task is still stopping; otherwise it needs a new task.

import type { Service, Task } from '../../api/objects.ts';
import { isStopping, lossReason, type NodesById, nodeLoss } from './nodes.ts';
import type { PlanBuilder } from './plan.ts';
import { awaitsRestartDecision, restartVerdict } from './restart.ts';
import { isLive, isWanted } from './task-state.ts';

/**
 * Decides the slot's tasks (`history`: all of them, stopped ones included, as the restart
 * policy counts them) and says whether the slot needs a new task.
 */
export function reconcileSlot(
  service: Service,
  history: readonly Task[],
  nodes: NodesById,
  now: number,
  plan: PlanBuilder,
  options: { readonly job?: boolean } = {},
): boolean {
  let held = false;
  let waiting = false;
  for (const task of history) {
    if (!isWanted(task)) {
      if (isStopping(task, nodes)) waiting = true;
      continue;
    }
    if (isLive(task)) {
      const loss = nodeLoss(task, nodes);
      if (loss === null) {
        held = true;
        continue;
      }
      // Not the task's failure: replaced whatever the restart policy, and not counted as an
      // attempt. Swarm also delays the successor of a task on a down node; orca cannot say when
      // the node went down, so it does not.
      plan.shutdown(task, lossReason[loss]);
      continue;
    }
    if (!awaitsRestartDecision(task)) continue;
    const verdict = restartVerdict(task, history, service.spec.task.restart, now, options);
    switch (verdict.kind) {
      case 'now':
        plan.shutdown(task, `restarting: ${task.status.state}`);
        break;
      case 'later':
        plan.wakeAt(verdict.at);
        held = true;
        break;
      case 'never':
        // Left wanted, so the slot stays taken and a level-triggered pass never refills it.
        held = true;
        break;
    }
  }
  return !held && !waiting;
}
