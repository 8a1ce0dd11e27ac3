// Which tasks have logs to read, and where: pure, over a snapshot of the store.

import type { LogSource } from '../../api/control-wire.ts';
import type { Task } from '../../api/objects.ts';

/**
 * Tasks whose container exists, or existed, on a node: the worker named one in a status report.
 * Ended tasks still in history count, as in Docker: their stopped containers keep their logs,
 * which is usually what someone looking at a failing service wants to read.
 */
export function tasksWithContainers(tasks: readonly Task[]): Task[] {
  return tasks.filter((t) => t.nodeId !== '' && t.status.containerId !== undefined);
}

/** The tasks by the node that holds their containers: one subscription per node. */
export function groupByNode(tasks: readonly Task[]): Map<string, Task[]> {
  const out = new Map<string, Task[]>();
  for (const t of tasks) {
    const group = out.get(t.nodeId);
    if (group === undefined) out.set(t.nodeId, [t]);
    else group.push(t);
  }
  return out;
}

export interface Names {
  /** The service's name; undefined once the service is gone. */
  service(serviceId: string): string | undefined;
  /** The node's hostname; undefined once the node is gone. */
  hostname(nodeId: string): string | undefined;
}

/** What the CLI needs to prefix a task's lines; a removed service is named by its id. */
export function logSource(t: Task, names: Names): LogSource {
  return {
    taskId: t.meta.id,
    serviceName: names.service(t.serviceId) ?? t.serviceId,
    slot: t.slot,
    nodeId: t.nodeId,
    nodeHostname: names.hostname(t.nodeId) ?? '',
  };
}
