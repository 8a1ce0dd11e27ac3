// One published TCP port on one thread: a server that accepts paused and hands each connection
// to a TcpRelay. The listener's spec (backends, policy, PROXY protocol) is swapped in place;
// relays read it only when they pick a backend, so open connections are never disturbed.

import { createServer, type Server, type Socket } from 'node:net';
import { type Balancer, createBalancer } from './balancer.ts';
import type { MeshListener } from './data-path.ts';
import { errorMessage, type MeshContext } from './mesh-context.ts';
import { type RelayOwner, TcpRelay } from './tcp-relay.ts';

export class TcpListener implements RelayOwner {
  readonly ctx: MeshContext;
  spec: MeshListener;
  balancer: Balancer;
  readonly #server: Server;
  readonly #relays = new Set<TcpRelay>();

  constructor(ctx: MeshContext, spec: MeshListener) {
    this.ctx = ctx;
    this.spec = spec;
    this.balancer = createBalancer(spec.lb, ctx.counts, ctx.rand);
    this.#server = createServer(
      { pauseOnConnect: true, allowHalfOpen: true, noDelay: true },
      this.#onConnection,
    );
  }

  /** Resolves with why it could not listen, or undefined once it listens. */
  listen(): Promise<string | undefined> {
    const server = this.#server;
    return new Promise((resolve) => {
      const onError = (err: Error) => resolve(errorMessage(err));
      server.once('error', onError);
      server.listen(
        {
          host: this.ctx.bindAddr,
          port: this.spec.port,
          reusePort: this.ctx.reusePort,
          backlog: 4096,
        },
        () => {
          server.off('error', onError);
          server.on('error', (err) =>
            this.ctx.logger.warn(
              { port: this.spec.port, err: errorMessage(err) },
              'mesh: tcp listener error',
            ),
          );
          resolve(undefined);
        },
      );
    });
  }

  update(spec: MeshListener): void {
    if (spec.lb !== this.spec.lb)
      this.balancer = createBalancer(spec.lb, this.ctx.counts, this.ctx.rand);
    this.spec = spec;
  }

  get connections(): number {
    return this.#relays.size;
  }

  relayDone(relay: TcpRelay): void {
    this.#relays.delete(relay);
  }

  /** Stops listening and cuts every connection it accepted. */
  close(): Promise<void> {
    for (const relay of this.#relays) relay.destroy();
    this.#relays.clear();
    return new Promise((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
  }

  #onConnection = (client: Socket): void => {
    if (this.spec.backends.length === 0) {
      client.destroy();
      return;
    }
    const relay = new TcpRelay(this, client);
    this.#relays.add(relay);
    relay.start();
  };
}
