// The plan was decided on a snapshot; by the time it is committed the cluster may have moved (a
// node drained, another writer placed tasks, the task was removed). The commit step runs each
// assignment through the filters again against the latest state, in plan order and counting the
// ones it keeps, and commits only those: Nomad's plan applier, so scheduling can stay optimistic.
// Scorers are not re-run: a still-feasible node that is no longer the best is good enough, and
// the next pass spreads again.

import type { Task } from '../../api/objects.ts';
import { defaultFilters } from './filters/index.ts';
import { buildNodeInfos } from './node-info.ts';
import { compileOrExplain } from './request.ts';
import type { Assignment, ScheduleOptions, Snapshot, Unschedulable } from './schedule.ts';

export interface Recheck {
  readonly accepted: readonly Assignment[];
  /** Left for the next pass; the reason says why the decision no longer holds. */
  readonly refused: readonly Unschedulable[];
}

export function recheck(
  latest: Snapshot,
  assignments: readonly Assignment[],
  options: Pick<ScheduleOptions, 'filters' | 'imagePlatforms'> = {},
): Recheck {
  const filters = options.filters ?? defaultFilters;
  const tasks = new Map<string, Task>(latest.tasks.map((t) => [t.meta.id, t]));
  const nodes = new Map(
    buildNodeInfos(latest.nodes, latest.tasks, new Set(assignments.map((a) => a.taskId))).map(
      (n) => [n.id, n],
    ),
  );
  const accepted: Assignment[] = [];
  const refused: Unschedulable[] = [];
  for (const a of assignments) {
    const refuse = (reason: string) => refused.push({ taskId: a.taskId, reason });
    const task = tasks.get(a.taskId);
    if (task === undefined || task.nodeId !== '' || task.desiredState !== 'running') {
      refuse('the task changed since it was scheduled');
      continue;
    }
    const node = nodes.get(a.nodeId);
    if (node === undefined) {
      refuse(`node ${a.nodeId} no longer exists`);
      continue;
    }
    const request = compileOrExplain(task, options.imagePlatforms);
    if (typeof request === 'string') {
      refuse(request);
      continue;
    }
    const failed = filters.find((f) => !f.check(request, node));
    if (failed !== undefined) {
      refuse(`node ${a.nodeId} changed: ${failed.explain(1)}`);
      continue;
    }
    node.addTask(task);
    accepted.push(a);
  }
  return { accepted, refused };
}
