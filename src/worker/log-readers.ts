// The worker's end of `service logs`: the manager names tasks in a `logs` message, and this
// reads their containers' logs from the runtime and sends the lines up the dispatcher session
// in batches, until every log has ended (not following), the manager cancels, or the session
// drops. Containers are found by their `orca.task.id` label, not by the manager's idea of the
// container id, so a container adopted after a restart is found all the same.

import type { Readable } from 'node:stream';
import type { WireLogOptions, WorkerMessage } from '../api/dispatcher-wire.ts';
import { containerLabels, type TaskLogLine } from '../api/objects.ts';
import { RuntimeError } from '../errors.ts';
import type { LogLine, LogOptions, Runtime } from './runtime.ts';

/** The session a subscription answers on. */
export interface LogUplink {
  /** Resolves once the session can take more; rejects once the session has ended. */
  send(msg: WorkerMessage): Promise<void>;
}

export interface LogSubscriptionRequest {
  readonly subscriptionId: string;
  readonly taskIds: readonly string[];
  readonly options: WireLogOptions;
}

export interface LogReadersOptions {
  readonly runtime: Runtime;
  readonly nodeId: string;
  /** A batch goes up at most this long after its first line (default 25 ms). */
  readonly batchMs?: number;
}

/** Lines and text per message: small enough to interleave with status reports. */
const MAX_BATCH_LINES = 500;
const MAX_BATCH_TEXT_BYTES = 256 * 1024;

/** A `logs` message from the wire, or null where it is malformed. */
export function parseLogSubscription(value: {
  subscriptionId?: unknown;
  taskIds?: unknown;
  options?: unknown;
}): LogSubscriptionRequest | null {
  const { subscriptionId, taskIds, options } = value;
  if (typeof subscriptionId !== 'string' || subscriptionId === '') return null;
  if (!Array.isArray(taskIds) || taskIds.some((t) => typeof t !== 'string')) return null;
  if (typeof options !== 'object' || options === null) return null;
  const o = options as Partial<Record<keyof WireLogOptions, unknown>>;
  const tail = typeof o.tail === 'number' && Number.isSafeInteger(o.tail) && o.tail >= 0;
  const since = typeof o.since === 'string' && !Number.isNaN(Date.parse(o.since));
  return {
    subscriptionId,
    taskIds: taskIds as string[],
    options: {
      follow: o.follow === true,
      timestamps: o.timestamps === true,
      ...(tail ? { tail: o.tail as number } : {}),
      ...(since ? { since: o.since as string } : {}),
    },
  };
}

export class LogReaders {
  readonly #opts: LogReadersOptions;
  readonly #open = new Map<string, SubscriptionReader>();

  constructor(opts: LogReadersOptions) {
    this.#opts = opts;
  }

  /** Subscriptions being read now (for tests). */
  get open(): number {
    return this.#open.size;
  }

  start(request: LogSubscriptionRequest, uplink: LogUplink): void {
    // A repeated id would have two readers answer under one name: the old one goes.
    this.cancel(request.subscriptionId);
    const reader = new SubscriptionReader(this.#opts, request, uplink);
    this.#open.set(request.subscriptionId, reader);
    void reader.run().finally(() => {
      if (this.#open.get(request.subscriptionId) === reader) {
        this.#open.delete(request.subscriptionId);
      }
    });
  }

  /** Stops reading; nothing more is sent for it, not even logs-done (the manager asked). */
  cancel(subscriptionId: string): void {
    this.#open.get(subscriptionId)?.halt();
    this.#open.delete(subscriptionId);
  }

  /** The session ended: its subscriptions died with it (the manager ended its side too). */
  cancelAll(): void {
    for (const reader of this.#open.values()) reader.halt();
    this.#open.clear();
  }
}

class SubscriptionReader {
  readonly #opts: LogReadersOptions;
  readonly #request: LogSubscriptionRequest;
  readonly #uplink: LogUplink;
  readonly #halt = new AbortController();
  readonly #streams = new Set<Readable>();
  #batch: TaskLogLine[] = [];
  #batchBytes = 0;
  #timer: NodeJS.Timeout | null = null;
  /** The batches sent so far, in order: each waits for the session to take the one before. */
  #sending: Promise<void> = Promise.resolve();

  constructor(opts: LogReadersOptions, request: LogSubscriptionRequest, uplink: LogUplink) {
    this.#opts = opts;
    this.#request = request;
    this.#uplink = uplink;
  }

  get #halted(): boolean {
    return this.#halt.signal.aborted;
  }

  halt(): void {
    if (this.#halted) return;
    this.#halt.abort();
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    for (const s of this.#streams) s.destroy();
    this.#streams.clear();
  }

  async run(): Promise<void> {
    const problems: string[] = [];
    try {
      const containers = await this.#containers();
      const reads = await Promise.allSettled(containers.map((c) => this.#read(c.id, c.taskId)));
      for (const r of reads) {
        if (r.status === 'rejected') problems.push(messageOf(r.reason));
      }
    } catch (err) {
      problems.push(messageOf(err));
    }
    await this.#flush();
    if (this.#halted) return;
    const error = problems.join('; ');
    await this.#uplink
      .send({
        type: 'logs-done',
        subscriptionId: this.#request.subscriptionId,
        ...(error === '' ? {} : { error }),
      })
      .catch(() => {});
    this.halt();
  }

  /** Every container of the asked tasks on this node (a task has one, unless duplicated). */
  async #containers(): Promise<{ id: string; taskId: string }[]> {
    const wanted = new Set(this.#request.taskIds);
    const all = await this.#opts.runtime.list({ [containerLabels.node]: this.#opts.nodeId });
    return all.flatMap((c) => {
      const taskId = c.labels[containerLabels.task] ?? '';
      return wanted.has(taskId) ? [{ id: c.id, taskId }] : [];
    });
  }

  async #read(containerId: string, taskId: string): Promise<void> {
    if (this.#halted) return;
    const o = this.#request.options;
    const options: LogOptions = {
      follow: o.follow,
      timestamps: o.timestamps,
      ...(o.tail === undefined ? {} : { tail: o.tail }),
      ...(o.since === undefined ? {} : { since: new Date(o.since) }),
    };
    let stream: Readable;
    try {
      stream = await this.#opts.runtime.logs(containerId, options);
    } catch (err) {
      // Removed between the list and the read: it has no logs left to show.
      if (err instanceof RuntimeError && err.status === 404) return;
      throw err;
    }
    if (this.#halted) {
      stream.destroy();
      return;
    }
    this.#streams.add(stream);
    try {
      for await (const line of stream as AsyncIterable<LogLine>) {
        await this.#add({
          taskId,
          stream: line.stream,
          text: line.text,
          timestamp: line.timestamp,
        });
        if (this.#halted) return;
      }
    } catch (err) {
      // A halt destroys the stream under the loop: that is the end asked for, not a failure.
      if (!this.#halted) throw err;
    } finally {
      this.#streams.delete(stream);
      stream.destroy();
    }
  }

  /** Queues a line; waits when a full batch is still on its way (the session is the limit). */
  async #add(line: TaskLogLine): Promise<void> {
    this.#batch.push(line);
    this.#batchBytes += line.text.length;
    if (this.#batch.length >= MAX_BATCH_LINES || this.#batchBytes >= MAX_BATCH_TEXT_BYTES) {
      await this.#flush();
    } else if (this.#timer === null) {
      this.#timer = setTimeout(() => void this.#flush(), this.#opts.batchMs ?? 25);
    }
  }

  #flush(): Promise<void> {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#batch.length > 0 && !this.#halted) {
      const lines = this.#batch;
      this.#batch = [];
      this.#batchBytes = 0;
      const msg: WorkerMessage = {
        type: 'log-lines',
        subscriptionId: this.#request.subscriptionId,
        lines,
      };
      this.#sending = this.#sending
        .then(() => (this.#halted ? undefined : this.#uplink.send(msg)))
        .catch(() => {
          // The session is gone, and the subscription with it, whatever the session does next.
          this.halt();
        });
    }
    return this.#sending;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
