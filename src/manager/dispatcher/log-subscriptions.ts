// Log subscriptions riding one worker session: the manager asks the worker for the logs of some
// of its tasks, the worker sends lines up under the subscription's id. The session only routes:
// what to read and where the lines go is the log broker's business (src/manager/logbroker).

import { randomBytes } from 'node:crypto';
import type {
  DispatcherMessage,
  WireLogOptions,
  WorkerMessage,
} from '../../api/dispatcher-wire.ts';
import type { TaskLogLine } from '../../api/objects.ts';

/** Where a subscription's lines go. Nothing is called after `done`, or after a cancel. */
export interface LogSink {
  lines(lines: readonly TaskLogLine[]): void;
  /** The worker has sent everything, or cannot: `error` says why. */
  done(error: string | null): void;
}

export interface LogRequest {
  readonly taskIds: readonly string[];
  readonly options: WireLogOptions;
}

/** Cancels a subscription: the worker is told to stop, and its sink hears nothing more. */
export type CancelLogs = () => void;

interface Subscription {
  readonly sink: LogSink;
  readonly taskIds: ReadonlySet<string>;
}

export class SessionLogSubscriptions {
  readonly #send: (msg: DispatcherMessage) => void;
  readonly #open = new Map<string, Subscription>();
  #ended: string | null = null;

  /** `send` writes to the worker on this session. */
  constructor(send: (msg: DispatcherMessage) => void) {
    this.#send = send;
  }

  open(request: LogRequest, sink: LogSink): CancelLogs {
    const subscriptionId = randomBytes(8).toString('hex');
    if (this.#ended !== null) {
      const reason = this.#ended;
      queueMicrotask(() => sink.done(reason));
      return () => {};
    }
    this.#open.set(subscriptionId, { sink, taskIds: new Set(request.taskIds) });
    this.#send({
      type: 'logs',
      subscriptionId,
      taskIds: request.taskIds,
      options: request.options,
    });
    return () => {
      if (!this.#open.delete(subscriptionId) || this.#ended !== null) return;
      this.#send({ type: 'logs-cancel', subscriptionId });
    };
  }

  /** Takes the worker's log messages; false for any other message. */
  receive(msg: WorkerMessage): boolean {
    if (msg.type === 'log-lines') {
      const sub = this.#open.get(msg.subscriptionId);
      const lines = sub === undefined ? [] : parseLogLines(msg.lines, sub.taskIds);
      if (sub !== undefined && lines.length > 0) sub.sink.lines(lines);
      return true;
    }
    if (msg.type === 'logs-done') {
      const sub = this.#open.get(msg.subscriptionId);
      this.#open.delete(msg.subscriptionId);
      const error = typeof msg.error === 'string' && msg.error !== '' ? msg.error : null;
      sub?.sink.done(error);
      return true;
    }
    return false;
  }

  /** The session ended: every open subscription is done, with `reason` as its error. */
  end(reason: string): void {
    if (this.#ended !== null) return;
    this.#ended = reason;
    const open = [...this.#open.values()];
    this.#open.clear();
    for (const sub of open) sub.sink.done(reason);
  }
}

/**
 * The well-formed lines of a worker's batch. A node may send lines only for the tasks it was
 * asked about: anything else is dropped, as a status report for another node's task is.
 */
export function parseLogLines(value: unknown, taskIds: ReadonlySet<string>): TaskLogLine[] {
  if (!Array.isArray(value)) return [];
  const out: TaskLogLine[] = [];
  for (const raw of value as unknown[]) {
    if (typeof raw !== 'object' || raw === null) continue;
    const { taskId, stream, text, timestamp } = raw as Partial<Record<keyof TaskLogLine, unknown>>;
    if (typeof taskId !== 'string' || !taskIds.has(taskId)) continue;
    if (stream !== 'stdout' && stream !== 'stderr') continue;
    if (typeof text !== 'string') continue;
    if (timestamp !== null && typeof timestamp !== 'string') continue;
    out.push({ taskId, stream, text, timestamp });
  }
  return out;
}
