// Where the CA service is served: a manager's cluster port (the Raft transport's gRPC server),
// beside Raft and the dispatcher, as Swarm's 2377. A caller needs no certificate here.

import type * as grpc from '@grpc/grpc-js';
import { hostOfAddr } from '../../api/addr-host.ts';
import { type CaHandlers, caService, type WireJson } from '../../api/ca-wire.ts';
import { errorStatus } from '../../api/grpc-errors.ts';
import { BadRequestError } from '../../errors.ts';
import type { ServiceHost } from '../dispatcher/index.ts';
import type { CaService } from './service.ts';

/** Serves `ca` on `host`; returns the function that stops serving it. */
export function serveCa(host: ServiceHost, ca: CaService): () => void {
  const handlers: CaHandlers = {
    GetRootCACertificate: unary(async () => ca.rootCaCertificate()),
    IssueNodeCertificate: unary((body, call) =>
      ca.issueNodeCertificate(body, hostOfAddr(call.getPeer())),
    ),
    JoinRaft: unary((body, call) => ca.joinRaft(body, call)),
    RenewNodeCertificate: unary((body, call) => ca.renewNodeCertificate(body, call)),
  };
  host.addService(caService, handlers);
  return () => host.removeService(caService);
}

function unary(
  serve: (body: unknown, call: grpc.ServerUnaryCall<WireJson, WireJson>) => Promise<unknown>,
): grpc.handleUnaryCall<WireJson, WireJson> {
  return (call, callback) => {
    let body: unknown;
    try {
      body = call.request.json === '' ? {} : JSON.parse(call.request.json);
    } catch {
      callback(errorStatus(new BadRequestError('the request body is not JSON')));
      return;
    }
    serve(body, call).then(
      (res) => callback(null, { json: JSON.stringify(res) }),
      (err: unknown) => callback(errorStatus(err)),
    );
  };
}
