import type { TaskPort } from '../../../api/objects.ts';
import type { Filter } from '../filter.ts';
import { nodes } from '../filter.ts';
import type { NodeInfo } from '../node-info.ts';

/** Host-mode ports the task binds on its node by number (0 lets the engine choose: no clash). */
function fixedHostPorts(ports: readonly TaskPort[] | undefined): string[] {
  return (ports ?? [])
    .filter((p) => p.publishMode === 'host' && p.publishedPort > 0)
    .map((p) => `${p.publishedPort}/${p.protocol}`);
}

function usedOn(node: NodeInfo): Set<string> {
  const used = new Set<string>();
  for (const task of node.tasks.values()) for (const k of fixedHostPorts(task.ports)) used.add(k);
  return used;
}

/** `--publish mode=host,published=N`: one task per node may bind N, as Swarm's PortFilter. */
export const hostPortsFilter: Filter = {
  name: 'host-ports',
  check: (request, node) => {
    const wanted = fixedHostPorts(request.task.ports);
    if (wanted.length === 0) return true;
    const used = usedOn(node);
    return wanted.every((k) => !used.has(k));
  },
  explain: (count) => `host-mode port already in use on ${nodes(count)}`,
};
