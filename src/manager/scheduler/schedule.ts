// The scheduler's pure core: given a snapshot of the cluster and the tasks waiting for a node,
// decide where each goes. No store, no clock, no I/O: the reconcile loop that calls it re-checks
// the plan against the latest state when it commits, so deciding on a snapshot is safe.

import type { Node, Task } from '../../api/objects.ts';
import type { Filter } from './filter.ts';
import { defaultFilters } from './filters/index.ts';
import { buildNodeInfos, type NodeInfo } from './node-info.ts';
import { compareNodes, firstRejecting, noSuitableNode } from './pipeline.ts';
import { compileOrExplain, type ImagePlatforms, noImagePlatforms } from './request.ts';
import type { Scorer, ScoringContext } from './scorer.ts';
import { defaultScorers } from './scorers/index.ts';
import { SpreadGroups } from './spread-groups.ts';

export interface Snapshot {
  readonly nodes: readonly Node[];
  /** Every task the store holds; those not holding a node are ignored. */
  readonly tasks: readonly Task[];
}

export interface Assignment {
  readonly taskId: string;
  readonly nodeId: string;
}

export interface Unschedulable {
  readonly taskId: string;
  /** For the task's status message, as `service ps` shows it. */
  readonly reason: string;
}

export interface Plan {
  /** In the order decided. */
  readonly assignments: readonly Assignment[];
  readonly unschedulable: readonly Unschedulable[];
}

export interface ScheduleOptions {
  readonly filters?: readonly Filter[];
  readonly scorers?: readonly Scorer[];
  readonly imagePlatforms?: ImagePlatforms;
}

/**
 * Places the pending tasks one at a time, grouped by service and in slot order, each decision
 * counted before the next is made: ten replicas over three equal nodes go 4/3/3, not 10/0/0.
 * The same snapshot and pending tasks always give the same plan.
 */
export function schedule(
  snapshot: Snapshot,
  pending: readonly Task[],
  options: ScheduleOptions = {},
): Plan {
  const filters = options.filters ?? defaultFilters;
  const scorers = options.scorers ?? defaultScorers;
  const imagePlatforms = options.imagePlatforms ?? noImagePlatforms;

  // A pending task the snapshot shows on a node (a retry, say) must not count against it twice.
  const pendingIds = new Set(pending.map((t) => t.meta.id));
  const nodes = buildNodeInfos(snapshot.nodes, snapshot.tasks, pendingIds);
  const groups = new SpreadGroups(nodes);

  const assignments: Assignment[] = [];
  const unschedulable: Unschedulable[] = [];
  for (const task of inPlacementOrder(pending)) {
    const request = compileOrExplain(task, imagePlatforms);
    if (typeof request === 'string') {
      unschedulable.push({ taskId: task.meta.id, reason: request });
      continue;
    }
    const context: ScoringContext = { spread: groups.levels(request.serviceId, request.spread) };
    const rejected = new Array<number>(filters.length).fill(0);
    let best: NodeInfo | null = null;
    for (const node of nodes) {
      const failed = firstRejecting(filters, request, node);
      if (failed >= 0) rejected[failed]!++;
      else if (best === null || compareNodes(scorers, request, node, best, context) < 0) {
        best = node;
      }
    }
    if (best === null) {
      unschedulable.push({ taskId: task.meta.id, reason: noSuitableNode(filters, rejected) });
      continue;
    }
    best.addTask(task);
    groups.placed(request.serviceId, best);
    assignments.push({ taskId: task.meta.id, nodeId: best.id });
  }
  return { assignments, unschedulable };
}

function inPlacementOrder(pending: readonly Task[]): Task[] {
  return [...pending].sort(
    (a, b) =>
      compareStrings(a.serviceId, b.serviceId) ||
      a.slot - b.slot ||
      compareStrings(a.meta.id, b.meta.id),
  );
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
