// A dispatcher served on a gRPC server of its own, on a free loopback port: what a manager's
// Raft listener does for it, without Raft.
import * as grpc from '@grpc/grpc-js';
import { type Dispatcher, serveDispatcher } from '../../src/manager/dispatcher/index.ts';

export interface TestDispatcherServer {
  readonly address: string;
  stop(): Promise<void>;
}

export async function startDispatcherServer(dispatcher: Dispatcher): Promise<TestDispatcherServer> {
  const server = new grpc.Server();
  serveDispatcher(server, dispatcher);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    address: `127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
