// Where names orca does not know are sent: the resolvers the host itself uses. The server runs
// in the daemon, on the host, so a loopback resolver in resolv.conf (systemd-resolved's
// 127.0.0.53, a local dnsmasq) is as usable to it as any other; only containers cannot use those.

import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { DnsConfigError } from './errors.ts';

export interface Upstream {
  readonly host: string;
  readonly port: number;
}

export const RESOLV_CONF = '/etc/resolv.conf';
/** glibc reads no more than three nameservers (MAXNS); more would surprise whoever wrote them. */
const MAX_NAMESERVERS = 3;

/**
 * The nameservers of resolv.conf as glibc reads them: `nameserver ADDR` lines, the first three
 * that hold an IP address, comments from `#` or `;` at the start of a line. Without any
 * nameserver glibc asks the local host; so does this.
 */
export function parseResolvConf(text: string): string[] {
  const nameservers: string[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/[ \t]+/);
    const keyword = words[0];
    if (keyword === undefined || keyword.startsWith('#') || keyword.startsWith(';')) continue;
    if (keyword === 'nameserver') {
      const addr = words[1];
      if (addr !== undefined && isIP(addr.split('%')[0]!) !== 0) {
        if (nameservers.length < MAX_NAMESERVERS) nameservers.push(addr);
      }
    }
  }
  return nameservers.length > 0 ? nameservers : ['127.0.0.1'];
}

export async function readResolvConf(path = RESOLV_CONF): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    text = '';
  }
  return parseResolvConf(text);
}

/**
 * `10.0.0.2`, `10.0.0.2:5353`, `::1`, `[::1]:5353` or `fe80::1%eth0`: the forms resolv.conf
 * and Node's Resolver.setServers accept.
 */
export function parseUpstream(text: string): Upstream {
  let host = text;
  let port = 53;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (bracket !== null) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
  } else {
    const colon = text.lastIndexOf(':');
    // One colon is IPv4 with a port; several are an IPv6 address without one.
    if (colon >= 0 && text.indexOf(':') === colon) {
      host = text.slice(0, colon);
      port = /^\d+$/.test(text.slice(colon + 1)) ? Number(text.slice(colon + 1)) : Number.NaN;
    }
  }
  if (isIP(host.split('%')[0]!) === 0 || !Number.isInteger(port) || port < 1 || port > 0xffff)
    throw new DnsConfigError(`upstream ${JSON.stringify(text)} is not an IP address with a port`);
  return { host, port };
}

export function upstreamLabel(u: Upstream): string {
  return u.host.includes(':') ? `[${u.host}]:${u.port}` : `${u.host}:${u.port}`;
}
