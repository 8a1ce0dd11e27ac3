// The DNS server's own errors, shaped like orca's (a stable code, a message naming the bad
// input): the module imports nothing of orca, so they live here until the daemon wires it.

export class DnsConfigError extends Error {
  readonly code = 'ORCA_DNS_CONFIG';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'DnsConfigError';
  }
}
