import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

/**
 * Reservations must fit what the node has left. A task reserving nothing fits anywhere, even on
 * a node already over-committed, as in Swarm: reservations are a promise only to those who ask.
 */
export const resourcesFilter: Filter = {
  name: 'resources',
  check: (request, node) => {
    const want = request.reservations;
    if (want.nanoCpus === 0 && want.memoryBytes === 0) return true;
    return node.fits(want);
  },
  explain: (count) => `insufficient resources on ${nodes(count)}`,
};
