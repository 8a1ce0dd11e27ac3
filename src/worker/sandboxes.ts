// What a task's network namespace gets from its node once its container runs: orca's DNS there
// and the VIP rules of its networks (src/netmesh/sandbox). The agent says when a task's
// container runs and when it is over; this finds the container's process and hands it on.

import type { Runtime } from './runtime.ts';
import type { AssignedTask } from './task-controller.ts';

export interface TaskSandboxes {
  /**
   * The task's container has started: set up its namespace, once per container (called on
   * every step of a running task, so it must be cheap when done already). Never throws: a
   * failure is logged and the next call tries again.
   */
  ensure(task: AssignedTask, containerId: string): void;
  /** The task's container stopped or the task is gone: let go of its namespace. */
  release(taskId: string): void;
}

/** Where namespaces are set up: netmesh's ServiceDiscovery on a real node. */
export interface SandboxHost {
  attach(key: string, pid: number, networks: readonly string[]): Promise<void>;
  detach(key: string): void;
}

export interface SandboxLog {
  warn(obj: object, msg: string): void;
}

export class NamespaceSandboxes implements TaskSandboxes {
  readonly #runtime: Runtime;
  readonly #host: SandboxHost;
  readonly #log: SandboxLog;
  /** Task id to the container whose namespace is set up, or being set up. */
  readonly #containers = new Map<string, string>();

  constructor(runtime: Runtime, host: SandboxHost, log: SandboxLog) {
    this.#runtime = runtime;
    this.#host = host;
    this.#log = log;
  }

  ensure(task: AssignedTask, containerId: string): void {
    const networks = (task.attachments ?? []).map((a) => a.network);
    if (networks.length === 0) return;
    const taskId = task.meta.id;
    if (this.#containers.get(taskId) === containerId) return;
    this.#containers.set(taskId, containerId);
    void this.#attach(taskId, containerId, networks).catch((err: unknown) => {
      if (this.#containers.get(taskId) === containerId) this.#containers.delete(taskId);
      this.#log.warn({ err, taskId }, "could not set up the task's network namespace");
    });
  }

  release(taskId: string): void {
    if (!this.#containers.delete(taskId)) return;
    this.#host.detach(taskId);
  }

  async #attach(taskId: string, containerId: string, networks: string[]): Promise<void> {
    const info = await this.#runtime.inspect(containerId);
    // Stopped already: the agent's next step releases it.
    if (info.gone || info.pid === undefined) throw new Error('the container is not running');
    if (this.#containers.get(taskId) !== containerId) return;
    await this.#host.attach(taskId, info.pid, networks);
    // Released while attaching: undo.
    if (this.#containers.get(taskId) !== containerId) this.#host.detach(taskId);
  }
}
