import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';

/** Only a node whose agent is connected and reporting can start a task. */
export const readyFilter: Filter = {
  name: 'ready',
  check: (_request, node) => node.node.status.state === 'ready',
  explain: (count) => `${nodes(count)} not ready`,
};
