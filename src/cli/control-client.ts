import { CONTROL_SERVICE_PATH, ORCA_CODE_KEY } from '../api/control-names.ts';
import type {
  ControlMethod,
  ControlMethods,
  ControlStreamMethod,
  ControlStreams,
} from '../api/control-wire.ts';
import { InvalidFlagsError, OrcaError } from '../errors.ts';
import { CallError, call, GRPC_DEADLINE_EXCEEDED, GRPC_UNAVAILABLE } from './grpc-web.ts';

export const DEFAULT_HOST = 'unix:///run/orca/orca.sock';

/** `-H`, then ORCA_HOST, then the default: as Docker's -H and DOCKER_HOST. */
export function resolveHost(flag: string | undefined, env = process.env): string {
  const host =
    flag ?? (env.ORCA_HOST !== undefined && env.ORCA_HOST !== '' ? env.ORCA_HOST : DEFAULT_HOST);
  if (!/^unix:\/\/\/./.test(host)) {
    throw new InvalidFlagsError([
      `${flag === undefined ? 'ORCA_HOST' : '-H/--host'}: "${host}" is not unix:///path/to/orca.sock (the daemon listens on a unix socket only)`,
    ]);
  }
  return host;
}

/** How long one control call may take: init and leave start and stop Raft. */
const CALL_TIMEOUT_MS = 30_000;

export function unreachable(host: string): OrcaError {
  return new OrcaError(
    'ORCA_UNREACHABLE',
    `cannot reach the orca daemon at ${host}: is it running? start it with: orca daemon`,
  );
}

/** One call to the daemon: its answer, or its refusal as the OrcaError it raised there. */
export async function callDaemon<M extends ControlMethod>(
  host: string,
  method: M,
  req: ControlMethods[M]['req'],
): Promise<ControlMethods[M]['res']> {
  let reply = '';
  try {
    await call({
      socketPath: socketPathOf(host),
      path: `${CONTROL_SERVICE_PATH}${method}`,
      json: JSON.stringify(req),
      onMessage: (json) => {
        reply = json;
      },
      timeoutMs: CALL_TIMEOUT_MS,
    });
  } catch (err) {
    throw refusal(err, host, method);
  }
  return JSON.parse(reply === '' ? '{}' : reply) as ControlMethods[M]['res'];
}

/** A failed call as the OrcaError the daemon raised, or as what kept it from answering. */
function refusal(err: unknown, host: string, method: string): unknown {
  if (!(err instanceof CallError)) return err;
  const code = err.metadata[ORCA_CODE_KEY];
  if (code !== undefined) return new OrcaError(code, err.message);
  if (err.grpcCode === GRPC_UNAVAILABLE) return unreachable(host);
  if (err.grpcCode === GRPC_DEADLINE_EXCEEDED) {
    return new OrcaError(
      'ORCA_TIMEOUT',
      `the orca daemon at ${host} did not answer ${method} within ${CALL_TIMEOUT_MS / 1000} s`,
    );
  }
  return new OrcaError('ORCA_RPC', `${method} to ${host} failed: ${err.message}`);
}

/**
 * One streaming call: `onMessage` gets each message in order; while the promise it returns is
 * pending the stream is paused, so a slow reader (a pipe to `less`) slows the daemon down
 * instead of filling memory. Resolves at the stream's end, or once `signal` aborts (the call
 * is cancelled, which stops the daemon's work); rejects with the daemon's OrcaError.
 */
export async function streamDaemon<M extends ControlStreamMethod>(
  host: string,
  method: M,
  req: ControlStreams[M]['req'],
  onMessage: (msg: ControlStreams[M]['msg']) => void | Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  try {
    // No deadline: a follow lasts as long as its reader wants it.
    await call({
      socketPath: socketPathOf(host),
      path: `${CONTROL_SERVICE_PATH}${method}`,
      json: JSON.stringify(req),
      onMessage: (json) => {
        let msg: ControlStreams[M]['msg'];
        try {
          msg = JSON.parse(json === '' ? '{}' : json) as ControlStreams[M]['msg'];
        } catch {
          throw new OrcaError('ORCA_RPC', `${method}: the daemon sent a message that is not JSON`);
        }
        return onMessage(msg);
      },
      ...(signal === undefined ? {} : { signal }),
    });
  } catch (err) {
    throw refusal(err, host, method);
  }
}

function socketPathOf(host: string): string {
  return host.slice('unix://'.length);
}
