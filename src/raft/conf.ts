import { ConfChangeError } from '../errors.ts';
import type { ConfChange, ConfState, Entry, HardState, NodeId } from './types.ts';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeConfChange(cc: ConfChange): Uint8Array {
  return encoder.encode(JSON.stringify(cc));
}

export function decodeConfChange(data: Uint8Array): ConfChange {
  const cc = JSON.parse(decoder.decode(data)) as ConfChange;
  if (
    (cc.type !== 'addVoter' && cc.type !== 'addLearner' && cc.type !== 'removeNode') ||
    typeof cc.node !== 'string'
  ) {
    throw new ConfChangeError(`malformed membership change entry: ${decoder.decode(data)}`);
  }
  return cc;
}

export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1;
}

/** Checks a change against the current membership; throws a ConfChangeError saying why not. */
export function validateConfChange(conf: ConfState, cc: ConfChange): void {
  const isVoter = conf.voters.includes(cc.node);
  const isLearner = conf.learners.includes(cc.node);
  switch (cc.type) {
    case 'addVoter':
      if (isVoter) throw new ConfChangeError(`${cc.node} is already a voter`);
      if (!isLearner) {
        // A voter with an empty log would weaken the quorum until it caught up.
        throw new ConfChangeError(
          `${cc.node} is not a member: add it as a learner first, then promote it once it has caught up`,
        );
      }
      return;
    case 'addLearner':
      if (isVoter)
        throw new ConfChangeError(`${cc.node} is a voter; remove it before re-adding as learner`);
      if (isLearner) throw new ConfChangeError(`${cc.node} is already a learner`);
      return;
    case 'removeNode':
      if (!isVoter && !isLearner) throw new ConfChangeError(`${cc.node} is not a member`);
      if (isVoter && conf.voters.length === 1) {
        throw new ConfChangeError(
          `${cc.node} is the last voter; removing it would leave no cluster`,
        );
      }
      return;
  }
}

/** The membership after a change (single-server changes: the old and new majorities overlap). */
export function applyConfChange(conf: ConfState, cc: ConfChange): ConfState {
  const without = (ids: readonly NodeId[]) => ids.filter((id) => id !== cc.node);
  switch (cc.type) {
    case 'addVoter':
      return { voters: [...without(conf.voters), cc.node], learners: without(conf.learners) };
    case 'addLearner':
      if (conf.voters.includes(cc.node)) return conf;
      return { voters: [...conf.voters], learners: [...without(conf.learners), cc.node] };
    case 'removeNode':
      return { voters: without(conf.voters), learners: without(conf.learners) };
  }
}

/**
 * The first entries of a new cluster's log: one committed addVoter per initial member, at term
 * 1, identical on every initial member. Keeping the initial membership in the log (as etcd does)
 * means a member that joins later learns it by replaying the log, snapshot or not.
 */
export function bootstrapLog(members: readonly { id: NodeId; addr?: string }[]): {
  entries: Entry[];
  hardState: HardState;
} {
  const entries: Entry[] = members.map((m, i) => ({
    index: i + 1,
    term: 1,
    type: 'conf',
    data: encodeConfChange({
      type: 'addVoter',
      node: m.id,
      ...(m.addr === undefined ? {} : { addr: m.addr }),
    }),
  }));
  return { entries, hardState: { term: 1, vote: null, commit: entries.length } };
}
