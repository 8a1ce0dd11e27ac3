// What every decision returns: the changes to make, for the loop to apply in one store
// transaction, and when to decide again if nothing else wakes it. Decisions never write.

import type { Service, Task, TaskState } from '../../api/objects.ts';
import { taskPorts } from '../allocator/ports.ts';

/** A task as the store will create it (the store adds `meta`). */
export type NewTask = Omit<Task, 'meta'>;

export interface DesiredStateChange {
  /** As read: the loop writes it back at this version, so a concurrent change is refused. */
  readonly task: Task;
  readonly desiredState: TaskState;
  /** For the log and the tests; the task's status belongs to the worker and is not touched. */
  readonly reason: string;
}

export interface Plan {
  readonly create: readonly NewTask[];
  readonly update: readonly DesiredStateChange[];
  /** Task ids. */
  readonly delete: readonly string[];
  /** Milliseconds since the epoch: run again then even if no event arrives; null: only on events. */
  readonly wakeAt: number | null;
}

export const emptyPlan: Plan = { create: [], update: [], delete: [], wakeAt: null };

export class PlanBuilder {
  readonly #create: NewTask[] = [];
  readonly #update: DesiredStateChange[] = [];
  readonly #delete: string[] = [];
  #wakeAt: number | null = null;

  create(task: NewTask): void {
    this.#create.push(task);
  }

  setDesired(task: Task, desiredState: TaskState, reason: string): void {
    this.#update.push({ task, desiredState, reason });
  }

  shutdown(task: Task, reason: string): void {
    this.setDesired(task, 'shutdown', reason);
  }

  delete(taskId: string): void {
    this.#delete.push(taskId);
  }

  /** Keeps the earliest: one wakeup serves every timer, the next pass asks again. */
  wakeAt(at: number): void {
    if (this.#wakeAt === null || at < this.#wakeAt) this.#wakeAt = at;
  }

  build(): Plan {
    return {
      create: this.#create,
      update: this.#update,
      delete: this.#delete,
      wakeAt: this.#wakeAt,
    };
  }
}

/**
 * A new task for a slot (replicated) or a node (global: `nodeId` set, slot 0). It starts
 * 'pending', not Swarm's 'new': in Swarm the allocator moves it on once its network resources
 * exist; orca's loop gives its network addresses in the transaction that creates it (see
 * loops/addressing.ts), so the scheduler takes it straight away.
 */
export function newTask(service: Service, slot: number, nodeId: string, now: number): NewTask {
  const ports = taskPorts(service.endpoint);
  return {
    serviceId: service.meta.id,
    slot,
    nodeId,
    spec: service.spec.task,
    serviceVersion: service.meta.version,
    ...(ports.length === 0 ? {} : { ports }),
    desiredState: 'running',
    status: { state: 'pending', timestamp: new Date(now).toISOString(), message: 'created' },
  };
}
