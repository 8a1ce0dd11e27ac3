// How an orca network is named on a node's links: a VXLAN id and device names that every node
// derives alike from the network's subnet, so nothing more has to be agreed or stored. The id is
// the subnet's top 24 bits: distinct for any two subnets of /24 or larger that do not overlap
// (every subnet of the default pool is a /24), and a VXLAN id is 24 bits.

import { parseIpv4 } from '../../api/ipv4.ts';

/** VXLAN's IANA port, as Linux and Swarm's overlay driver use it. */
export const VXLAN_PORT = 4789;
/** 1500 less VXLAN's 50 bytes of headers, as Docker's overlay driver sets it. */
export const OVERLAY_MTU = 1450;

export function vniOf(subnet: string): number {
  const base = parseIpv4(subnet.slice(0, subnet.indexOf('/')));
  if (base === null) throw new Error(`${subnet} is not an IPv4 subnet`);
  return base >>> 8;
}

const hex = (vni: number) => vni.toString(16).padStart(6, '0');

/** The engine network's bridge (the engine is told this name): 9 characters of Linux's 15. */
export function bridgeName(vni: number): string {
  return `obr${hex(vni)}`;
}

/** Every link named so in a node's namespace is the overlay's own. */
export const VXLAN_PREFIX = 'ovx';

export function vxlanName(vni: number): string {
  return `${VXLAN_PREFIX}${hex(vni)}`;
}
