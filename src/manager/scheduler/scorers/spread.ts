import type { Scorer } from '../scorer.ts';

/** The node with the fewest tasks of this service first, so one node lost costs few replicas. */
export const spreadScorer: Scorer = {
  name: 'spread',
  compare: (request, a, b) =>
    a.tasksOfService(request.serviceId) - b.tasksOfService(request.serviceId),
};
