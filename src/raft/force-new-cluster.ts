// `swarm init --force-new-cluster` at the Raft level, as etcd's --force-new-cluster: the one
// surviving member of a cluster that lost its quorum for good rewrites its own log so that it is
// the only member, and goes on with every entry it holds. A removal of each other member is
// appended and the commit index moved to the end of the log, so that the changes apply at start
// without the votes of members that are gone.
//
// Unlike etcd, entries past the member's commit index are kept, not discarded: the member may
// not have learnt that the old leader committed them (and acknowledged them to a client), and
// every entry in one member's log came from a legitimate leader, so keeping them loses no
// acknowledged write; at worst it keeps one that was never acknowledged.

import { ConfChangeError } from '../errors.ts';
import { applyConfChange, decodeConfChange, encodeConfChange } from './conf.ts';
import type { StoredState } from './storage.ts';
import type { ConfState, Entry, HardState, NodeId } from './types.ts';

/** The membership once every entry of the stored log is applied. */
export function confAtEnd(stored: StoredState): ConfState {
  let conf: ConfState = stored.snapshot?.meta.conf ?? { voters: [], learners: [] };
  for (const e of stored.entries)
    if (e.type === 'conf') conf = applyConfChange(conf, decodeConfChange(e.data));
  return conf;
}

/**
 * What `self` appends and saves to become the only member: nothing when it already is. Throws
 * when it is not a voter (a learner's log may lack committed entries).
 */
export function forceNewClusterLog(
  stored: StoredState,
  self: NodeId,
): { entries: Entry[]; hardState: HardState } | null {
  const conf = confAtEnd(stored);
  if (!conf.voters.includes(self)) {
    throw new ConfChangeError(
      `cannot force a new cluster from ${self}: it is not a voter of the cluster it holds (voters: ${conf.voters.join(', ') || 'none'})`,
    );
  }
  const others = [...conf.voters, ...conf.learners].filter((id) => id !== self);
  if (others.length === 0) return null;
  const last = stored.entries.at(-1) ?? {
    index: stored.snapshot?.meta.index ?? 0,
    term: stored.snapshot?.meta.term ?? 0,
  };
  const term = Math.max(stored.hardState.term, last.term);
  const entries: Entry[] = others.map((node, i) => ({
    index: last.index + 1 + i,
    term,
    type: 'conf',
    data: encodeConfChange({ type: 'removeNode', node }),
  }));
  return {
    entries,
    hardState: { term, vote: stored.hardState.vote, commit: last.index + others.length },
  };
}
