// The CLI's side of the control API's gRPC, on node:http2 alone. Every control message is
// `Json { string json = 1; }` (protos/control.proto), so the whole of protobuf the CLI needs is
// one length-delimited field, and gRPC's framing is five bytes: loading @grpc/grpc-js and
// parsing the .proto with protobufjs cost more than half of a CLI command's run time, which a
// person typing `orca service ls` (or a script calling it in a loop) pays every time.
// The daemon serves with @grpc/grpc-js; this speaks the same wire.

import http2 from 'node:http2';
import { connect } from 'node:net';

/** What ended a call that did not succeed. */
export class CallError extends Error {
  /** gRPC status code (14 UNAVAILABLE when no connection, 4 DEADLINE_EXCEEDED at the deadline). */
  readonly grpcCode: number;
  /** Response metadata (headers and trailers), lower-case keys. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(grpcCode: number, message: string, metadata: Readonly<Record<string, string>> = {}) {
    super(message);
    this.grpcCode = grpcCode;
    this.metadata = metadata;
  }
}

export const GRPC_UNAVAILABLE = 14;
export const GRPC_DEADLINE_EXCEEDED = 4;
const GRPC_INTERNAL = 13;

/** `Json { string json = 1; }` as protobuf bytes ("" is the empty message, as proto3 writes it). */
export function encodeJsonMessage(json: string): Buffer {
  if (json === '') return Buffer.alloc(0);
  const body = Buffer.from(json, 'utf8');
  return Buffer.concat([Buffer.from([0x0a]), varint(body.length), body]);
}

/** The `json` field of a Json message; fields it does not know are skipped, as protobuf does. */
export function decodeJsonMessage(bytes: Buffer): string {
  let json = '';
  let at = 0;
  const readVarint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const b = bytes[at++];
      if (b === undefined) throw new Error('truncated varint');
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = readVarint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        readVarint();
        break;
      case 1:
        at += 8;
        break;
      case 2: {
        const length = readVarint();
        if (at + length > bytes.length) throw new Error('truncated field');
        if (field === 1) json = bytes.toString('utf8', at, at + length);
        at += length;
        break;
      }
      case 5:
        at += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
  }
  return json;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Buffer.from(out);
}

/** gRPC's length-prefixed message: a compression flag (0), a 4-byte big-endian length, the bytes. */
function frame(message: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(message.length, 1);
  return Buffer.concat([head, message]);
}

/** Splits the response body into messages as chunks arrive. */
class FrameReader {
  #buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Buffer[] {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const messages: Buffer[] = [];
    while (this.#buffered.length >= 5) {
      if (this.#buffered[0] !== 0) throw new Error('compressed messages are not supported');
      const length = this.#buffered.readUInt32BE(1);
      if (this.#buffered.length < 5 + length) break;
      messages.push(this.#buffered.subarray(5, 5 + length));
      this.#buffered = this.#buffered.subarray(5 + length);
    }
    return messages;
  }

  get empty(): boolean {
    return this.#buffered.length === 0;
  }
}

export interface CallOptions {
  /** Unix socket of the server. */
  readonly socketPath: string;
  /** `/package.Service/Method`. */
  readonly path: string;
  /** The request's `json`. */
  readonly json: string;
  /** Each response message's `json`, in order; the stream is paused while a promise is pending. */
  readonly onMessage: (json: string) => void | Promise<void>;
  readonly timeoutMs?: number;
  /** Aborting cancels the call (the server sees it) and resolves it. */
  readonly signal?: AbortSignal;
}

/**
 * One call, unary or server-streaming: resolves once the server ended it with status OK (after
 * every message went to onMessage), or when `signal` aborted; rejects with a CallError, or with
 * what onMessage threw.
 */
export function call(opts: CallOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const session = http2.connect('http://localhost', {
      createConnection: () => connect(opts.socketPath),
    });
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      session.close();
      if (err === undefined) resolve();
      else reject(err);
    };
    session.on('error', (err) =>
      finish(new CallError(GRPC_UNAVAILABLE, `cannot connect: ${err.message}`)),
    );
    const stream = session.request({
      ':method': 'POST',
      ':path': opts.path,
      'content-type': 'application/grpc',
      te: 'trailers',
      ...(opts.timeoutMs === undefined ? {} : { 'grpc-timeout': `${opts.timeoutMs}m` }),
    });
    const onAbort = () => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish();
    };
    if (opts.signal?.aborted === true) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(new CallError(GRPC_DEADLINE_EXCEEDED, 'deadline exceeded'));
      }, opts.timeoutMs);
    }

    const metadata: Record<string, string> = {};
    const keep = (headers: http2.IncomingHttpHeaders) => {
      for (const [k, v] of Object.entries(headers)) {
        if (!k.startsWith(':') && v !== undefined) metadata[k] = Array.isArray(v) ? v.join(',') : v;
      }
    };
    const reader = new FrameReader();
    // Messages go to onMessage one at a time; the status is looked at only after the last.
    let delivering: Promise<void> = Promise.resolve();
    let failed = false;
    stream.on('response', keep);
    stream.on('trailers', keep);
    stream.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = reader.push(chunk);
      } catch (err) {
        failed = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
        finish(new CallError(GRPC_INTERNAL, `bad response: ${(err as Error).message}`));
        return;
      }
      for (const message of messages) {
        delivering = delivering.then(async () => {
          if (settled || failed) return;
          const pending = opts.onMessage(decodeJsonMessage(message));
          if (pending === undefined) return;
          stream.pause();
          try {
            await pending;
          } finally {
            stream.resume();
          }
        });
        // A reader that fails (its error is the call's) stops the stream.
        delivering.catch((err: unknown) => {
          failed = true;
          stream.close(http2.constants.NGHTTP2_CANCEL);
          finish(err);
        });
      }
    });
    stream.on('error', (err) => finish(new CallError(GRPC_UNAVAILABLE, err.message)));
    stream.on('close', () => {
      void delivering.then(() => {
        if (settled || failed) return;
        const code = Number(metadata['grpc-status'] ?? GRPC_INTERNAL);
        if (code === 0 && reader.empty) {
          finish();
          return;
        }
        const message = decodeURIComponent(metadata['grpc-message'] ?? '') || 'call failed';
        finish(new CallError(code === 0 ? GRPC_INTERNAL : code, message, metadata));
      });
    });
    stream.end(frame(encodeJsonMessage(opts.json)));
  });
}
