// The routing mesh's table: for every service with ingress ports, the tasks that may take
// traffic and where each node reaches them. A task is in it while it runs, is healthy (a task
// with a health check runs only once healthy; an unhealthy one fails) and is meant to keep
// running: the moment the orchestrator decides to stop or replace it, it leaves the table,
// which every node hears before the task's own node is told to stop it. Derived from the store
// on the leader and pushed by the dispatcher, so nothing about it is written to the log.

import type { WireServiceEndpoints, WireTaskEndpoint } from '../../api/dispatcher-wire.ts';
import type { Node, Service, Task } from '../../api/objects.ts';

export function endpointTable(
  services: Iterable<Service>,
  tasksOf: (serviceId: string) => readonly Task[],
  nodeOf: (nodeId: string) => Node | undefined,
): WireServiceEndpoints[] {
  const table: WireServiceEndpoints[] = [];
  for (const service of services) {
    const ports = (service.endpoint?.ports ?? []).filter((p) => p.publishMode === 'ingress');
    if (ports.length === 0) continue;
    const tasks: WireTaskEndpoint[] = [];
    for (const task of tasksOf(service.meta.id)) {
      if (!takesTraffic(task) || task.status.ports === undefined) continue;
      const node = nodeOf(task.nodeId);
      if (node === undefined || node.status.state === 'down') continue;
      tasks.push({
        taskId: task.meta.id,
        nodeId: task.nodeId,
        nodeAddr: node.status.addr,
        addr: task.status.addr ?? '',
        ports: task.status.ports ?? [],
      });
    }
    tasks.sort((a, b) => (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0));
    table.push({ serviceId: service.meta.id, serviceName: service.spec.name, ports, tasks });
  }
  return table.sort((a, b) => (a.serviceId < b.serviceId ? -1 : 1));
}

/** Runs, is not unhealthy, and is meant to keep running: the mesh and the DNS may send clients to it. */
export function takesTraffic(task: Task): boolean {
  return (
    task.desiredState === 'running' &&
    task.status.state === 'running' &&
    task.status.health !== 'unhealthy'
  );
}
