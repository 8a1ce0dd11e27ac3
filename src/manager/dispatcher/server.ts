// Where the dispatcher is served. On a manager that is the Raft transport's gRPC server: one
// cluster port carries Raft and worker sessions, as Swarm's 2377, so a worker needs only the
// address a manager advertises. Anything with grpc.Server's addService and removeService can
// host it (tests use a bare server, in plaintext; a manager's is TLS under the cluster CA).

import type * as grpc from '@grpc/grpc-js';
import { dispatcherService } from '../../api/dispatcher-wire.ts';
import type { Dispatcher } from './dispatcher.ts';

export interface ServiceHost {
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void;
  removeService(service: grpc.ServiceDefinition): void;
}

/** Serves the dispatcher's Session on `host`; returns the function that stops serving it. */
export function serveDispatcher(host: ServiceHost, dispatcher: Dispatcher): () => void {
  host.addService(dispatcherService, {
    Session: (call: Parameters<Dispatcher['session']>[0]) => dispatcher.session(call),
  });
  return () => host.removeService(dispatcherService);
}
