import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

/** `--replicas-max-per-node`, counting the tasks this pass has already placed. */
export const maxReplicasFilter: Filter = {
  name: 'max-replicas',
  check: (request, node) =>
    request.maxReplicasPerNode === 0 ||
    node.tasksOfService(request.serviceId) < request.maxReplicasPerNode,
  explain: (count) => `max replicas per node reached on ${nodes(count)}`,
};
