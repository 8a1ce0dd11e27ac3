// Which nodes can keep a task and which can take one. Swarm's rule (orchestrator.InvalidNode): a
// task on a node that is gone, down or drained is lost to its service and replaced elsewhere.
// A paused node keeps its tasks and takes no new ones.

import type { Node, Service, Task } from '../../api/objects.ts';
// Not on the scheduler's public surface yet: the orchestrator needs the same node test the
// constraints filter uses, and a second copy could drift from it.
import { matchesConstraints } from '../scheduler/constraint.ts';
import { type Constraint, parseConstraints } from '../scheduler/index.ts';
import { hasStopped, isWanted } from './task-state.ts';

export type NodeLoss = 'removed' | 'down' | 'drained';

export type NodesById = ReadonlyMap<string, Node>;

export function indexNodes(nodes: readonly Node[]): NodesById {
  return new Map(nodes.map((node) => [node.meta.id, node]));
}

/** Why a task's node can no longer run it; null for an unassigned task or a usable node. */
export function nodeLoss(task: Task, nodes: NodesById): NodeLoss | null {
  if (task.nodeId === '') return null;
  const node = nodes.get(task.nodeId);
  if (node === undefined) return 'removed';
  if (node.status.state === 'down') return 'down';
  if (node.spec.availability === 'drain') return 'drained';
  return null;
}

export const lossReason: Readonly<Record<NodeLoss, string>> = {
  removed: 'node removed from the cluster',
  down: 'node is down',
  drained: 'node is drained',
};

/**
 * Asked to stop and still running on a node that can stop it. The slot waits for it: starting
 * its successor first would run two where the user asked for one (that is start-first's job).
 * A task on a lost node is not waited for, nor one never assigned: nothing will stop those.
 */
export function isStopping(task: Task, nodes: NodesById): boolean {
  return (
    !isWanted(task) && !hasStopped(task) && task.nodeId !== '' && nodeLoss(task, nodes) === null
  );
}

/** The service's constraints, or null if they no longer parse (then no node qualifies). */
export function serviceConstraints(service: Service): Constraint[] | null {
  try {
    return parseConstraints(service.spec.task.placement.constraints);
  } catch {
    return null;
  }
}

/** May take a new task of this service: ready, active and within its constraints. */
export function canTakeTask(node: Node, constraints: readonly Constraint[]): boolean {
  return (
    node.status.state === 'ready' &&
    node.spec.availability === 'active' &&
    matchesConstraints(node, constraints)
  );
}

/**
 * May keep the task it has: not drained (drained nodes shed their tasks) and within the
 * constraints. A down or paused node keeps its global task: there is nowhere else for it to go,
 * and it resumes when the node returns.
 */
export function canKeepTask(node: Node, constraints: readonly Constraint[]): boolean {
  return node.spec.availability !== 'drain' && matchesConstraints(node, constraints);
}
