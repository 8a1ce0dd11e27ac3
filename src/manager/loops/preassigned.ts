// Swarm's rule for a pending task that already names its node (the global orchestrator picks the
// node itself): the scheduler does not choose again, it only checks that node with the filters,
// then assigns the task there or leaves it pending with the reason. schedule() and recheck()
// are for tasks without a node, so this is their counterpart for tasks with one.

import type { Node, Task } from '../../api/objects.ts';
import {
  type Assignment,
  buildNodeInfos,
  compileOrExplain,
  defaultFilters,
  type Filter,
  firstRejecting,
  noSuitableNode,
  type Unschedulable,
} from '../scheduler/index.ts';

export interface PreassignedCheck {
  readonly accepted: readonly Assignment[];
  readonly refused: readonly Unschedulable[];
}

/**
 * `tasks`: every task in the store, `preassigned` among them. Each accepted task is counted on
 * its node before the next is checked, so two tasks cannot both take a node's last resources.
 */
export function checkPreassigned(
  nodes: readonly Node[],
  tasks: readonly Task[],
  preassigned: readonly Task[],
  filters: readonly Filter[] = defaultFilters,
): PreassignedCheck {
  const skip = new Set(preassigned.map((t) => t.meta.id));
  const infos = new Map(buildNodeInfos(nodes, tasks, skip).map((n) => [n.id, n]));
  const accepted: Assignment[] = [];
  const refused: Unschedulable[] = [];
  for (const task of [...preassigned].sort(byId)) {
    const node = infos.get(task.nodeId);
    if (node === undefined) {
      refused.push({ taskId: task.meta.id, reason: `node ${task.nodeId} no longer exists` });
      continue;
    }
    const request = compileOrExplain(task);
    if (typeof request === 'string') {
      refused.push({ taskId: task.meta.id, reason: request });
      continue;
    }
    const failed = firstRejecting(filters, request, node);
    if (failed >= 0) {
      const rejected = filters.map((_, i) => (i === failed ? 1 : 0));
      refused.push({ taskId: task.meta.id, reason: noSuitableNode(filters, rejected) });
      continue;
    }
    node.addTask(task);
    accepted.push({ taskId: task.meta.id, nodeId: node.id });
  }
  return { accepted, refused };
}

function byId(a: Task, b: Task): number {
  return a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0;
}
