// This node's routing mesh as the daemon runs it: fed the dispatcher's endpoint table by
// whichever worker session is current (the mesh outlives role changes, so its listeners stay up
// while a promoted node restarts as a manager), applying one table at a time, the latest winning.

import type { WireServiceEndpoints } from '../api/dispatcher-wire.ts';
import type { MeshDataPath, MeshListener } from '../netmesh/data-path.ts';
import { meshListeners } from '../netmesh/listeners.ts';
import type { Logger } from './logger.ts';

export class RoutingMesh {
  readonly #create: () => MeshDataPath;
  readonly #log: Logger;
  #dataPath: MeshDataPath | null = null;
  #wanted: MeshListener[] | null = null;
  #applying: Promise<void> | null = null;
  #failed = '';

  constructor(create: () => MeshDataPath, log: Logger) {
    this.#create = create;
    this.#log = log;
  }

  update(services: readonly WireServiceEndpoints[], selfNodeId: string): void {
    this.#set(meshListeners(services, selfNodeId));
  }

  /** Closes every listener (the node left the swarm); the mesh can be fed again after. */
  async clear(): Promise<void> {
    this.#set([]);
    await this.#applying;
  }

  async close(): Promise<void> {
    this.#wanted = null;
    await this.#applying;
    await this.#dataPath?.close();
    this.#dataPath = null;
  }

  #set(listeners: MeshListener[]): void {
    // No data path (nor its threads) until something is published.
    if (this.#dataPath === null && listeners.length === 0) return;
    this.#wanted = listeners;
    this.#applying ??= this.#drain();
  }

  async #drain(): Promise<void> {
    try {
      while (this.#wanted !== null) {
        const listeners = this.#wanted;
        this.#wanted = null;
        try {
          this.#dataPath ??= this.#create();
          const failures = await this.#dataPath.apply(listeners);
          const summary = JSON.stringify(failures);
          if (failures.length > 0 && summary !== this.#failed) {
            this.#log.warn({ failures }, 'routing mesh: could not listen on published ports');
          }
          this.#failed = failures.length > 0 ? summary : '';
        } catch (err) {
          this.#log.warn({ err }, 'routing mesh: could not apply the endpoint table');
        }
        this.#log.debug(
          { listeners: listeners.map((l) => `${l.port}/${l.protocol}:${l.backends.length}`) },
          'routing mesh updated',
        );
      }
    } finally {
      this.#applying = null;
    }
  }
}
