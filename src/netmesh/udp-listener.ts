// One published UDP port. UDP has no connections, so the mesh makes flows: the first datagram
// from a client address:port picks a backend and opens a socket of its own to it; later
// datagrams of that client go the same way, and the backend's replies come back through the
// listening socket, so the client sees answers from the address it sent to. A flow quiet for
// udpIdleMs is closed (its socket and its count for least-conn).

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type Balancer, createBalancer } from './balancer.ts';
import type { MeshListener } from './data-path.ts';
import { errorMessage, type MeshContext } from './mesh-context.ts';

interface Flow {
  readonly backendId: string;
  readonly socket: Socket;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** Datagrams that arrived before the flow's socket was connected. */
  pending: Buffer[] | undefined;
  lastActive: number;
}

/** Datagrams held per flow while its socket connects; a flood beyond is dropped, as UDP may. */
const MAX_PENDING = 64;

export class UdpListener {
  readonly ctx: MeshContext;
  spec: MeshListener;
  balancer: Balancer;
  readonly #socket: Socket;
  readonly #flows = new Map<string, Flow>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(ctx: MeshContext, spec: MeshListener) {
    this.ctx = ctx;
    this.spec = spec;
    this.balancer = createBalancer(spec.lb, ctx.counts, ctx.rand);
    this.#socket = createSocket({ type: isIPv6(ctx.bindAddr) ? 'udp6' : 'udp4' });
  }

  listen(): Promise<string | undefined> {
    const sock = this.#socket;
    return new Promise((resolve) => {
      const onError = (err: Error) => {
        sock.close();
        resolve(errorMessage(err));
      };
      sock.once('error', onError);
      sock.bind({ address: this.ctx.bindAddr, port: this.spec.port, exclusive: true }, () => {
        sock.off('error', onError);
        sock.on('error', (err) =>
          this.ctx.logger.warn(
            { port: this.spec.port, err: errorMessage(err) },
            'mesh: udp listener error',
          ),
        );
        sock.on('message', this.#onMessage);
        const every = Math.max(Math.floor(this.ctx.udpIdleMs / 2), 10);
        this.#sweep = setInterval(this.#expire, every);
        this.#sweep.unref();
        resolve(undefined);
      });
    });
  }

  update(spec: MeshListener): void {
    if (spec.lb !== this.spec.lb)
      this.balancer = createBalancer(spec.lb, this.ctx.counts, this.ctx.rand);
    this.spec = spec;
  }

  get flows(): number {
    return this.#flows.size;
  }

  close(): Promise<void> {
    clearInterval(this.#sweep);
    for (const [key, flow] of this.#flows) this.#closeFlow(key, flow);
    return new Promise((resolve) => {
      try {
        this.#socket.close(() => resolve());
      } catch {
        resolve(); // never bound, or already closed
      }
    });
  }

  #onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const key = `${rinfo.address}|${rinfo.port}`;
    let flow = this.#flows.get(key);
    if (flow === undefined) {
      flow = this.#openFlow(key, rinfo);
      if (flow === undefined) return;
    }
    flow.lastActive = performance.now();
    if (flow.pending !== undefined) {
      if (flow.pending.length < MAX_PENDING) flow.pending.push(msg);
      return;
    }
    flow.socket.send(msg);
  };

  #openFlow(key: string, rinfo: RemoteInfo): Flow | undefined {
    const backend = this.balancer.pick(this.spec.backends);
    if (backend === undefined) return undefined;
    const socket = createSocket({ type: isIPv6(backend.host) ? 'udp6' : 'udp4' });
    const flow: Flow = {
      backendId: backend.id,
      socket,
      clientAddress: rinfo.address,
      clientPort: rinfo.port,
      pending: [],
      lastActive: performance.now(),
    };
    this.#flows.set(key, flow);
    this.ctx.counts.add(backend.id);
    socket.on('error', (err) => {
      // ICMP port unreachable from the backend and the like: the flow ends, the client retries.
      this.ctx.logger.warn(
        { port: this.spec.port, backend: backend.id, err: errorMessage(err) },
        'mesh: udp flow error',
      );
      this.#closeFlow(key, flow);
    });
    socket.on('message', (reply) => {
      flow.lastActive = performance.now();
      this.#socket.send(reply, flow.clientPort, flow.clientAddress);
    });
    socket.connect(backend.port, backend.host, () => {
      const queued = flow.pending ?? [];
      flow.pending = undefined;
      for (const m of queued) socket.send(m);
    });
    return flow;
  }

  #closeFlow(key: string, flow: Flow): void {
    if (this.#flows.get(key) !== flow) return;
    this.#flows.delete(key);
    this.ctx.counts.remove(flow.backendId);
    try {
      flow.socket.close();
    } catch {}
  }

  #expire = (): void => {
    const cutoff = performance.now() - this.ctx.udpIdleMs;
    for (const [key, flow] of this.#flows) {
      if (flow.lastActive <= cutoff) this.#closeFlow(key, flow);
    }
  };
}
