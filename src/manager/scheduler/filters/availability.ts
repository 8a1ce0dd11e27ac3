import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

/** `node update --availability`: a paused node keeps its tasks, a drained one loses them; neither takes new ones. */
export const availabilityFilter: Filter = {
  name: 'availability',
  check: (_request, node) => node.node.spec.availability === 'active',
  explain: (count) => `${nodes(count)} not available for new tasks`,
};
