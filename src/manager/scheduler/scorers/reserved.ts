import type { Capacity } from '../../../api/objects.ts';
import type { NodeInfo } from '../node-info.ts';
import type { Scorer } from '../scorer.ts';

function fraction(used: number, capacity: number): number {
  if (capacity > 0) return used / capacity;
  return used > 0 ? Number.POSITIVE_INFINITY : 0;
}

/**
 * The larger of the CPU and memory fractions reserved once the task is placed. Counting the task
 * itself favours the bigger of two empty nodes, where the task takes a smaller share.
 */
function reservedAfter(node: NodeInfo, want: Capacity): number {
  const capacity = node.node.description.resources;
  return Math.max(
    fraction(node.reservedNanoCpus + want.nanoCpus, capacity.nanoCpus),
    fraction(node.reservedMemoryBytes + want.memoryBytes, capacity.memoryBytes),
  );
}

/** The node with the smallest share of its capacity reserved first. */
export const reservedScorer: Scorer = {
  name: 'reserved',
  compare: (request, a, b) =>
    reservedAfter(a, request.reservations) - reservedAfter(b, request.reservations),
};
