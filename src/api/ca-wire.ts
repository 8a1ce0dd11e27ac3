// The wire contract of protos/ca.proto, typed for TypeScript: what a joining node asks of a
// manager's CA and what it gets back, the client it dials with and the service a manager
// serves (src/manager/ca/server.ts).

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { OrcaError } from '../errors.ts';
import { orcaCodeOf } from './grpc-errors.ts';
import type { NodeDescription, NodeRole } from './objects.ts';

export interface RootCaCertificateResponse {
  readonly certPem: string;
}

export interface IssueNodeCertificateRequest {
  /** The join token the operator was given: `ORCA-1-<CA digest>-<secret>`. */
  readonly token: string;
  /** PKCS#10, signed by the node's own key; its subject is ignored. */
  readonly csrPem: string;
  /** The joining host as it describes itself: its Node object starts with it. */
  readonly description: NodeDescription;
  /** Where the node is reached (its Node's status.addr); absent: the address it called from. */
  readonly advertiseAddr?: string;
}

export interface IssueNodeCertificateResponse {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly role: NodeRole;
  readonly certPem: string;
  readonly caCertPem: string;
}

export interface JoinRaftRequest {
  /** Where the new manager's Raft transport is dialled: its advertised cluster address. */
  readonly raftAddr: string;
}

/** Joined as a learner, or asked of a follower: go to the leader (null: none known yet). */
export type JoinRaftResponse = { readonly joined: true } | { readonly leaderAddr: string | null };

export interface CaMethods {
  GetRootCACertificate: { req: Record<string, never>; res: RootCaCertificateResponse };
  IssueNodeCertificate: { req: IssueNodeCertificateRequest; res: IssueNodeCertificateResponse };
  JoinRaft: { req: JoinRaftRequest; res: JoinRaftResponse };
  RenewNodeCertificate: { req: { csrPem: string }; res: IssueNodeCertificateResponse };
}
export type CaMethod = keyof CaMethods;

export interface WireJson {
  json: string;
}

const packageDefinition = protoLoader.loadSync(
  fileURLToPath(new URL('../../protos/ca.proto', import.meta.url)),
  { keepCase: true, longs: Number, defaults: true, arrays: true, oneofs: false },
);

const clientConstructor = (
  grpc.loadPackageDefinition(packageDefinition) as unknown as {
    orca: { ca: { CA: grpc.ServiceClientConstructor } };
  }
).orca.ca.CA;

/** The service a manager serves on its cluster port. */
export const caService: grpc.ServiceDefinition = clientConstructor.service;

export type CaHandlers = {
  [M in CaMethod]: grpc.handleUnaryCall<WireJson, WireJson>;
};

type UnaryMethod = (
  req: WireJson,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: WireJson) => void,
) => grpc.ClientUnaryCall;

export class CaClient {
  readonly #client: grpc.Client;
  readonly #addr: string;

  constructor(addr: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions) {
    this.#addr = addr;
    this.#client = new clientConstructor(addr, credentials, options);
  }

  /**
   * One call; a refusal comes back as the OrcaError the manager raised, anything else (no
   * answer, a TLS failure) as ORCA_JOIN naming the manager's address.
   */
  call<M extends CaMethod>(
    method: M,
    req: CaMethods[M]['req'],
    timeoutMs: number,
  ): Promise<CaMethods[M]['res']> {
    const unary = (this.#client as unknown as Record<CaMethod, UnaryMethod>)[method].bind(
      this.#client,
    );
    return new Promise((resolve, reject) => {
      unary({ json: JSON.stringify(req) }, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err !== null) {
          const code = orcaCodeOf(err);
          reject(
            code === null
              ? new OrcaError(
                  'ORCA_JOIN',
                  // grpc-js ends some details with an empty "Resolution note:".
                  `cannot reach the manager at ${this.#addr}: ${(err.details || err.message).replace(/\.?\s*Resolution note:\s*$/, '')}`,
                )
              : new OrcaError(code, err.details),
          );
          return;
        }
        try {
          resolve(JSON.parse(res?.json || '{}') as CaMethods[M]['res']);
        } catch {
          reject(
            new OrcaError(
              'ORCA_JOIN',
              `the manager at ${this.#addr} sent an answer that is not JSON`,
            ),
          );
        }
      });
    });
  }

  close(): void {
    this.#client.close();
  }
}
