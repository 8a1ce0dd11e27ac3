// The names Docker gives a service on a network, so that what works in a Swarm stack works in
// orca: `<service>` answers the virtual IP in vip mode and every healthy task in dnsrr mode;
// `tasks.<service>` always answers the healthy tasks, so a client that wants to reach each
// replica (a cluster forming, a metrics scraper) can in either mode.

export type EndpointMode = 'vip' | 'dnsrr';

export interface ServiceEndpoint {
  readonly name: string;
  readonly mode: EndpointMode;
  /** The service's virtual IP on this network; required in vip mode, ignored in dnsrr. */
  readonly vip?: string;
  /** IPv4 addresses of the healthy tasks on this network. */
  readonly taskAddresses: readonly string[];
}

/** The records of one network's services, ready for DnsServer.setRecords. */
export function serviceRecords(services: Iterable<ServiceEndpoint>): Map<string, string[]> {
  const records = new Map<string, string[]>();
  for (const s of services) {
    const tasks = [...s.taskAddresses];
    if (s.mode === 'vip') {
      // No VIP yet (being allocated) means no answer yet, rather than a task address that
      // would bypass the load balancer for as long as the client caches it.
      records.set(s.name, s.vip === undefined ? [] : [s.vip]);
    } else {
      records.set(s.name, tasks);
    }
    records.set(`tasks.${s.name}`, tasks);
  }
  return records;
}
