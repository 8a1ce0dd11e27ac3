// The Node object a node enters the swarm with: the first manager's at `swarm init` (written by
// the daemon) and every joining node's (written by the CA service when it issues the node's
// first certificate). Users own the spec from then on; the node's own reports own the rest.

import type { NodeDescription, NodeRole, NodeState } from '../../api/objects.ts';
import type { NewObject } from '../../store/index.ts';

export interface NewNodeFacts {
  readonly role: NodeRole;
  /** As the host described itself when it entered. */
  readonly description: NodeDescription;
  /** Where the node is reached (status.addr). */
  readonly addr: string;
  /**
   * `ready` for the manager that creates the swarm (it is running); `unknown` for a node that
   * joins, until its first dispatcher session says it is ready.
   */
  readonly state: NodeState;
}

/** Availability active and no labels, as Swarm's nodes start. */
export function newNode(facts: NewNodeFacts): NewObject<'nodes'> {
  return {
    spec: { role: facts.role, availability: 'active', labels: {} },
    description: facts.description,
    status: { state: facts.state, message: '', addr: facts.addr },
  };
}
