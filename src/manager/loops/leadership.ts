// Starts the leader-only loops when this manager becomes the Raft leader and stops them when it
// stops being one, told by the Raft driver the moment its role changes (a failover should not
// wait for a poll). A manager that loses leadership and regains it gets fresh loops, each
// starting again from a full read of the store.

import type { LoopLog, ReconcileLoop } from './reconcile.ts';

export interface LeadershipOptions {
  /** True while this member leads (RaftNode.status().role === 'leader'). */
  readonly isLeader: () => boolean;
  /** The loops of one term; called on each gain of leadership. */
  readonly loops: () => readonly ReconcileLoop[];
  readonly log: LoopLog & { info(obj: object, msg: string): void };
  /** Calls its argument on every change of role; returns the unsubscribe function. */
  readonly onChange: (changed: () => void) => () => void;
}

export class Leadership {
  readonly #opts: LeadershipOptions;
  #unsubscribe: (() => void) | null = null;
  #term: { readonly abort: AbortController; readonly done: Promise<void> } | null = null;
  #stopped = false;

  constructor(opts: LeadershipOptions) {
    this.#opts = opts;
  }

  get leading(): boolean {
    return this.#term !== null;
  }

  start(): void {
    if (this.#unsubscribe !== null || this.#stopped) return;
    // Not inside the Raft driver's own call: it is in the middle of handling a Ready.
    this.#unsubscribe = this.#opts.onChange(() => queueMicrotask(() => this.#check()));
    this.#check();
  }

  /** Stops following leadership and the loops of the current term; resolves once they ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
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
