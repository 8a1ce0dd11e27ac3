import { matchesConstraints } from '../constraint.ts';
import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

export const constraintsFilter: Filter = {
  name: 'constraints',
  check: (request, node) => matchesConstraints(node.node, request.constraints),
  explain: (count) => `scheduling constraints not satisfied on ${nodes(count)}`,
};
