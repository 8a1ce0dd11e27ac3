// The dispatcher's endpoint table as this node's mesh listeners. A task on this node is reached
// at its container's own address (no detour through the engine's port mapping); a task on
// another node at that node's data-path address and the host port its engine bound, never at
// the container's address, which need not route between hosts.

import type { WireServiceEndpoints } from '../api/dispatcher-wire.ts';
import type { MeshBackend, MeshListener } from './data-path.ts';

export function meshListeners(
  services: readonly WireServiceEndpoints[],
  selfNodeId: string,
): MeshListener[] {
  const listeners: MeshListener[] = [];
  for (const service of services) {
    for (const port of service.ports) {
      if (port.publishMode !== 'ingress') continue;
      const backends: MeshBackend[] = [];
      for (const task of service.tasks) {
        const bound = task.ports.find(
          (p) => p.protocol === port.protocol && p.targetPort === port.targetPort,
        );
        if (task.nodeId === selfNodeId && task.addr !== '') {
          backends.push({ id: task.taskId, host: task.addr, port: port.targetPort });
        } else if (bound !== undefined && task.nodeAddr !== '' && bound.hostPort > 0) {
          backends.push({ id: task.taskId, host: task.nodeAddr, port: bound.hostPort });
        }
      }
      listeners.push({
        protocol: port.protocol,
        port: port.publishedPort,
        lb: port.lb ?? 'round-robin',
        proxyProtocol: port.proxyProtocol === true,
        backends,
      });
    }
  }
  return listeners;
}
