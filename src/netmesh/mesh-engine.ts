// The data path of one thread: the set of listeners, made equal to what apply() is given.
// Listeners are keyed by protocol and port; a known one gets its spec swapped in place, so its
// connections and UDP flows live on; calls to apply() run one after the other.

import { ConnectionCounts } from './balancer.ts';
import type { ListenerFailure, MeshDataPath, MeshListener } from './data-path.ts';
import {
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_UDP_IDLE_MS,
  type MeshContext,
  type MeshLogger,
  silentLogger,
} from './mesh-context.ts';
import { TcpListener } from './tcp-listener.ts';
import { UdpListener } from './udp-listener.ts';

export interface EngineOptions {
  bindAddr: string;
  connectTimeoutMs?: number;
  udpIdleMs?: number;
  logger?: MeshLogger;
  reusePort?: boolean;
  /** Serve UDP listeners on this thread (only one thread of several does). */
  udp?: boolean;
  rand?: () => number;
}

type AnyListener = TcpListener | UdpListener;

const keyOf = (l: { protocol: string; port: number }): string => `${l.protocol}/${l.port}`;

export class MeshEngine implements MeshDataPath {
  readonly #ctx: MeshContext;
  readonly #udp: boolean;
  readonly #open = new Map<string, AnyListener>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(opts: EngineOptions) {
    this.#ctx = {
      bindAddr: opts.bindAddr,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      udpIdleMs: opts.udpIdleMs ?? DEFAULT_UDP_IDLE_MS,
      reusePort: opts.reusePort ?? false,
      counts: new ConnectionCounts(),
      logger: opts.logger ?? silentLogger,
      rand: opts.rand ?? Math.random,
    };
    this.#udp = opts.udp ?? true;
  }

  apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    return this.#serial(() => this.#apply(listeners));
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      this.#closed = true;
      await Promise.all([...this.#open.values()].map((l) => l.close()));
      this.#open.clear();
    });
  }

  /** Open connections (TCP) and flows (UDP) per port, for tests and status. */
  stats(): { protocol: string; port: number; open: number }[] {
    return [...this.#open.values()].map((l) => ({
      protocol: l.spec.protocol,
      port: l.spec.port,
      open: l instanceof TcpListener ? l.connections : l.flows,
    }));
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  async #apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    if (this.#closed) throw new Error('mesh data path is closed');
    const wanted = new Map<string, MeshListener>();
    for (const l of listeners) {
      if (l.protocol === 'udp' && !this.#udp) continue;
      wanted.set(keyOf(l), l);
    }
    const closing: Promise<void>[] = [];
    for (const [key, open] of this.#open) {
      if (wanted.has(key)) continue;
      this.#open.delete(key);
      closing.push(open.close());
    }
    // Ports are freed before new ones bind, so a port moving between services can be reused.
    await Promise.all(closing);

    const failures: ListenerFailure[] = [];
    await Promise.all(
      [...wanted].map(async ([key, spec]) => {
        const open = this.#open.get(key);
        if (open !== undefined) {
          open.update(spec);
          return;
        }
        const listener =
          spec.protocol === 'tcp'
            ? new TcpListener(this.#ctx, spec)
            : new UdpListener(this.#ctx, spec);
        const failed = await listener.listen();
        if (failed === undefined) {
          this.#open.set(key, listener);
        } else {
          await listener.close();
          failures.push({ protocol: spec.protocol, port: spec.port, message: failed });
        }
      }),
    );
    return failures;
  }
}
