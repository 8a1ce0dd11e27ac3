// Starts the leader-only loops when this manager becomes the Raft leader and stops them when it
// stops being one. Leadership is polled from the Raft driver's status: RaftNode has no
// leadership callback (its soft-state hook is private), and a poll every 100 ms costs nothing
// next to an election timeout. A manager that loses leadership and regains it gets fresh loops,
// each starting again from a full read of the store.

import type { LoopLog, ReconcileLoop } from './reconcile.ts';

export interface LeadershipOptions {
  /** True while this member leads (RaftNode.status().role === 'leader'). */
  readonly isLeader: () => boolean;
  /** The loops of one term; called on each gain of leadership. */
  readonly loops: () => readonly ReconcileLoop[];
  readonly log: LoopLog & { info(obj: object, msg: string): void };
  readonly pollMs?: number;
}

export class Leadership {
  readonly #opts: LeadershipOptions;
  #timer: NodeJS.Timeout | null = null;
  #term: { readonly abort: AbortController; readonly done: Promise<void> } | null = null;
  #stopped = false;

  constructor(opts: LeadershipOptions) {
    this.#opts = opts;
  }

  get leading(): boolean {
    return this.#term !== null;
  }

  start(): void {
    if (this.#timer !== null || this.#stopped) return;
    this.#check();
    this.#timer = setInterval(() => this.#check(), this.#opts.pollMs ?? 100);
    this.#timer.unref();
  }

  /** Stops polling and the loops of the current term; resolves once they have ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    await this.#endTerm();
  }

  #check(): void {
    if (this.#stopped) return;
    const leader = this.#opts.isLeader();
    if (leader && this.#term === null) this.#beginTerm();
    else if (!leader && this.#term !== null) void this.#endTerm();
  }

  #beginTerm(): void {
    const abort = new AbortController();
    const log = this.#opts.log;
    const loops = this.#opts.loops();
    log.info({ loops: loops.map((l) => l.name) }, 'leading: starting the manager loops');
    const done = Promise.all(
      loops.map((loop) =>
        loop.run(abort.signal).catch((err: unknown) => {
          log.warn({ err, loop: loop.name }, 'manager loop failed');
        }),
      ),
    ).then(() => {});
    this.#term = { abort, done };
  }

  async #endTerm(): Promise<void> {
    const term = this.#term;
    if (term === null) return;
    this.#term = null;
    this.#opts.log.info({}, 'no longer leading: stopping the manager loops');
    term.abort.abort();
    await term.done;
  }
}
