// Running a task's request through the filters and scorers, node by node, and turning the
// filters' rejections into the "no suitable node (...)" message Swarm users know.

import type { Filter } from './filter.ts';
import type { NodeInfo } from './node-info.ts';
import type { TaskRequest } from './request.ts';
import type { Scorer, ScoringContext } from './scorer.ts';

/** The index of the first filter that rules the node out, or -1 where none does. */
export function firstRejecting(
  filters: readonly Filter[],
  request: TaskRequest,
  node: NodeInfo,
): number {
  for (let i = 0; i < filters.length; i++) if (!filters[i]!.check(request, node)) return i;
  return -1;
}

/** Negative where `a` is the better home for the task; node id settles what the scorers tie. */
export function compareNodes(
  scorers: readonly Scorer[],
  request: TaskRequest,
  a: NodeInfo,
  b: NodeInfo,
  context: ScoringContext,
): number {
  for (let i = 0; i < scorers.length; i++) {
    const diff = scorers[i]!.compare(request, a, b, context);
    if (diff !== 0) return diff;
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Swarm's message: the reasons with the most nodes first (ties in filter order), so the one
 * most worth fixing leads.
 */
export function noSuitableNode(filters: readonly Filter[], rejected: readonly number[]): string {
  const reasons = filters
    .map((filter, i) => ({ filter, count: rejected[i] ?? 0, i }))
    .filter((r) => r.count > 0)
    .sort((x, y) => y.count - x.count || x.i - y.i)
    .map((r) => r.filter.explain(r.count));
  return `no suitable node (${reasons.length === 0 ? 'no nodes in the cluster' : reasons.join('; ')})`;
}
