import { once } from 'node:events';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  addControlService,
  type ControlHandlers,
  type ControlMethod,
  type ControlMethods,
  type ControlStreamMethod,
  type ControlStreams,
  controlMethods,
  controlStreamMethods,
  type JsonMessage,
} from '../api/control-wire.ts';
import { errorStatus } from '../api/grpc-errors.ts';
import { OrcaError } from '../errors.ts';
import type { Logger } from './logger.ts';

export type ControlImpl = {
  [M in ControlMethod]: (req: ControlMethods[M]['req']) => Promise<ControlMethods[M]['res']>;
};

/**
 * The streaming methods: each message the iterable yields is sent as it comes. `signal` aborts
 * when the client goes away or the daemon stops; the iterable must then end promptly and stop
 * whatever work feeds it.
 */
export type ControlStreamImpl = {
  [M in ControlStreamMethod]: (
    req: ControlStreams[M]['req'],
    signal: AbortSignal,
  ) => AsyncIterable<ControlStreams[M]['msg']>;
};

/** The control API on a unix socket: gRPC with JSON bodies (see protos/control.proto). */
export class ControlServer {
  readonly socketPath: string;
  private readonly server: grpc.Server;
  private readonly log: Logger;
  /** Aborted by stop(): a follow stream would otherwise hold the shutdown until it times out. */
  private readonly stopping: AbortController;

  private constructor(
    socketPath: string,
    server: grpc.Server,
    log: Logger,
    stopping: AbortController,
  ) {
    this.socketPath = socketPath;
    this.server = server;
    this.log = log;
    this.stopping = stopping;
  }

  static async start(
    socketPath: string,
    impl: ControlImpl & ControlStreamImpl,
    log: Logger,
  ): Promise<ControlServer> {
    await prepareSocketPath(socketPath);
    const server = new grpc.Server();
    const stopping = new AbortController();
    const handlers = {} as ControlHandlers;
    for (const method of controlMethods) handlers[method] = handler(method, impl, log);
    for (const method of controlStreamMethods) {
      handlers[method] = streamHandler(method, impl, log, stopping.signal);
    }
    addControlService(server, handlers);
    // The socket is born with the mode the umask gives; 0660 lets the socket's group (as
    // Docker's `docker` group) use orca without root, and nobody else.
    const umask = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
          err === null ? resolve() : reject(err),
        );
      });
    } catch (err) {
      throw new OrcaError(
        'ORCA_LISTEN',
        `--socket ${socketPath}: cannot listen: ${(err as Error).message}`,
        { cause: err },
      );
    } finally {
      process.umask(umask);
    }
    return new ControlServer(socketPath, server, log, stopping);
  }

  /**
   * Ends the streams (their clients are told the daemon is stopping), lets unary calls in
   * flight finish (up to a few seconds), then removes the socket.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 3000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    await unlink(this.socketPath).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') this.log.warn({ err }, 'could not remove the control socket');
    });
  }
}

/**
 * Makes the socket's parent dir, and clears the way: a socket file nobody answers on is what a
 * killed daemon leaves behind and is replaced; one a live daemon answers on is refused, as is a
 * path that is not a socket at all.
 */
async function prepareSocketPath(socketPath: string): Promise<void> {
  await mkdir(path.dirname(socketPath), { recursive: true });
  let isSocket: boolean;
  try {
    isSocket = (await lstat(socketPath)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) {
    throw new OrcaError(
      'ORCA_LISTEN',
      `--socket ${socketPath}: the path exists and is not a socket; remove it or choose another --socket`,
    );
  }
  const live = await new Promise<boolean>((resolve) => {
    const s = connect(socketPath);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) {
    throw new OrcaError(
      'ORCA_LISTEN',
      `--socket ${socketPath}: another orca daemon is listening there; stop it, or give this one its own --socket (and --data-dir, --listen-addr)`,
    );
  }
  await unlink(socketPath);
}

/** A request body: a JSON object ("" reads as {}), or the error that refuses it. */
function parseBody(method: string, json: string): object | OrcaError {
  try {
    const parsed: unknown = json === '' ? {} : JSON.parse(json);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed;
  } catch {
    // refused below
  }
  return new OrcaError('ORCA_BAD_REQUEST', `${method}: the body is not a JSON object`);
}

function logFailure(log: Logger, method: string, err: unknown): void {
  if (!(err instanceof OrcaError)) log.error({ err, method }, 'control request failed');
  else log.debug({ code: err.code, method, msg: err.message }, 'control request refused');
}

function handler<M extends ControlMethod>(
  method: M,
  impl: ControlImpl,
  log: Logger,
): grpc.handleUnaryCall<JsonMessage, JsonMessage> {
  return (call, callback) => {
    const req = parseBody(method, call.request.json);
    if (req instanceof OrcaError) {
      callback(errorStatus(req));
      return;
    }
    const serve = impl[method] as (
      r: ControlMethods[M]['req'],
    ) => Promise<ControlMethods[M]['res']>;
    serve(req as ControlMethods[M]['req']).then(
      (res) => callback(null, { json: JSON.stringify(res) }),
      (err: unknown) => {
        logFailure(log, method, err);
        callback(errorStatus(err));
      },
    );
  };
}

/**
 * A server-streaming method: the impl's messages written as they come, waiting for the client
 * to take them when it reads slower than they arrive. A client that cancels (Ctrl-C on `service
 * logs -f`) aborts the impl's signal, which is how the work stops, down to the worker.
 */
function streamHandler<M extends ControlStreamMethod>(
  method: M,
  impl: ControlStreamImpl,
  log: Logger,
  stopping: AbortSignal,
): grpc.handleServerStreamingCall<JsonMessage, JsonMessage> {
  return (call) => {
    // The stream reports its failures as its status; an 'error' event is how it is given one.
    call.on('error', () => {});
    const req = parseBody(method, call.request.json);
    if (req instanceof OrcaError) {
      call.emit('error', errorStatus(req));
      return;
    }
    const gone = new AbortController();
    const abort = () => gone.abort();
    call.once('cancelled', abort);
    stopping.addEventListener('abort', abort, { once: true });
    const serve = impl[method] as (
      r: ControlStreams[M]['req'],
      signal: AbortSignal,
    ) => AsyncIterable<ControlStreams[M]['msg']>;
    const pump = async () => {
      for await (const msg of serve(req as ControlStreams[M]['req'], gone.signal)) {
        if (gone.signal.aborted) break;
        if (!call.write({ json: JSON.stringify(msg) })) {
          await once(call, 'drain', { signal: gone.signal }).catch(() => {});
        }
      }
    };
    pump()
      .then(
        () => {
          if (call.cancelled) return;
          if (stopping.aborted) {
            call.emit(
              'error',
              errorStatus(new OrcaError('ORCA_STOPPED', 'the daemon is stopping')),
            );
          } else {
            call.end();
          }
        },
        (err: unknown) => {
          if (call.cancelled) return;
          logFailure(log, method, err);
          call.emit('error', errorStatus(err));
        },
      )
      .finally(() => {
        call.off('cancelled', abort);
        stopping.removeEventListener('abort', abort);
      });
  };
}
