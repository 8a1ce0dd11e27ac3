// The default filters, cheapest first: a node is charged to the first filter that rules it out,
// so the order also decides which reason a "no suitable node" message gives for it. A new filter
// (generic resources) is a file in this folder and a line here.

import type { Filter } from '../filter.ts';
import { availabilityFilter } from './availability.ts';
import { constraintsFilter } from './constraints.ts';
import { hostPortsFilter } from './host-ports.ts';
import { maxReplicasFilter } from './max-replicas.ts';
import { platformFilter } from './platform.ts';
import { readyFilter } from './ready.ts';
import { resourcesFilter } from './resources.ts';

export const defaultFilters: readonly Filter[] = [
  readyFilter,
  availabilityFilter,
  maxReplicasFilter,
  resourcesFilter,
  constraintsFilter,
  platformFilter,
  hostPortsFilter,
];

export {
  availabilityFilter,
  constraintsFilter,
  hostPortsFilter,
  maxReplicasFilter,
  platformFilter,
  readyFilter,
  resourcesFilter,
};
