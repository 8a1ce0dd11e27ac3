// The virtual IPs a task reaches, as nftables rules inside its own network namespace (Swarm
// puts IPVS there for the same reason): a connection to a VIP is sent, on its first packet, to
// one of the service's healthy tasks, round robin, and conntrack keeps the rest of the flow on
// it and rewrites the replies. No daemon process is on the path, and the client's own address
// reaches the task unchanged. A VIP with no task to go to refuses at once (TCP reset, ICMP
// unreachable) rather than leave a client waiting for a timeout.

import type { WireDiscoveryNetwork } from '../../api/dispatcher-wire.ts';

export const SANDBOX_TABLE = 'orca_vips';

export interface VipTarget {
  readonly vip: string;
  /** Healthy tasks' addresses on the VIP's network; empty: refused. */
  readonly tasks: readonly string[];
}

/** The VIPs of the services on `networks` (a task's own), with where each leads. */
export function vipTargets(
  table: readonly WireDiscoveryNetwork[],
  networks: readonly string[],
): VipTarget[] {
  const wanted = new Set(networks);
  const targets: VipTarget[] = [];
  for (const network of table) {
    if (!wanted.has(network.network)) continue;
    for (const service of network.services) {
      if (service.mode !== 'vip' || service.vip === undefined) continue;
      targets.push({ vip: service.vip, tasks: service.tasks });
    }
  }
  return targets.sort((a, b) => (a.vip < b.vip ? -1 : a.vip > b.vip ? 1 : 0));
}

/**
 * One nft transaction that replaces the table whole (declared first so that the delete
 * never fails on a namespace that has none yet): applying it twice is the same as once.
 */
export function vipRuleset(targets: readonly VipTarget[]): string {
  const dnat: string[] = [];
  const refused: string[] = [];
  for (const t of targets) {
    if (t.tasks.length === 0) refused.push(t.vip);
    else if (t.tasks.length === 1) dnat.push(`    ip daddr ${t.vip} dnat to ${t.tasks[0]}`);
    else {
      const map = t.tasks.map((addr, i) => `${i} : ${addr}`).join(', ');
      dnat.push(`    ip daddr ${t.vip} dnat to numgen inc mod ${t.tasks.length} map { ${map} }`);
    }
  }
  const reject =
    refused.length === 0
      ? []
      : [
          `    ip daddr { ${refused.join(', ')} } meta l4proto tcp reject with tcp reset`,
          `    ip daddr { ${refused.join(', ')} } reject`,
        ];
  return [
    `table ip ${SANDBOX_TABLE}`,
    `delete table ip ${SANDBOX_TABLE}`,
    `table ip ${SANDBOX_TABLE} {`,
    '  chain vips {',
    '    type nat hook output priority -100; policy accept;',
    ...dnat,
    '  }',
    '  chain unserved {',
    '    type filter hook output priority 0; policy accept;',
    ...reject,
    '  }',
    '}',
    '',
  ].join('\n');
}
