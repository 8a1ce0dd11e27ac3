// The control API as gRPC-Web (HTTP/1.1) on the same socket as its gRPC: the CLI's transport.
// A CLI call that loads node:http2 pays for node:tls with it (5 to 20 ms of a 120 to 150 ms
// call, measured by hand); node:http is lighter. The calls, bodies and statuses are the same,
// only the framing around them differs (github.com/grpc/grpc/blob/master/doc/PROTOCOL-WEB.md): the request body
// is one gRPC frame, the response body the message frames and then the status as a last frame
// with the high bit of its flag set, holding `grpc-status`, `grpc-message` and `orca-code` as
// HTTP/1 header lines. Closing the connection cancels the call.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import {
  decodeJsonMessage,
  encodeJsonMessage,
  FrameReader,
  frame,
  GRPC_WEB_CONTENT_TYPE,
  TRAILER_FLAG,
} from '../api/grpc-frames.ts';

/** A call's end, as gRPC states it. */
export interface CallStatus {
  readonly code: number;
  readonly details: string;
  /** Lower-case keys. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The control service's methods as the transports share them (control-server.ts). */
export interface ControlCalls {
  /** The method's kind, or undefined for a path that names none. */
  kind(path: string): 'unary' | 'stream' | undefined;
  /** One answer's JSON, or the status that refuses the call. */
  unary(path: string, json: string): Promise<string | CallStatus>;
  /** Each message's JSON through `write` (awaited), then the status the call ends with. */
  stream(
    path: string,
    json: string,
    signal: AbortSignal,
    write: (json: string) => Promise<void>,
  ): Promise<CallStatus>;
}

const OK: CallStatus = { code: 0, details: '', metadata: {} };
const UNIMPLEMENTED = 12;
const INVALID_ARGUMENT = 3;

/** The HTTP/1.1 request handler: each request one call. */
export function grpcWebHandler(
  calls: ControlCalls,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void serve(calls, req, res).catch(() => res.destroy());
  };
}

async function serve(
  calls: ControlCalls,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const path = req.url ?? '';
  const kind = calls.kind(path);
  const type = req.headers['content-type'] ?? '';
  if (req.method !== 'POST' || !type.startsWith('application/grpc-web')) {
    res
      .writeHead(415, { 'content-type': 'text/plain' })
      .end('the control socket speaks gRPC and gRPC-Web\n');
    return;
  }
  const body = await readBody(req);
  res.writeHead(200, { 'content-type': GRPC_WEB_CONTENT_TYPE });
  if (kind === undefined) {
    res.end(trailerFrame({ code: UNIMPLEMENTED, details: `no method ${path}`, metadata: {} }));
    return;
  }
  const frames = new FrameReader().push(body);
  if (frames.length !== 1 || frames[0]!.trailer) {
    const details = `expected one request message, got ${frames.length} frames`;
    res.end(trailerFrame({ code: INVALID_ARGUMENT, details, metadata: {} }));
    return;
  }
  const json = decodeJsonMessage(frames[0]!.bytes);
  if (kind === 'unary') {
    const answer = await calls.unary(path, json);
    if (typeof answer === 'string') {
      res.write(frame(encodeJsonMessage(answer)));
      res.end(trailerFrame(OK));
    } else {
      res.end(trailerFrame(answer));
    }
    return;
  }
  const gone = new AbortController();
  const abort = () => gone.abort();
  // The client closing its connection is how a gRPC-Web call is cancelled.
  res.once('close', abort);
  const status = await calls.stream(path, json, gone.signal, async (message) => {
    if (!res.write(frame(encodeJsonMessage(message)))) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          gone.signal.removeEventListener('abort', done);
          resolve();
        };
        res.on('drain', done);
        gone.signal.addEventListener('abort', done, { once: true });
      });
    }
  });
  res.off('close', abort);
  if (!gone.signal.aborted) res.end(trailerFrame(status));
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** The status as gRPC-Web's trailer frame: flag 0x80, then HTTP/1 header lines. */
export function trailerFrame(status: CallStatus): Buffer {
  let block = `grpc-status: ${status.code}\r\n`;
  if (status.details !== '') block += `grpc-message: ${encodeURIComponent(status.details)}\r\n`;
  for (const [key, value] of Object.entries(status.metadata)) block += `${key}: ${value}\r\n`;
  const out = frame(Buffer.from(block, 'utf8'));
  out[0] = TRAILER_FLAG;
  return out;
}

/**
 * Whether a connection's first bytes are HTTP/2's preface ("PRI * HTTP/2.0"): gRPC goes to the
 * gRPC server, anything else (an HTTP/1.1 request line) to gRPC-Web. Three bytes decide.
 */
export function routeByPreface(
  socket: Socket,
  http2: (socket: Socket) => void,
  http1: (socket: Socket) => void,
): void {
  let head = Buffer.alloc(0);
  // Until a server has the socket, nothing else listens for its errors: a client that resets
  // the connection first would otherwise throw in the daemon.
  const onError = () => socket.destroy();
  const onData = (chunk: Buffer) => {
    head = Buffer.concat([head, chunk]);
    if (head.length < 3) return;
    socket.off('data', onData);
    socket.off('error', onError);
    socket.pause();
    socket.unshift(head);
    if (head.subarray(0, 3).toString('latin1') === 'PRI') {
      http2(socket);
    } else {
      http1(socket);
      // The HTTP/1 parser reads the socket's handle itself once it has it; paused, it never would.
      socket.resume();
    }
  };
  socket.on('error', onError);
  socket.on('data', onData);
}
