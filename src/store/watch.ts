import { WatchLostError } from '../errors.ts';
import type { CompiledFilter, ObjectEvent, StoreEvent } from './events.ts';

/** Receives the events of each applied command, synchronously, at the end of apply. */
export interface Listener {
  readonly filter: CompiledFilter;
  deliver(events: readonly StoreEvent[]): void;
  /** The stream of events can no longer be followed (the store was restored from a snapshot). */
  lose(reason: string): void;
}

/** The events of one applied command that a filter lets through, commit last. */
export function select(
  filter: CompiledFilter,
  events: readonly ObjectEvent[],
  index: number,
): StoreEvent[] {
  const out: StoreEvent[] = [];
  let concerned = false;
  for (const e of events) {
    if (!filter.concerns(e)) continue;
    concerned = true;
    if (filter.matches(e)) out.push(e);
  }
  if (concerned && filter.commits) out.push({ kind: 'commit', index });
  return out;
}

/**
 * A watch as an async iterator over a bounded queue. Apply never waits for a consumer: when a
 * consumer falls `limit` events behind, its queue is dropped and its next read throws
 * WatchLostError, after which it re-reads the state (loops are level-triggered, so nothing is
 * lost but the detail of what changed).
 */
export class Watch implements AsyncIterableIterator<StoreEvent>, Listener {
  readonly filter: CompiledFilter;
  private readonly limit: number;
  private readonly detach: () => void;
  private queue: StoreEvent[] = [];
  private head = 0;
  private waiter: { resolve(r: IteratorResult<StoreEvent>): void; reject(e: Error): void } | null =
    null;
  private failure: Error | null = null;
  private ended = false;
  private readonly unlisten: () => void;

  constructor(filter: CompiledFilter, limit: number, detach: () => void, signal?: AbortSignal) {
    this.filter = filter;
    this.limit = limit;
    this.detach = detach;
    const onAbort = () => this.end();
    signal?.addEventListener('abort', onAbort, { once: true });
    this.unlisten = () => signal?.removeEventListener('abort', onAbort);
    if (signal?.aborted === true) this.end();
  }

  /** Events queued and not yet read. */
  get backlog(): number {
    return this.queue.length - this.head;
  }

  deliver(events: readonly StoreEvent[]): void {
    let i = 0;
    if (this.waiter !== null && events.length > 0) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: events[i++]!, done: false });
    }
    if (events.length - i > this.limit - this.backlog) {
      this.lose(`the consumer fell more than ${this.limit} events behind`);
      return;
    }
    for (; i < events.length; i++) this.queue.push(events[i]!);
  }

  lose(reason: string): void {
    if (this.ended) return;
    this.failure = new WatchLostError(reason);
    this.queue = [];
    this.head = 0;
    this.finish();
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      this.failure = null;
      w.reject(new WatchLostError(reason));
    }
  }

  next(): Promise<IteratorResult<StoreEvent>> {
    if (this.failure !== null) {
      const err = this.failure;
      this.failure = null;
      return Promise.reject(err);
    }
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++]!;
      // Reclaim the consumed prefix now and then rather than shifting on every read.
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** Stops the watch (a `break` out of `for await` calls this). */
  return(): Promise<IteratorResult<StoreEvent>> {
    this.end();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Stops the watch; a pending read ends, queued events are dropped. */
  end(): void {
    if (this.ended) return;
    this.queue = [];
    this.head = 0;
    this.finish();
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    this.ended = true;
    this.detach();
    this.unlisten();
  }
}
