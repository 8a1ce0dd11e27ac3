// What every leader loop shares: a watch taken before the first read, so no commit between the
// read and the subscription goes unseen; one full pass per wakeup, however many commits arrived
// meanwhile (level-triggered: the pass reads the whole state, so the events only say "look
// again"); a timer for the pass's own deadline (restart delays, update monitors); and a retry
// soon after a pass that failed, since the commit that made it fail may be its last event.

import { WatchLostError } from '../../errors.ts';
import type { StoreEvent, TableName, Watch } from '../../store/index.ts';

/** Enough of a pino logger. */
export interface LoopLog {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentLog: LoopLog = { debug() {}, warn() {} };

/** A leader-only part of the manager: runs until its signal aborts or stop() is called. */
export interface ReconcileLoop {
  readonly name: string;
  run(signal: AbortSignal): Promise<void>;
  stop(): void;
}

/** The store as a loop needs it: a watch of commits. */
export interface Watchable {
  watch(
    filter: { readonly table: readonly TableName[]; readonly kind: 'commit' },
    opts: { readonly signal: AbortSignal },
  ): Watch;
}

export interface PassResult {
  /** Pass again at this time (ms since the epoch) even without a commit; null: only on commits. */
  readonly wakeAt: number | null;
  /** Some write failed (a version conflict, a lost proposal): pass again soon. */
  readonly retry: boolean;
}

export interface RunPassesOptions {
  readonly store: Watchable;
  readonly tables: readonly TableName[];
  readonly signal: AbortSignal;
  readonly pass: () => Promise<PassResult>;
  readonly now: () => number;
  readonly retryMs: number;
  readonly log: LoopLog;
  readonly name: string;
}

export async function runPasses(opts: RunPassesOptions): Promise<void> {
  const { signal, log } = opts;
  while (!signal.aborted) {
    const watch = opts.store.watch({ table: opts.tables, kind: 'commit' }, { signal });
    try {
      let next: Promise<IteratorResult<StoreEvent>> | null = null;
      while (!signal.aborted) {
        let result: PassResult;
        try {
          result = await opts.pass();
        } catch (err) {
          if (signal.aborted) return;
          log.warn({ err, loop: opts.name }, 'reconcile pass failed; retrying');
          result = { wakeAt: null, retry: true };
        }
        if (signal.aborted) return;
        let wakeAt = result.wakeAt;
        if (result.retry) wakeAt = earliest(wakeAt, opts.now() + opts.retryMs);
        next ??= watch.next();
        const woke = await untilEventOr(next, wakeAt, opts.now);
        if (woke === 'timer') continue;
        next = null;
        if (woke.done === true) return;
        // Commits queued during the pass are all covered by the next one.
        while (watch.backlog > 0) await watch.next();
      }
    } catch (err) {
      if (!(err instanceof WatchLostError)) throw err;
      log.debug({ loop: opts.name, err }, 'watch lost; reading the whole state again');
    } finally {
      watch.end();
    }
  }
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** Either the pending read settles, or `wakeAt` passes (the read stays pending for the next wait). */
async function untilEventOr(
  next: Promise<IteratorResult<StoreEvent>>,
  wakeAt: number | null,
  now: () => number,
): Promise<IteratorResult<StoreEvent> | 'timer'> {
  if (wakeAt === null) return next;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'timer'>((resolve) => {
    timer = setTimeout(() => resolve('timer'), Math.max(0, wakeAt - now()));
  });
  try {
    return await Promise.race([next, expired]);
  } finally {
    clearTimeout(timer);
  }
}
