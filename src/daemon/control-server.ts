import { once } from 'node:events';
import { lstat, mkdir, unlink } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  addControlService,
  CONTROL_SERVICE_PATH,
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
import {
  type CallStatus,
  type ControlCalls,
  grpcWebHandler,
  routeByPreface,
} from './control-grpc-web.ts';
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

/**
 * The control API on a unix socket: gRPC with JSON bodies (see protos/control.proto), and the
 * same calls as gRPC-Web over HTTP/1.1 (the CLI's transport), told apart by each connection's
 * first bytes.
 */
export class ControlServer {
  readonly socketPath: string;
  private readonly listener: Server;
  private readonly grpcServer: grpc.Server;
  private readonly log: Logger;
  /** Aborted by stop(): a follow stream would otherwise hold the shutdown until it times out. */
  private readonly stopping: AbortController;
  private readonly web: HttpServer;
  private readonly connections: Set<Socket>;

  private constructor(
    socketPath: string,
    parts: {
      listener: Server;
      grpcServer: grpc.Server;
      log: Logger;
      stopping: AbortController;
      web: HttpServer;
      connections: Set<Socket>;
    },
  ) {
    this.socketPath = socketPath;
    this.listener = parts.listener;
    this.grpcServer = parts.grpcServer;
    this.log = parts.log;
    this.stopping = parts.stopping;
    this.web = parts.web;
    this.connections = parts.connections;
  }

  static async start(
    socketPath: string,
    impl: ControlImpl & ControlStreamImpl,
    log: Logger,
  ): Promise<ControlServer> {
    await prepareSocketPath(socketPath);
    const stopping = new AbortController();
    const calls = controlCalls(impl, log, stopping.signal);
    const grpcServer = new grpc.Server();
    const handlers = {} as ControlHandlers;
    for (const method of controlMethods) handlers[method] = unaryHandler(method, calls);
    for (const method of controlStreamMethods) handlers[method] = streamHandler(method, calls);
    addControlService(grpcServer, handlers);
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const web = createHttpServer(grpcWebHandler(calls));
    // Every connection, whichever server has it (or none yet): what stop() cuts at its deadline.
    const connections = new Set<Socket>();
    const listener = createServer((socket) => {
      connections.add(socket);
      socket.once('close', () => connections.delete(socket));
      routeByPreface(
        socket,
        (s) => injector.injectConnection(s),
        (s) => web.emit('connection', s),
      );
    });
    // The socket is born with the mode the umask gives; 0660 lets the socket's group (as
    // Docker's `docker` group) use orca without root, and nobody else.
    const umask = process.umask(0o117);
    try {
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen(socketPath, () => {
          listener.off('error', reject);
          resolve();
        });
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
    return new ControlServer(socketPath, { listener, grpcServer, log, stopping, web, connections });
  }

  /**
   * Ends the streams (their clients are told the daemon is stopping), lets unary calls in
   * flight finish (up to a few seconds), then removes the socket.
   */
  async stop(): Promise<void> {
    this.stopping.abort();
    // Settles once every connection of either kind has closed: gRPC sessions once their calls
    // are done, gRPC-Web connections after their one response (the CLI does not keep them).
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    this.grpcServer.tryShutdown(() => {});
    this.web.closeIdleConnections();
    const force = setTimeout(() => {
      this.grpcServer.forceShutdown();
      for (const s of this.connections) s.destroy();
    }, 3000);
    await closed;
    clearTimeout(force);
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

/** The status a call ends with for `err`, as both transports write it. */
function statusOf(err: unknown): CallStatus {
  const s = errorStatus(err);
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(s.metadata?.getMap() ?? {})) {
    metadata[key] = String(value);
  }
  return { code: s.code ?? grpc.status.UNKNOWN, details: s.details ?? '', metadata };
}

const OK: CallStatus = { code: grpc.status.OK, details: '', metadata: {} };

/** The control methods, whichever transport a call came on. */
function controlCalls(
  impl: ControlImpl & ControlStreamImpl,
  log: Logger,
  stopping: AbortSignal,
): ControlCalls {
  const unary = new Set<string>(controlMethods);
  const streams = new Set<string>(controlStreamMethods);
  const methodOf = (p: string) =>
    p.startsWith(CONTROL_SERVICE_PATH) ? p.slice(CONTROL_SERVICE_PATH.length) : '';
  return {
    kind(p) {
      const method = methodOf(p);
      return unary.has(method) ? 'unary' : streams.has(method) ? 'stream' : undefined;
    },

    async unary(p, json) {
      const method = methodOf(p) as ControlMethod;
      const req = parseBody(method, json);
      if (req instanceof OrcaError) return statusOf(req);
      const serve = impl[method] as (r: object) => Promise<unknown>;
      try {
        return JSON.stringify(await serve(req));
      } catch (err) {
        logFailure(log, method, err);
        return statusOf(err);
      }
    },

    /**
     * The impl's messages written as they come, waiting for the client to take them when it
     * reads slower than they arrive. A client that cancels (Ctrl-C on `service logs -f`)
     * aborts the impl's signal, which is how the work stops, down to the worker.
     */
    async stream(p, json, signal, write) {
      const method = methodOf(p) as ControlStreamMethod;
      const req = parseBody(method, json);
      if (req instanceof OrcaError) return statusOf(req);
      const gone = AbortSignal.any([signal, stopping]);
      const serve = impl[method] as (r: object, s: AbortSignal) => AsyncIterable<unknown>;
      try {
        for await (const msg of serve(req, gone)) {
          if (gone.aborted) break;
          await write(JSON.stringify(msg));
        }
      } catch (err) {
        // A client that went away is no failure of the daemon's.
        if (!signal.aborted) logFailure(log, method, err);
        return statusOf(err);
      }
      if (stopping.aborted)
        return statusOf(new OrcaError('ORCA_STOPPED', 'the daemon is stopping'));
      return OK;
    },
  };
}

function grpcStatus(status: CallStatus): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(status.metadata)) metadata.set(key, value);
  return { code: status.code, details: status.details, metadata };
}

function unaryHandler(
  method: ControlMethod,
  calls: ControlCalls,
): grpc.handleUnaryCall<JsonMessage, JsonMessage> {
  const p = `${CONTROL_SERVICE_PATH}${method}`;
  return (call, callback) => {
    void calls.unary(p, call.request.json).then((answer) => {
      if (typeof answer === 'string') callback(null, { json: answer });
      else callback(grpcStatus(answer));
    });
  };
}

function streamHandler(
  method: ControlStreamMethod,
  calls: ControlCalls,
): grpc.handleServerStreamingCall<JsonMessage, JsonMessage> {
  const p = `${CONTROL_SERVICE_PATH}${method}`;
  return (call) => {
    // The stream reports its failures as its status; an 'error' event is how it is given one.
    call.on('error', () => {});
    const gone = new AbortController();
    const abort = () => gone.abort();
    call.once('cancelled', abort);
    const write = async (json: string) => {
      if (!call.write({ json })) await once(call, 'drain', { signal: gone.signal }).catch(() => {});
    };
    void calls.stream(p, call.request.json, gone.signal, write).then((status) => {
      call.off('cancelled', abort);
      if (call.cancelled) return;
      if (status.code === grpc.status.OK) call.end();
      else call.emit('error', grpcStatus(status));
    });
  };
}
