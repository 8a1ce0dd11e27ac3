// A scorer ranks two nodes that both passed the filters. Scorers apply in order, each breaking
// the ties of those before it, rather than being weighted and summed (as Nomad's are): every
// rule then has a plain meaning ("fewest tasks of the service in the zone first") that a test
// can pin down and a user can predict.

import type { NodeInfo } from './node-info.ts';
import type { TaskRequest } from './request.ts';
import type { GroupCounts } from './spread-groups.ts';

/** What a pass knows beyond the two nodes, resolved once per pending task. */
export interface ScoringContext {
  /** The service's tasks per group, one table per spread level of the task, outermost first. */
  readonly spread: readonly GroupCounts[];
}

export interface Scorer {
  readonly name: string;
  /** Negative where `a` suits the task better, positive where `b` does, 0 for a tie. */
  compare(request: TaskRequest, a: NodeInfo, b: NodeInfo, context: ScoringContext): number;
}
