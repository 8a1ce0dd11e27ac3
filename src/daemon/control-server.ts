import { lstat, mkdir, unlink } from 'node:fs/promises';
import { connect } from 'node:net';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  addControlService,
  type ControlHandlers,
  type ControlMethod,
  type ControlMethods,
  controlMethods,
  grpcStatusFor,
  type JsonMessage,
  ORCA_CODE_KEY,
} from '../api/control-wire.ts';
import { OrcaError } from '../errors.ts';
import type { Logger } from './logger.ts';

export type ControlImpl = {
  [M in ControlMethod]: (req: ControlMethods[M]['req']) => Promise<ControlMethods[M]['res']>;
};

/** The control API on a unix socket: gRPC with JSON bodies (see protos/control.proto). */
export class ControlServer {
  readonly socketPath: string;
  private readonly server: grpc.Server;
  private readonly log: Logger;

  private constructor(socketPath: string, server: grpc.Server, log: Logger) {
    this.socketPath = socketPath;
    this.server = server;
    this.log = log;
  }

  static async start(socketPath: string, impl: ControlImpl, log: Logger): Promise<ControlServer> {
    await prepareSocketPath(socketPath);
    const server = new grpc.Server();
    const handlers = {} as ControlHandlers;
    for (const method of controlMethods) handlers[method] = handler(method, impl, log);
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
    return new ControlServer(socketPath, server, log);
  }

  /** Lets calls in flight finish (up to a few seconds), then removes the socket. */
  async stop(): Promise<void> {
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

function handler<M extends ControlMethod>(
  method: M,
  impl: ControlImpl,
  log: Logger,
): grpc.handleUnaryCall<JsonMessage, JsonMessage> {
  return (call, callback) => {
    let req: ControlMethods[M]['req'];
    try {
      const parsed: unknown = call.request.json === '' ? {} : JSON.parse(call.request.json);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new Error('not an object');
      }
      req = parsed as ControlMethods[M]['req'];
    } catch {
      callback(
        toStatus(new OrcaError('ORCA_BAD_REQUEST', `${method}: the body is not a JSON object`)),
      );
      return;
    }
    (impl[method] as (r: typeof req) => Promise<ControlMethods[M]['res']>)(req).then(
      (res) => callback(null, { json: JSON.stringify(res) }),
      (err: unknown) => {
        if (!(err instanceof OrcaError)) log.error({ err, method }, 'control request failed');
        else log.debug({ code: err.code, method, msg: err.message }, 'control request refused');
        callback(toStatus(err));
      },
    );
  };
}

function toStatus(err: unknown): Partial<grpc.StatusObject> {
  const code = err instanceof OrcaError ? err.code : 'ORCA_INTERNAL';
  const metadata = new grpc.Metadata();
  metadata.set(ORCA_CODE_KEY, code);
  return {
    code: grpcStatusFor(code),
    details: err instanceof Error ? err.message : String(err),
    metadata,
  };
}
