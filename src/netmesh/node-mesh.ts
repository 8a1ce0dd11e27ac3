// The user-space data path: Node sockets forwarding every connection and UDP flow. With one
// thread it runs in the calling thread; with more, each worker thread listens on every
// published TCP port with SO_REUSEPORT, so the kernel spreads new connections among them with
// no hand-off between threads, and every table update is posted to all of them. UDP flows are
// kept by one thread only: a flow's state must live where all its datagrams arrive.

import { Worker } from 'node:worker_threads';
import type { ListenerFailure, MeshDataPath, MeshListener } from './data-path.ts';
import type { MeshLogger } from './mesh-context.ts';
import { MeshEngine } from './mesh-engine.ts';
import type {
  ListenerStats,
  WorkerReply,
  WorkerRequest,
  WorkerRequestBody,
  WorkerSetup,
} from './mesh-messages.ts';

export interface NodeMeshOptions {
  /** Where published ports listen: 0.0.0.0 on a node, 127.0.0.1 in tests. */
  bindAddr: string;
  /** Data-path threads (default 1: the calling thread itself). */
  threads?: number;
  /** How long a backend may take to accept before the next one is tried (default 3000). */
  connectTimeoutMs?: number;
  /** A UDP flow with no datagram either way for this long is closed (default 30000). */
  udpIdleMs?: number;
  logger?: MeshLogger;
}

/** A MeshDataPath that can also count what it holds open, per port (tests, status). */
export interface NodeMesh extends MeshDataPath {
  stats(): Promise<ListenerStats[]>;
}

export function createNodeMesh(options: NodeMeshOptions): NodeMesh {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(`threads must be a positive integer, got ${threads}`);
  }
  if (threads === 1) {
    const engine = new MeshEngine(options);
    return {
      apply: (listeners) => engine.apply(listeners),
      close: () => engine.close(),
      stats: async () => engine.stats(),
    };
  }
  return new ThreadedMesh(options, threads);
}

type Pending = { resolve: (r: WorkerReply) => void; reject: (e: Error) => void };

class MeshThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #seq = 0;
  #gone: Error | undefined;

  constructor(setup: WorkerSetup, logger: MeshLogger | undefined) {
    this.#worker = new Worker(new URL('./mesh-worker.ts', import.meta.url), { workerData: setup });
    this.#worker.on('message', (reply: WorkerReply) => {
      if (reply.type === 'warn') {
        logger?.warn(reply.obj, reply.msg);
        return;
      }
      const p = this.#pending.get(reply.id);
      this.#pending.delete(reply.id);
      if (reply.type === 'error') p?.reject(new Error(reply.message));
      else p?.resolve(reply);
    });
    const fail = (err: Error) => {
      this.#gone ??= err;
      logger?.warn({ err: err.message }, 'mesh: data-path thread stopped');
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => {
      if (this.#gone === undefined) fail(new Error(`data-path thread exited with ${code}`));
    });
  }

  request<T extends WorkerReply['type']>(
    req: WorkerRequestBody,
    expect: T,
  ): Promise<Extract<WorkerReply, { type: T }>> {
    if (this.#gone !== undefined) return Promise.reject(this.#gone);
    const id = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, {
        resolve: (r) =>
          r.type === expect
            ? resolve(r as Extract<WorkerReply, { type: T }>)
            : reject(new Error(`data-path thread answered ${r.type} to ${req.type}`)),
        reject,
      });
      this.#worker.postMessage({ ...req, id } as WorkerRequest);
    });
  }

  async close(): Promise<void> {
    if (this.#gone === undefined) {
      await this.request({ type: 'close' }, 'closed').catch(() => {});
      this.#gone = new Error('mesh data path is closed');
    }
    await this.#worker.terminate();
  }
}

class ThreadedMesh implements NodeMesh {
  readonly #threads: MeshThread[];
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: NodeMeshOptions, count: number) {
    this.#threads = Array.from(
      { length: count },
      (_, i) =>
        new MeshThread(
          {
            bindAddr: options.bindAddr,
            connectTimeoutMs: options.connectTimeoutMs,
            udpIdleMs: options.udpIdleMs,
            udp: i === 0,
          },
          options.logger,
        ),
    );
  }

  apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    return this.#serial(async () => {
      const failures = await this.#applyAll([...listeners]);
      if (failures.length === 0) return failures;
      // A port some threads bound and others could not would serve a share of connections
      // only; take it off them all so that it is plainly failed, and retried on the next apply.
      const failed = new Set(failures.map((f) => `${f.protocol}/${f.port}`));
      await this.#applyAll(listeners.filter((l) => !failed.has(`${l.protocol}/${l.port}`)));
      return failures;
    });
  }

  close(): Promise<void> {
    return this.#serial(async () => {
      await Promise.all(this.#threads.map((t) => t.close()));
    });
  }

  async stats(): Promise<ListenerStats[]> {
    const all = await Promise.all(this.#threads.map((t) => t.request({ type: 'stats' }, 'stats')));
    const sum = new Map<string, ListenerStats>();
    for (const reply of all) {
      for (const s of reply.stats) {
        const key = `${s.protocol}/${s.port}`;
        const prev = sum.get(key);
        sum.set(key, { ...s, open: (prev?.open ?? 0) + s.open });
      }
    }
    return [...sum.values()];
  }

  async #applyAll(listeners: MeshListener[]): Promise<ListenerFailure[]> {
    const replies = await Promise.all(
      this.#threads.map((t) => t.request({ type: 'apply', listeners }, 'applied')),
    );
    const byKey = new Map<string, ListenerFailure>();
    for (const r of replies) {
      for (const f of r.failures) byKey.set(`${f.protocol}/${f.port}`, f);
    }
    return [...byKey.values()];
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
