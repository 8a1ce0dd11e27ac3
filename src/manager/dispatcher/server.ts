// The dispatcher's gRPC server. Its own listener, not the Raft transport's: GrpcTransport owns
// its grpc.Server and does not let other services join it, so the dispatcher listens on the
// cluster port + 1 of the same host (see docs/design/manager.md). Plaintext until the cluster
// CA exists (issue 4).

import * as grpc from '@grpc/grpc-js';
import { addDispatcherService, dispatcherServerOptions } from '../../api/dispatcher-wire.ts';
import { TransportError } from '../../errors.ts';
import type { Dispatcher } from './dispatcher.ts';

export class DispatcherServer {
  readonly #server: grpc.Server;
  /** host:port as bound, with the real port where 0 was asked. */
  readonly address: string;

  private constructor(server: grpc.Server, address: string) {
    this.#server = server;
    this.address = address;
  }

  static async start(
    listenAddr: string,
    dispatcher: Dispatcher,
    credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
  ): Promise<DispatcherServer> {
    const server = new grpc.Server(dispatcherServerOptions);
    addDispatcherService(server, { Session: (call) => dispatcher.session(call) });
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(listenAddr, credentials, (err, bound) =>
        err ? reject(err) : resolve(bound),
      );
    }).catch((err: unknown) => {
      server.forceShutdown();
      throw new TransportError(
        `cannot listen for workers on ${listenAddr}: ${err instanceof Error ? err.message : String(err)}; is another process using that address?`,
        { cause: err },
      );
    });
    const host = listenAddr.slice(0, listenAddr.lastIndexOf(':'));
    return new DispatcherServer(server, `${host}:${port}`);
  }

  /** Ends the sessions still open (the dispatcher's run should have ended them) and the listener. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 1_000);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
