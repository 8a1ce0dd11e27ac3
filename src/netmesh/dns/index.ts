// The embedded DNS server's public surface: what the daemon uses to run one on a node and feed
// it the names of each network's services.

export {
  DEFAULT_TTL_SECONDS,
  DEFAULT_UPSTREAM_TIMEOUT_MS,
  type DnsLogger,
  DnsServer,
  type DnsServerOptions,
  type DnsSockets,
} from './dns-server.ts';
export { DnsConfigError } from './errors.ts';
export { type EndpointMode, type ServiceEndpoint, serviceRecords } from './service-records.ts';
export { parseResolvConf, readResolvConf } from './upstreams.ts';
