// Where the lines of every node of one ServiceLogs call meet: parts are pushed as the workers'
// batches arrive and read as one stream. Parts queued while the reader is busy (a slow client)
// are merged into one message, so a backlog costs fewer, larger messages rather than many.

import type { LogSource, ServiceLogsMessage } from '../../api/control-wire.ts';
import type { TaskLogLine } from '../../api/objects.ts';

/** Well under the control client's 4 MiB default receive limit. */
const MAX_MESSAGE_TEXT_BYTES = 1024 * 1024;
const MAX_MESSAGE_LINES = 2000;

export class LogOutbox implements AsyncIterable<ServiceLogsMessage> {
  #parts: ServiceLogsMessage[] = [];
  #wake: (() => void) | null = null;
  #closed = false;
  #failure: { error: unknown } | null = null;

  push(part: ServiceLogsMessage): void {
    if (this.#closed) return;
    this.#parts.push(part);
    this.#notify();
  }

  /** No more parts: the reader gets what is queued, then the end. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  /** Ends the stream with `error` once the queued parts are read. */
  fail(error: unknown): void {
    if (this.#closed) return;
    this.#failure = { error };
    this.close();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ServiceLogsMessage> {
    for (;;) {
      if (this.#parts.length > 0) {
        yield this.#take();
        continue;
      }
      if (this.#failure !== null) throw this.#failure.error;
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** The queued parts, merged in order, up to one message's worth. */
  #take(): ServiceLogsMessage {
    const sources: LogSource[] = [];
    const lines: TaskLogLine[] = [];
    const errors: string[] = [];
    let bytes = 0;
    let taken = 0;
    for (const part of this.#parts) {
      const size = part.lines.reduce((n, l) => n + l.text.length, 0);
      const full = lines.length + part.lines.length > MAX_MESSAGE_LINES;
      if (taken > 0 && (full || bytes + size > MAX_MESSAGE_TEXT_BYTES)) break;
      sources.push(...(part.sources ?? []));
      lines.push(...part.lines);
      errors.push(...(part.errors ?? []));
      bytes += size;
      taken++;
    }
    this.#parts = this.#parts.slice(taken);
    return {
      ...(sources.length > 0 ? { sources } : {}),
      lines,
      ...(errors.length > 0 ? { errors } : {}),
    };
  }
}
