import type { Scorer } from '../scorer.ts';

/**
 * The node with the fewest tasks of all services first (swarmkit's second key). Most tasks
 * reserve nothing, so the reserved scorer ties, and live usage does not move within a pass:
 * without this, every one-replica service of a pass would land on the same node.
 */
export const taskCountScorer: Scorer = {
  name: 'task-count',
  compare: (_request, a, b) => a.tasks.size - b.tasks.size,
};
