import { networkInterfaces } from 'node:os';
import { OrcaError } from '../errors.ts';

/** Swarm's cluster management port: orca's Raft and (later) dispatcher traffic use the same. */
export const DEFAULT_CLUSTER_PORT = 2377;

export function badFlag(message: string): OrcaError {
  return new OrcaError('ORCA_BAD_REQUEST', message);
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * `host[:port]` as Swarm's --listen-addr and --advertise-addr take it (IPv6 in brackets); a
 * missing port is `defaultPort`.
 */
export function parseHostPort(text: string, flag: string, defaultPort: number): HostPort {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]\s]+)(?::(\d+))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? defaultPort : Number(m[2]);
  if (m === null || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw badFlag(
      `${flag}: "${text}" is not host[:port] (examples: 0.0.0.0:2377, 10.0.0.5, [::1]:2377)`,
    );
  }
  return { host: m[1] as string, port };
}

export function formatHostPort(hp: HostPort): string {
  return `${hp.host}:${hp.port}`;
}

function isUnspecified(host: string): boolean {
  return host === '0.0.0.0' || host === '[::]' || host === '::';
}

/**
 * The address other members dial. Given: its port defaults to the listen port. Not given: the
 * listen host when it names one, else the first non-loopback IPv4 address of this machine, as
 * Swarm does when the choice is unambiguous (Swarm refuses when several interfaces qualify;
 * orca takes the first and logs it, since a wrong guess is fixed by giving --advertise-addr).
 */
export function resolveAdvertise(
  listen: HostPort,
  advertise: string | undefined,
  flag: string,
): HostPort {
  if (advertise !== undefined && advertise !== '') {
    return parseHostPort(advertise, flag, listen.port);
  }
  if (!isUnspecified(listen.host)) return listen;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (a.family === 'IPv4' && !a.internal) return { host: a.address, port: listen.port };
    }
  }
  return { host: '127.0.0.1', port: listen.port };
}
