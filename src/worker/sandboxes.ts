// What a task's network namespace gets from its node once its container runs: orca's DNS there
// and the VIP rules of its networks (src/netmesh/sandbox). The agent says when a task's
// container runs and when it is over; this finds the container's process and hands it on.

import type { Runtime } from './runtime.ts';
import type { AssignedTask } from './task-controller.ts';

export interface TaskSandboxes {
  /**
   * The task's container has started: set up its namespace, once per container (called on
   * every step of a running task, so it must be cheap when done already). Never throws: a
   * failure is logged and tried again, backing off, until it works or the task is released.
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
  readonly #retryMs: number;
  /** Task id to the container whose namespace is set up, or being set up. */
  readonly #containers = new Map<string, string>();
  readonly #retries = new Map<string, NodeJS.Timeout>();

  constructor(runtime: Runtime, host: SandboxHost, log: SandboxLog, retryMs = 500) {
    this.#runtime = runtime;
    this.#host = host;
    this.#log = log;
    this.#retryMs = retryMs;
  }

  ensure(task: AssignedTask, containerId: string): void {
    const networks = (task.attachments ?? []).map((a) => a.network);
    if (networks.length === 0) return;
    const taskId = task.meta.id;
    if (this.#containers.get(taskId) === containerId) return;
    this.#containers.set(taskId, containerId);
    this.#try(taskId, containerId, networks, 0);
  }

  release(taskId: string): void {
    clearTimeout(this.#retries.get(taskId));
    this.#retries.delete(taskId);
    if (!this.#containers.delete(taskId)) return;
    this.#host.detach(taskId);
  }

  /**
   * A running task is stepped again only when something happens to it, so a failed set-up
   * (an engine slow to answer, a helper that did not start) is retried here.
   */
  #try(taskId: string, containerId: string, networks: string[], attempt: number): void {
    this.#attach(taskId, containerId, networks).catch((err: unknown) => {
      if (this.#containers.get(taskId) !== containerId) return;
      this.#log.warn({ err, taskId, attempt }, "could not set up the task's network namespace");
      const delayMs = Math.min(this.#retryMs * 2 ** attempt, 30_000);
      const timer = setTimeout(() => {
        this.#retries.delete(taskId);
        if (this.#containers.get(taskId) === containerId) {
          this.#try(taskId, containerId, networks, attempt + 1);
        }
      }, delayMs);
      timer.unref();
      this.#retries.set(taskId, timer);
    });
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
