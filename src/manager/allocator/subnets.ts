// Subnets of orca networks, cluster-wide. Every network spans every node, so two networks
// whose subnets overlap would give two tasks the same address: the overlap is refused when the
// network is created, not found when a container cannot reach its peer. Pure: the control API
// calls it inside the transaction that writes the network, so two creates racing for one subnet
// are ordered by the log.

import {
  type Cidr,
  formatCidr,
  formatIpv4,
  overlaps,
  parseGateway,
  parseSubnet,
  sizeOf,
} from '../../api/ipv4.ts';
import type { IpamConfig, Network } from '../../api/objects.ts';
import { OrcaError } from '../../errors.ts';

/**
 * Swarm's default address pool (`docker swarm init --default-addr-pool 10.0.0.0/8
 * --default-addr-pool-mask-length 24`): room for 65 536 networks of 254 tasks each, in a range
 * that private networks rarely route as a whole.
 */
export const defaultAddressPool: Cidr = { base: 10 * 2 ** 24, prefix: 8 };
export const defaultSubnetPrefix = 24;

export interface SubnetAllocation {
  readonly subnet: string;
  readonly gateway: string;
}

interface Taken {
  readonly cidr: Cidr;
  readonly name: string;
}

function takenBy(networks: Iterable<Network>): Taken[] {
  const taken: Taken[] = [];
  for (const n of networks) {
    try {
      taken.push({ cidr: parseSubnet(n.subnet, 'subnet'), name: n.spec.name });
    } catch {
      // A stored network always has a valid subnet; one that does not claims nothing.
    }
  }
  return taken;
}

/**
 * The subnet and gateway of a new network: `ipam` as given (checked, problems naming
 * `spec.ipam.*`), or the first /24 of the default pool no other network overlaps. Throws
 * ORCA_SUBNET_IN_USE when a given subnet overlaps another network's, ORCA_POOL_EXHAUSTED when
 * the pool has no /24 left.
 */
export function allocateSubnet(
  ipam: IpamConfig | undefined,
  others: Iterable<Network>,
): SubnetAllocation {
  const taken = takenBy(others);
  if (ipam !== undefined) {
    const cidr = parseSubnet(ipam.subnet, 'spec.ipam.subnet');
    const gateway =
      ipam.gateway === undefined
        ? cidr.base + 1
        : parseGateway(ipam.gateway, cidr, 'spec.ipam.gateway');
    const clash = taken.find((t) => overlaps(t.cidr, cidr));
    if (clash !== undefined) {
      throw new OrcaError(
        'ORCA_SUBNET_IN_USE',
        `spec.ipam.subnet: ${formatCidr(cidr)} overlaps the subnet ${formatCidr(clash.cidr)} of network ${clash.name}; choose another --subnet, or leave it out to get a free one`,
      );
    }
    return { subnet: formatCidr(cidr), gateway: formatIpv4(gateway) };
  }
  const cidr = firstFree(
    defaultAddressPool,
    defaultSubnetPrefix,
    taken.map((t) => t.cidr),
  );
  if (cidr === null) {
    throw new OrcaError(
      'ORCA_POOL_EXHAUSTED',
      `the default address pool ${formatCidr(defaultAddressPool)} has no free /${defaultSubnetPrefix} left; give the network a --subnet outside it`,
    );
  }
  return { subnet: formatCidr(cidr), gateway: formatIpv4(cidr.base + 1) };
}

/**
 * The lowest subnet of `prefix` inside `pool` that overlaps nothing taken. A candidate that
 * overlaps a larger taken subnet skips past the whole of it, so a user's /16 in the pool costs
 * one step, not 256.
 */
export function firstFree(pool: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | null {
  const step = 2 ** (32 - prefix);
  const end = pool.base + sizeOf(pool);
  let base = pool.base;
  while (base + step <= end) {
    const candidate = { base, prefix };
    const clash = taken.find((t) => overlaps(t, candidate));
    if (clash === undefined) return candidate;
    // Past the clash, aligned up to the next candidate boundary.
    const past = Math.max(clash.base + sizeOf(clash), base + step);
    base = Math.ceil((past - pool.base) / step) * step + pool.base;
  }
  return null;
}
