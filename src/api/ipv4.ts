// IPv4 addresses and CIDR subnets as the network commands take them. Shared by the CLI (which
// names the flag) and the manager's allocator (which names the field): one reading of
// `--subnet 10.1.0.0/16` on both sides. Addresses are unsigned 32-bit numbers.

import { InvalidFlagsError } from '../errors.ts';

export interface Cidr {
  /** The network address. */
  readonly base: number;
  readonly prefix: number;
}

/** Overlay subnets smaller than a /29 leave no room for tasks; larger than a /8 is a typo. */
export const minPrefix = 8;
export const maxPrefix = 29;

/**
 * A dotted quad, or null. Leading zeros are refused, as Go's net.ParseIP refuses them: `010`
 * reads as 8 to some tools and 10 to others.
 */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function formatCidr(c: Cidr): string {
  return `${formatIpv4(c.base)}/${c.prefix}`;
}

/** How many addresses the subnet spans. */
export function sizeOf(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function contains(c: Cidr, addr: number): boolean {
  return addr >= c.base && addr < c.base + sizeOf(c);
}

/** Two subnets overlap exactly when one contains the other's network address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.base) || contains(b, a.base);
}

/**
 * `10.20.0.0/16`, or an InvalidFlagsError naming `field`. The address must be the network
 * address itself (as Docker refuses `172.28.5.1/16`): with host bits set the user most likely
 * meant a different network than the one it would give.
 */
export function parseSubnet(text: string, field: string): Cidr {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? '' : text.slice(slash + 1);
  const addr = parseIpv4(addrText);
  if (addr === null || !/^\d{1,2}$/.test(prefixText)) {
    throw new InvalidFlagsError([
      `${field}: "${text}" is not an IPv4 subnet in CIDR notation (example: 10.20.0.0/16)`,
    ]);
  }
  const prefix = Number(prefixText);
  if (prefix < minPrefix || prefix > maxPrefix) {
    throw new InvalidFlagsError([
      `${field}: "${text}": the prefix must be from /${minPrefix} to /${maxPrefix}`,
    ]);
  }
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    throw new InvalidFlagsError([
      `${field}: "${text}" has host bits set; the subnet is ${formatCidr({ base, prefix })}`,
    ]);
  }
  return { base, prefix };
}

/**
 * The gateway address inside `subnet`: neither its network address nor its broadcast address,
 * which no host can have. Throws an InvalidFlagsError naming `field`.
 */
export function parseGateway(text: string, subnet: Cidr, field: string): number {
  const addr = parseIpv4(text);
  if (addr === null) {
    throw new InvalidFlagsError([`${field}: "${text}" is not an IPv4 address`]);
  }
  if (!contains(subnet, addr)) {
    throw new InvalidFlagsError([
      `${field}: ${text} is not inside the subnet ${formatCidr(subnet)}`,
    ]);
  }
  if (addr === subnet.base || addr === subnet.base + sizeOf(subnet) - 1) {
    throw new InvalidFlagsError([
      `${field}: ${text} is the ${addr === subnet.base ? 'network' : 'broadcast'} address of ${formatCidr(subnet)}; give a host address`,
    ]);
  }
  return addr;
}
