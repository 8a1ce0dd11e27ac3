// What every leader loop shares: a watch taken before the first read, so no commit between the
// read and the subscription goes unseen; one pass per wakeup, however many commits arrived
// meanwhile (level-triggered: the pass reads the state afresh, so the events only say "look
// again", and at most where); a timer for the pass's own deadline (restart delays, update
// monitors); and a retry soon after a pass that failed, since the commit that made it fail may
// be its last event.

import { WatchLostError } from '../../errors.ts';
import type { ObjectEvent, StoreEvent, TableName, Watch } from '../../store/index.ts';

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
    filter: {
      readonly table: readonly TableName[];
      readonly kind: StoreEvent['kind'] | readonly StoreEvent['kind'][];
    },
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
  /**
   * Whether an object event of the tables calls for a pass, for a loop that notes what the
   * event touched and narrows its next pass to it. Without it every commit calls for a full
   * pass. A pass that no event asked for (the first of a watch, after a lost watch, at the
   * pass's deadline or retry) is preceded by `everything()`: it must look at everything.
   */
  readonly notice?: (e: ObjectEvent) => boolean;
  readonly everything?: () => void;
}

export async function runPasses(opts: RunPassesOptions): Promise<void> {
  const { signal, log, notice } = opts;
  const kind = notice === undefined ? 'commit' : (['create', 'update', 'delete'] as const);
  const calls =
    notice === undefined
      ? (e: StoreEvent) => e.kind === 'commit'
      : (e: StoreEvent) => e.kind !== 'commit' && notice(e);
  while (!signal.aborted) {
    const watch = opts.store.watch({ table: opts.tables, kind }, { signal });
    try {
      let next: Promise<IteratorResult<StoreEvent>> | null = null;
      let asked = false;
      let deadline: number | null = null;
      while (!signal.aborted) {
        if (!asked) opts.everything?.();
        let result: PassResult;
        try {
          result = await opts.pass();
        } catch (err) {
          if (signal.aborted) return;
          log.warn({ err, loop: opts.name }, 'reconcile pass failed; retrying');
          result = { wakeAt: null, retry: true };
        }
        if (signal.aborted) return;
        deadline = result.wakeAt;
        if (result.retry) deadline = earliest(deadline, opts.now() + opts.retryMs);
        // Wait until an event calls for a pass, or the deadline.
        asked = false;
        while (!asked) {
          next ??= watch.next();
          const woke = await untilEventOr(next, deadline, opts.now);
          if (woke === 'timer') break;
          next = null;
          if (woke.done === true) return;
          asked = calls(woke.value);
          // Events queued during the pass are all covered by the next one.
          while (watch.backlog > 0) {
            const queued = await watch.next();
            if (queued.done === true) return;
            asked = calls(queued.value) || asked;
          }
        }
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
