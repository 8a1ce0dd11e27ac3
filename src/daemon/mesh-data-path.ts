// Which data path a node's routing mesh runs on (`orca daemon --mesh-data-path`): Node sockets
// (the default: works wherever Node runs, retries a refused connect, balances by least
// connections, speaks PROXY protocol), or the kernel through nftables DNAT (faster, as
// kube-proxy's nftables mode; no retry, no least-conn, no PROXY protocol). In kernel mode a
// listener the kernel cannot serve (PROXY protocol, for one) is served by the Node data path,
// so asking for the faster path never loses a feature silently: the split is logged.

import type { ListenerFailure, MeshDataPath, MeshListener } from '../netmesh/data-path.ts';
import { createKernelMesh } from '../netmesh/kernel-mesh.ts';
import { createNodeMesh } from '../netmesh/node-mesh.ts';
import type { Logger } from './logger.ts';
import type { MeshSettings } from './mesh-options.ts';

export function createMeshDataPath(opts: MeshSettings & { readonly log: Logger }): MeshDataPath {
  const node = () =>
    createNodeMesh({ bindAddr: opts.bindAddr, threads: opts.threads, logger: opts.log });
  if (opts.kind === 'node') return node();
  return new KernelFirst(
    createKernelMesh({ bindAddr: opts.bindAddr, logger: opts.log }),
    node,
    opts.log,
  );
}

class KernelFirst implements MeshDataPath {
  readonly #kernel: MeshDataPath;
  readonly #createNode: () => MeshDataPath;
  readonly #log: Logger;
  #node: MeshDataPath | null = null;
  #fallback = '';

  constructor(kernel: MeshDataPath, createNode: () => MeshDataPath, log: Logger) {
    this.#kernel = kernel;
    this.#createNode = createNode;
    this.#log = log;
  }

  async apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    const refused = await this.#kernel.apply(listeners);
    const key = (l: { protocol: string; port: number }) => `${l.port}/${l.protocol}`;
    const rest = new Set(refused.map(key));
    const leftover = listeners.filter((l) => rest.has(key(l)));
    const summary = refused.map((f) => `${key(f)}: ${f.message}`).join('; ');
    if (summary !== this.#fallback && summary !== '') {
      this.#log.info({ listeners: summary }, 'routing mesh: served in Node, not the kernel');
    }
    this.#fallback = summary;
    if (leftover.length === 0 && this.#node === null) return [];
    this.#node ??= this.#createNode();
    return this.#node.apply(leftover);
  }

  async close(): Promise<void> {
    await Promise.all([this.#kernel.close(), this.#node?.close()]);
  }
}
