import * as grpc from '@grpc/grpc-js';
import {
  type ControlMethod,
  type ControlMethods,
  type ControlStreamMethod,
  type ControlStreams,
  createControlClient,
  type JsonMessage,
  ORCA_CODE_KEY,
} from '../api/control-wire.ts';
import { InvalidFlagsError, OrcaError } from '../errors.ts';

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
  const client = createControlClient(host);
  try {
    const res = await new Promise<string>((resolve, reject) => {
      client[method](
        { json: JSON.stringify(req) },
        new grpc.Metadata(),
        { deadline: Date.now() + CALL_TIMEOUT_MS },
        (err, reply) => {
          if (err !== null) reject(err);
          else resolve(reply?.json ?? '');
        },
      );
    });
    return JSON.parse(res === '' ? '{}' : res) as ControlMethods[M]['res'];
  } catch (err) {
    throw refusal(err, host, method);
  } finally {
    client.close();
  }
}

/** A failed call as the OrcaError the daemon raised, or as what kept it from answering. */
function refusal(err: unknown, host: string, method: string): OrcaError {
  if (err instanceof OrcaError) return err;
  const e = err as grpc.ServiceError;
  const code = e.metadata?.get(ORCA_CODE_KEY)[0];
  if (typeof code === 'string') return new OrcaError(code, e.details);
  if (e.code === grpc.status.UNAVAILABLE) return unreachable(host);
  if (e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new OrcaError(
      'ORCA_TIMEOUT',
      `the orca daemon at ${host} did not answer ${method} within ${CALL_TIMEOUT_MS / 1000} s`,
    );
  }
  return new OrcaError('ORCA_RPC', `${method} to ${host} failed: ${e.details ?? e.message}`);
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
  const client = createControlClient(host);
  let onAbort = () => {};
  try {
    await new Promise<void>((resolve, reject) => {
      // No deadline: a follow lasts as long as its reader wants it.
      const call = client[method]({ json: JSON.stringify(req) }, new grpc.Metadata(), {});
      let settled = false;
      let statusOk = false;
      let ended = false;
      const settle = (err?: unknown) => {
        if (settled) return;
        settled = true;
        if (err === undefined) resolve();
        else reject(refusal(err, host, method));
      };
      onAbort = () => {
        settle();
        call.cancel();
      };
      if (signal?.aborted === true) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (wire: JsonMessage) => {
        if (settled) return;
        let msg: ControlStreams[M]['msg'];
        try {
          msg = JSON.parse(wire.json === '' ? '{}' : wire.json) as ControlStreams[M]['msg'];
        } catch {
          settle(
            new OrcaError('ORCA_RPC', `${method}: the daemon sent a message that is not JSON`),
          );
          call.cancel();
          return;
        }
        const pending = onMessage(msg);
        if (pending === undefined) return;
        call.pause();
        pending.then(
          () => call.resume(),
          (err: unknown) => {
            settle(err);
            call.cancel();
          },
        );
      });
      call.on('error', (err) => settle(err));
      call.on('status', (status: grpc.StatusObject) => {
        statusOk = status.code === grpc.status.OK;
        // Messages may still be queued behind a paused reader: done once they are read too.
        if (statusOk && ended) settle();
      });
      call.on('end', () => {
        ended = true;
        if (statusOk) settle();
      });
    });
  } finally {
    signal?.removeEventListener('abort', onAbort);
    client.close();
  }
}
