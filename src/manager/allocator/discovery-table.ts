// Service discovery's table: for every orca network, the services attached to it with their
// virtual IP and the addresses of their tasks that may take traffic (the same rule as the
// routing mesh's table, so a task leaves the DNS answers the moment it is meant to stop).
// Derived from the store on the leader and pushed by the dispatcher to every node, whose DNS
// answers from it and whose tasks' VIP rules follow it; nothing about it is written to the log.

import type {
  WireDiscoveryNetwork,
  WireDiscoveryService,
  WirePeer,
} from '../../api/dispatcher-wire.ts';
import { parseIpv4 } from '../../api/ipv4.ts';
import type { Network, Node, Service, Task } from '../../api/objects.ts';
import { takesTraffic } from './endpoint-table.ts';

export function discoveryTable(
  networks: Iterable<Network>,
  services: Iterable<Service>,
  tasksOf: (serviceId: string) => readonly Task[],
): WireDiscoveryNetwork[] {
  const byNetwork = new Map<string, WireDiscoveryService[]>();
  for (const service of services) {
    const attachments = service.spec.task.networks ?? [];
    if (attachments.length === 0) continue;
    const mode = service.spec.endpoint?.mode ?? 'vip';
    const tasks = tasksOf(service.meta.id).filter(takesTraffic);
    for (const attachment of attachments) {
      const addresses: string[] = [];
      for (const task of tasks) {
        const addr = task.networks?.find((n) => n.network === attachment.target)?.addr;
        if (addr !== undefined) addresses.push(addr);
      }
      const vip = service.endpoint?.virtualIps?.find((v) => v.network === attachment.target);
      const entry: WireDiscoveryService = {
        serviceId: service.meta.id,
        name: service.spec.name,
        aliases: [...(attachment.aliases ?? [])],
        mode,
        ...(mode === 'vip' && vip !== undefined ? { vip: vip.addr } : {}),
        tasks: addresses.sort(byAddress),
      };
      const list = byNetwork.get(attachment.target) ?? [];
      list.push(entry);
      byNetwork.set(attachment.target, list);
    }
  }
  const table: WireDiscoveryNetwork[] = [];
  for (const network of networks) {
    const list = byNetwork.get(network.meta.id) ?? [];
    list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    table.push({
      network: network.meta.id,
      name: network.spec.name,
      subnet: network.subnet,
      services: list,
    });
  }
  return table.sort((a, b) => (a.network < b.network ? -1 : 1));
}

/** Where every node that is not down takes overlay traffic: its data-path address. */
export function overlayPeers(nodes: Iterable<Node>): WirePeer[] {
  const peers: WirePeer[] = [];
  for (const node of nodes) {
    if (node.status.state === 'down' || !node.status.addr) continue;
    peers.push({ nodeId: node.meta.id, addr: node.status.addr });
  }
  return peers.sort((a, b) => (a.nodeId < b.nodeId ? -1 : 1));
}

function byAddress(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}
