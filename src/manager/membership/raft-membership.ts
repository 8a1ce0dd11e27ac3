// On the leader: the Raft group follows the managers' Node objects. A manager joins the group as
// a learner and becomes a voter once its log has caught up (Raft thesis 4.2.1): a voter with an
// empty log would count towards quorum while unable to acknowledge anything, so in a 3-member
// group one slow newcomer and one failure would stop every write. A manager demoted to worker
// leaves the group; when that is the leader itself, it first hands leadership to the most
// up-to-date other voter, whose own loop then removes it. Promotion is a leader loop rather
// than the end of the join call, so a learner whose join was cut short (its daemon restarted,
// the leader changed) is promoted all the same.

import { setTimeout as delay } from 'node:timers/promises';
import type { NodeRole } from '../../api/objects.ts';
import type { RaftStatus } from '../../raft/node.ts';
import type { LoopLog, ReconcileLoop } from '../loops/reconcile.ts';

/** What the loop needs of the Raft member. */
export interface MembershipRaft {
  status(): RaftStatus;
  memberMatch(id: string): number | undefined;
  promote(id: string): Promise<void>;
  removeMember(id: string): Promise<void>;
  transferLeadership(to: string): Promise<void>;
}

export interface RaftMembershipOptions {
  readonly raft: MembershipRaft;
  /** The role each node's spec asks for; a node without an object yet is left alone. */
  readonly roleOf: (nodeId: string) => NodeRole | undefined;
  readonly log: LoopLog & { info(obj: object, msg: string): void };
  /** How often the group is looked at (default 200 ms). */
  readonly intervalMs?: number;
  /** A learner this many entries behind the commit index or less counts as caught up. */
  readonly maxLag?: number;
}

export class RaftMembership implements ReconcileLoop {
  readonly name = 'raft-membership';
  readonly #opts: RaftMembershipOptions;
  readonly #halt = new AbortController();

  constructor(opts: RaftMembershipOptions) {
    this.#opts = opts;
  }

  stop(): void {
    this.#halt.abort();
  }

  async run(outer: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([outer, this.#halt.signal]);
    while (!signal.aborted) {
      try {
        await this.#round();
      } catch (err) {
        // Another change in flight, or leadership lost: the next round tries again.
        this.#opts.log.debug({ err }, 'membership change not done; retrying');
      }
      try {
        await delay(this.#opts.intervalMs ?? 200, undefined, { signal });
      } catch {
        return;
      }
    }
  }

  async #round(): Promise<void> {
    const { raft, roleOf, log } = this.#opts;
    const s = raft.status();
    for (const id of [...s.voters, ...s.learners]) {
      if (roleOf(id) !== 'worker') continue;
      if (id === s.id) {
        const to = this.#successor(s);
        if (to === null) return;
        log.info({ to }, 'demoted: handing leadership over before leaving the Raft group');
        await raft.transferLeadership(to);
        return;
      }
      await raft.removeMember(id);
      log.info({ member: id }, 'a demoted manager left the Raft group');
      return;
    }
    const maxLag = this.#opts.maxLag ?? 16;
    for (const id of s.learners) {
      const match = raft.memberMatch(id);
      if (roleOf(id) !== 'manager' || match === undefined || s.commit - match > maxLag) continue;
      await raft.promote(id);
      log.info({ member: id }, 'a learner caught up: promoted to voter');
    }
  }

  /** The other voter whose log is furthest along, to hand leadership to. */
  #successor(s: RaftStatus): string | null {
    let best: string | null = null;
    let bestMatch = -1;
    for (const id of s.voters) {
      if (id === s.id) continue;
      const match = this.#opts.raft.memberMatch(id) ?? -1;
      if (match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    return best;
  }
}
