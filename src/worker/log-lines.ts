// Docker's multiplexed log stream (for containers without a TTY, which orca never asks for) as
// lines. Each frame is an 8-byte header (stream byte, 3 zero bytes, big-endian length) and a
// payload; a line may span frames and a frame may hold many lines, so bytes are kept per stream
// until a newline arrives.

import { Transform, type TransformCallback } from 'node:stream';
import type { LogLine } from './runtime.ts';

const HEADER = 8;

export class LogLineSplitter extends Transform {
  readonly #timestamps: boolean;
  #pending: Buffer = Buffer.alloc(0);
  readonly #partial: { stdout: Buffer[]; stderr: Buffer[] } = { stdout: [], stderr: [] };

  /** `timestamps`: each line starts with the engine's RFC 3339 timestamp and a space. */
  constructor(timestamps: boolean) {
    super({ readableObjectMode: true });
    this.#timestamps = timestamps;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (this.#pending.length >= HEADER) {
      const kind = this.#pending[0];
      const size = this.#pending.readUInt32BE(4);
      if (this.#pending.length < HEADER + size) break;
      const payload = this.#pending.subarray(HEADER, HEADER + size);
      this.#pending = this.#pending.subarray(HEADER + size);
      // 0 is stdin, which logs never carry; anything else would be a TTY stream, not ours.
      this.#take(kind === 2 ? 'stderr' : 'stdout', payload);
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.#partial[stream];
      if (rest.length) this.#emit(stream, Buffer.concat(rest));
    }
    done();
  }

  #take(stream: 'stdout' | 'stderr', payload: Buffer): void {
    let from = 0;
    for (;;) {
      const nl = payload.indexOf(0x0a, from);
      if (nl === -1) break;
      const parts = this.#partial[stream];
      const piece = payload.subarray(from, nl);
      this.#emit(stream, parts.length ? Buffer.concat([...parts, piece]) : piece);
      parts.length = 0;
      from = nl + 1;
    }
    if (from < payload.length) this.#partial[stream].push(payload.subarray(from));
  }

  #emit(stream: 'stdout' | 'stderr', bytes: Buffer): void {
    let text = bytes.toString('utf8');
    let timestamp: string | null = null;
    if (this.#timestamps) {
      const space = text.indexOf(' ');
      timestamp = space === -1 ? text : text.slice(0, space);
      text = space === -1 ? '' : text.slice(space + 1);
    }
    const line: LogLine = { stream, text, timestamp };
    this.push(line);
  }
}
