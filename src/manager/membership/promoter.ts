// On the leader: a manager joins the Raft group as a learner and becomes a voter once its log
// has caught up (Raft thesis 4.2.1). A voter with an empty log would count towards quorum
// while unable to acknowledge anything: in a 3-member group, one slow newcomer and one failure
// would stop every write. Promotion is a leader loop rather than the end of the join call, so a
// learner whose join was cut short (its daemon restarted, the leader changed) is promoted all
// the same.

import { setTimeout as delay } from 'node:timers/promises';
import type { RaftStatus } from '../../raft/node.ts';
import type { LoopLog, ReconcileLoop } from '../loops/reconcile.ts';

/** What the promoter needs of the Raft member. */
export interface PromoterRaft {
  status(): RaftStatus;
  memberMatch(id: string): number | undefined;
  promote(id: string): Promise<void>;
}

export interface RaftPromoterOptions {
  readonly raft: PromoterRaft;
  readonly log: LoopLog & { info(obj: object, msg: string): void };
  /** How often learners are looked at (default 200 ms). */
  readonly intervalMs?: number;
  /** A learner this many entries behind the commit index or less counts as caught up. */
  readonly maxLag?: number;
}

export class RaftPromoter implements ReconcileLoop {
  readonly name = 'raft-promoter';
  readonly #opts: RaftPromoterOptions;
  readonly #halt = new AbortController();

  constructor(opts: RaftPromoterOptions) {
    this.#opts = opts;
  }

  stop(): void {
    this.#halt.abort();
  }

  async run(outer: AbortSignal): Promise<void> {
    const signal = AbortSignal.any([outer, this.#halt.signal]);
    const { raft, log } = this.#opts;
    const maxLag = this.#opts.maxLag ?? 16;
    while (!signal.aborted) {
      const status = raft.status();
      for (const id of status.learners) {
        const match = raft.memberMatch(id);
        if (match === undefined || status.commit - match > maxLag) continue;
        try {
          await raft.promote(id);
          log.info({ member: id }, 'a learner caught up: promoted to voter');
        } catch (err) {
          // Another change in flight, or leadership lost: the next round tries again.
          log.debug({ err, member: id }, 'promotion not done; retrying');
        }
      }
      try {
        await delay(this.#opts.intervalMs ?? 200, undefined, { signal });
      } catch {
        return;
      }
    }
  }
}
