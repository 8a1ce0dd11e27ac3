/**
 * The host of a `host:port` address as gRPC and orca write them (`10.0.0.5:2377`,
 * `[::1]:2377`), without the port and without IPv6 brackets: what a Node's status.addr holds.
 */
export function hostOfAddr(addr: string): string {
  const i = addr.lastIndexOf(':');
  return (i < 0 ? addr : addr.slice(0, i)).replace(/^\[|\]$/g, '');
}
