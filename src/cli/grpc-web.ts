// The CLI's side of the control API: gRPC-Web over HTTP/1.1 on the daemon's control socket
// (src/daemon/control-grpc-web.ts serves it next to the gRPC that other clients use). node:http2
// brings node:tls with it (5 to 20 ms of a call); @grpc/grpc-js and protobufjs cost more than
// half a CLI call when the CLI still loaded them. A person typing `orca service ls`, or a script
// calling it in a loop, pays the start-up every time.

import {
  decodeJsonMessage,
  encodeJsonMessage,
  FrameReader,
  frame,
  GRPC_WEB_CONTENT_TYPE,
} from '../api/grpc-frames.ts';

// Not `import ... from 'node:http'`: an ES import of a built-in reads every export, and
// node:http's lazy WebSocket export then loads undici, about 45 ms of a 100 ms call.
const { request } = process.getBuiltinModule('node:http');
const { connect } = process.getBuiltinModule('node:net');

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

/** gRPC-Web's status frame: HTTP/1 header lines, keys lower-cased. */
function parseTrailer(bytes: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of bytes.toString('utf8').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return out;
}

/**
 * One call, unary or server-streaming: resolves once the server ended it with status OK (after
 * every message went to onMessage), or when `signal` aborted; rejects with a CallError, or with
 * what onMessage threw.
 */
export function call(opts: CallOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const req = request({
      // A connection of its own, not an agent's: an agent works out a TLS server name from the
      // host, and the IPv6 pattern it checks that against costs 7 ms to compile.
      createConnection: () => connect(opts.socketPath),
      path: opts.path,
      method: 'POST',
      headers: { 'content-type': GRPC_WEB_CONTENT_TYPE, accept: GRPC_WEB_CONTENT_TYPE },
    });
    const finish = (err?: unknown) => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Closing the connection is how gRPC-Web cancels; after a status it only tidies up.
      req.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = () => finish();
    if (opts.signal?.aborted === true) {
      onAbort();
      return;
    }
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(
        () => finish(new CallError(GRPC_DEADLINE_EXCEEDED, 'deadline exceeded')),
        opts.timeoutMs,
      );
    }
    req.on('error', (err) =>
      finish(new CallError(GRPC_UNAVAILABLE, `cannot connect: ${err.message}`)),
    );
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        finish(new CallError(GRPC_INTERNAL, `the daemon answered HTTP ${res.statusCode}`));
        return;
      }
      const reader = new FrameReader();
      let status: Record<string, string> | undefined;
      // Messages go to onMessage one at a time; the status is looked at only after the last.
      let delivering: Promise<void> = Promise.resolve();
      const fail = (err: unknown) => finish(err);
      res.on('data', (chunk: Buffer) => {
        let frames: ReturnType<FrameReader['push']>;
        try {
          frames = reader.push(chunk);
        } catch (err) {
          fail(new CallError(GRPC_INTERNAL, `bad response: ${(err as Error).message}`));
          return;
        }
        for (const f of frames) {
          if (f.trailer) {
            status = parseTrailer(f.bytes);
            continue;
          }
          delivering = delivering.then(async () => {
            if (settled) return;
            const pending = opts.onMessage(decodeJsonMessage(f.bytes));
            if (pending === undefined) return;
            res.pause();
            try {
              await pending;
            } finally {
              res.resume();
            }
          });
          // A reader that fails (its error is the call's) ends the call.
          delivering.catch(fail);
        }
      });
      res.on('error', (err) => fail(new CallError(GRPC_UNAVAILABLE, err.message)));
      res.on('end', () => {
        void delivering.then(() => {
          if (settled) return;
          if (status === undefined) {
            finish(new CallError(GRPC_UNAVAILABLE, 'the daemon ended the call without a status'));
            return;
          }
          const code = Number(status['grpc-status'] ?? GRPC_INTERNAL);
          if (code === 0 && reader.empty) {
            finish();
            return;
          }
          const message = decodeURIComponent(status['grpc-message'] ?? '') || 'call failed';
          finish(new CallError(code === 0 ? GRPC_INTERNAL : code, message, status));
        }, fail);
      });
    });
    req.end(frame(encodeJsonMessage(opts.json)));
  });
}
