// How an OrcaError crosses gRPC, on every orca service (control, CA): the status code for its
// orca code, its message as the status details, and the orca code itself in the metadata key
// `orca-code`, so that the receiving side raises the same OrcaError.

import * as grpc from '@grpc/grpc-js';
import { OrcaError } from '../errors.ts';
import { ORCA_CODE_KEY } from './control-names.ts';

/** gRPC status for each orca error code; anything else is UNKNOWN. */
export function grpcStatusFor(code: string): grpc.status {
  switch (code) {
    case 'ORCA_BAD_REQUEST':
    case 'ORCA_CERTIFICATE':
      return grpc.status.INVALID_ARGUMENT;
    case 'ORCA_NOT_FOUND':
      return grpc.status.NOT_FOUND;
    case 'ORCA_CONFLICT':
      return grpc.status.ABORTED;
    case 'ORCA_EXISTS':
    case 'ORCA_NAME_TAKEN':
      return grpc.status.ALREADY_EXISTS;
    case 'ORCA_NOT_LEADER':
    case 'ORCA_PROPOSAL_DROPPED':
    case 'ORCA_STOPPED':
      return grpc.status.UNAVAILABLE;
    case 'ORCA_PROPOSAL_UNKNOWN':
      return grpc.status.DEADLINE_EXCEEDED;
    case 'ORCA_JOIN_TOKEN':
      return grpc.status.PERMISSION_DENIED;
    case 'ORCA_SERVICE_MODE':
    case 'ORCA_NO_PREVIOUS_SPEC':
    case 'ORCA_NETWORK_IN_USE':
    case 'ORCA_SUBNET_IN_USE':
      return grpc.status.FAILED_PRECONDITION;
    case 'ORCA_POOL_EXHAUSTED':
      return grpc.status.RESOURCE_EXHAUSTED;
    default:
      return code.startsWith('ORCA_SWARM') ? grpc.status.FAILED_PRECONDITION : grpc.status.UNKNOWN;
  }
}

/** The status a handler answers with for `err`; anything not an OrcaError is ORCA_INTERNAL. */
export function errorStatus(err: unknown): Partial<grpc.StatusObject> {
  const code = err instanceof OrcaError ? err.code : 'ORCA_INTERNAL';
  const metadata = new grpc.Metadata();
  metadata.set(ORCA_CODE_KEY, code);
  return {
    code: grpcStatusFor(code),
    details: err instanceof Error ? err.message : String(err),
    metadata,
  };
}

/** The orca code a grpc-js client's failed call carries, or null when it carries none. */
export function orcaCodeOf(err: grpc.ServiceError): string | null {
  const value = err.metadata?.get(ORCA_CODE_KEY)[0];
  return typeof value === 'string' ? value : null;
}
