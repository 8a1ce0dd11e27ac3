// A filter rules nodes out for a task. Each one says, for the "no suitable node (...)" message,
// why it ruled out the nodes it did, so a task that cannot be placed tells the user what to fix.

import type { NodeInfo } from './node-info.ts';
import type { TaskRequest } from './request.ts';

export interface Filter {
  readonly name: string;
  check(request: TaskRequest, node: NodeInfo): boolean;
  /** Why `count` nodes were ruled out, e.g. "insufficient resources on 2 nodes". */
  explain(count: number): string;
}

export function nodes(count: number): string {
  return count === 1 ? '1 node' : `${count} nodes`;
}
