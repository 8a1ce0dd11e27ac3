import * as grpc from '@grpc/grpc-js';
import {
  type ControlMethod,
  type ControlMethods,
  createControlClient,
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
    const e = err as grpc.ServiceError;
    const code = e.metadata?.get(ORCA_CODE_KEY)[0];
    if (typeof code === 'string') throw new OrcaError(code, e.details);
    if (e.code === grpc.status.UNAVAILABLE) throw unreachable(host);
    if (e.code === grpc.status.DEADLINE_EXCEEDED) {
      throw new OrcaError(
        'ORCA_TIMEOUT',
        `the orca daemon at ${host} did not answer ${method} within ${CALL_TIMEOUT_MS / 1000} s`,
      );
    }
    throw new OrcaError('ORCA_RPC', `${method} to ${host} failed: ${e.details ?? e.message}`);
  } finally {
    client.close();
  }
}
