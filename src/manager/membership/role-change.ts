// Whether a node's role may change (`node promote`, `node demote`, `node update --role`), and
// what the operator should hear about it. Managers keep the cluster state in a Raft group that
// needs a majority of its voters up: a change that leaves fewer managers up than the new group
// needs stops every write, so it is refused unless forced, and an even number of managers is
// worth a warning (four tolerate one failure, as three do).

import type { Node, NodeRole } from '../../api/objects.ts';
import { quorum } from '../../raft/conf.ts';

export interface RoleChangeCheck {
  /** Why the change is refused; null when it may go ahead. */
  readonly problem: string | null;
  readonly warnings: readonly string[];
}

export function checkRoleChange(
  nodes: readonly Node[],
  target: Node,
  role: NodeRole,
  force: boolean,
): RoleChangeCheck {
  const managers = nodes.filter((n) => n.spec.role === 'manager');
  if (target.spec.role === role) return { problem: null, warnings: [] };
  const after = role === 'manager' ? [...managers, target] : managers.filter((n) => n !== target);
  const id = target.meta.id;
  if (after.length === 0) {
    return {
      problem: `node ${id} is the last manager of the swarm: demoting it would leave nobody to keep the cluster state; promote another node first`,
      warnings: [],
    };
  }
  const up = after.filter((n) => n.status.state !== 'down').length;
  const needed = quorum(after.length);
  if (up < needed && !force) {
    return {
      problem:
        `${role === 'manager' ? 'promoting' : 'demoting'} node ${id} would lose quorum: ` +
        `${after.length - up} of the ${after.length} managers it leaves are down, and Raft needs ` +
        `${needed} up; bring them back first, or use --force`,
      warnings: [],
    };
  }
  const warnings: string[] = [];
  if (after.length % 2 === 0) {
    warnings.push(
      `the swarm will have ${after.length} managers: an even number tolerates no more failures than ${after.length - 1} (Raft needs a majority); an odd number is better`,
    );
  }
  return { problem: null, warnings };
}
