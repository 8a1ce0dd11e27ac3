// The global orchestrator's decision: one wanted task on every node that is ready, active and
// within the service's constraints. A node that joins gets one; a node that is removed, drained
// or no longer satisfies the constraints has its task shut down. A down or paused node keeps
// its task (there is nowhere else for it to go). A task that stopped by itself on a node that
// may keep it is left to the restart policy, its history being the node's earlier tasks.

import type { Node, Service, Task } from '../../api/objects.ts';
import { ServiceModeError } from '../../errors.ts';
import { canKeepTask, canTakeTask, indexNodes, serviceConstraints } from './nodes.ts';
import { emptyPlan, newTask, type Plan, PlanBuilder } from './plan.ts';
import { reconcileSlot } from './slot.ts';
import { byNode } from './slots.ts';
import { isWanted } from './task-state.ts';

export function reconcileGlobal(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): Plan {
  const mode = service.spec.mode;
  if (mode.kind !== 'global') throw new ServiceModeError(service.meta.id, 'global', mode.kind);
  // Constraints were validated when the spec was accepted; one that no longer parses must not
  // shut down every task of the service, so nothing is decided until the spec is fixed.
  const constraints = serviceConstraints(service);
  if (constraints === null) return emptyPlan;
  const plan = new PlanBuilder();
  const nodesById = indexNodes(nodes);
  const onNode = byNode(tasks);

  for (const [nodeId, history] of onNode) {
    if (nodeId === '') continue;
    const node = nodesById.get(nodeId);
    const keep = node !== undefined && canKeepTask(node, constraints);
    for (const task of history) {
      if (!isWanted(task)) continue;
      if (!keep) plan.shutdown(task, shedReason(node));
    }
  }
  for (const node of [...nodes].sort(byId)) {
    if (!canTakeTask(node, constraints)) continue;
    const needsTask = reconcileSlot(service, onNode.get(node.meta.id) ?? [], nodesById, now, plan);
    if (needsTask) plan.create(newTask(service, 0, node.meta.id, now));
  }
  return plan.build();
}

function shedReason(node: Node | undefined): string {
  if (node === undefined) return 'node removed from the cluster';
  if (node.spec.availability === 'drain') return 'node is drained';
  return 'node no longer satisfies the placement constraints';
}

function byId(a: Node, b: Node): number {
  return a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0;
}
