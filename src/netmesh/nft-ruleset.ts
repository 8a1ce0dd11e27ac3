// The routing mesh's kernel data path as nftables text, generated from the listeners alone so
// that what the kernel is told can be read and tested without root. The shape follows
// kube-proxy's nftables mode: one table owned by orca, a verdict map from (protocol, port) to a
// chain per listener, DNAT to a backend picked by `numgen`, and a packet mark that asks
// postrouting to masquerade. docs/design/netmesh-kernel.md explains each choice.

import { isIPv4 } from 'node:net';
import type { ListenerFailure, LoadBalancing, MeshListener, MeshProtocol } from './data-path.ts';

export interface NftRulesetOptions {
  /** The table orca owns in family `ip`; nothing else in the kernel is touched. */
  readonly table: string;
  /** The IPv4 address listened on; 0.0.0.0 means every local address except 127.0.0.0/8. */
  readonly bindAddr: string;
  /** The packet mark bit that asks postrouting to masquerade. */
  readonly masqueradeMark: number;
}

export interface NftRuleset {
  /** One `nft -f -` transaction that replaces the whole table (or removes it: no listeners). */
  readonly script: string;
  /** The listeners the script serves, sorted by protocol then port. */
  readonly served: readonly MeshListener[];
  /** The listeners it cannot serve, and why: the caller serves them another way or not at all. */
  readonly failures: readonly ListenerFailure[];
}

export const DEFAULT_TABLE = 'orca_mesh';
// kube-proxy's bit, with the same meaning there ("masquerade this"): sharing it with a
// kube-proxy on the same host only makes either masquerade what both would have masqueraded.
export const DEFAULT_MASQUERADE_MARK = 0x4000;

const LOOPBACK = '127.0.0.0/8';
const PROTOCOLS: readonly MeshProtocol[] = ['tcp', 'udp'];

/** Why a table name cannot be used, or undefined when it can. */
export function tableNameProblem(table: string): string | undefined {
  // nft reads an unquoted identifier; anything else would need quoting rules we do not need.
  return /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(table)
    ? undefined
    : `table name ${JSON.stringify(table)} must be a letter then up to 63 letters, digits or _`;
}

/** Whether an IPv4 literal lies in 127.0.0.0/8. */
export function isLoopbackV4(addr: string): boolean {
  return isIPv4(addr) && addr.startsWith('127.');
}

/**
 * The transaction that makes the table hold exactly these listeners. It always creates the
 * table before deleting it, so one script works whether or not a table is there, and nft runs
 * the whole file as one transaction: the kernel never sees half a ruleset.
 */
export function buildRuleset(
  listeners: readonly MeshListener[],
  opts: NftRulesetOptions,
): NftRuleset {
  const { served, failures } = validate(listeners);
  const reset = removeTableScript(opts.table);
  if (served.length === 0) return { script: reset, served, failures };
  return { script: reset + tableDefinition(served, opts), served, failures };
}

/** Removes the table if it is there; never fails for a missing one. */
export function removeTableScript(table: string): string {
  return `table ip ${table} {}\ndelete table ip ${table}\n`;
}

/** `numgen` picks without state, so only the two stateless policies map onto it (docs). */
export function numgenMode(lb: LoadBalancing): 'inc' | 'random' {
  switch (lb) {
    case 'round-robin':
      return 'inc';
    // The kernel does not count a backend's open connections; round robin spreads evenly.
    case 'least-conn':
      return 'inc';
    // Two random choices compared by load need that load too; one random choice is left.
    case 'p2c':
      return 'random';
  }
}

function validate(listeners: readonly MeshListener[]): {
  served: MeshListener[];
  failures: ListenerFailure[];
} {
  const served: MeshListener[] = [];
  const failures: ListenerFailure[] = [];
  const seen = new Set<string>();
  for (const l of listeners) {
    const fail = (message: string) =>
      failures.push({ protocol: l.protocol, port: l.port, message });
    if (!PROTOCOLS.includes(l.protocol)) {
      fail(`protocol ${String(l.protocol)} is neither tcp nor udp`);
      continue;
    }
    if (!isPort(l.port)) {
      fail(`port ${l.port} is not in 1-65535`);
      continue;
    }
    // One bad element would make nft reject the whole transaction, so a duplicate key must
    // never reach it: the first listener keeps the port.
    const key = `${l.protocol}/${l.port}`;
    if (seen.has(key)) {
      fail(`${key} is listed twice; the first listener keeps it`);
      continue;
    }
    seen.add(key);
    if (l.proxyProtocol) {
      fail(
        'PROXY protocol needs the user-space data path: DNAT rewrites addresses ' +
          'but cannot add a header to the stream',
      );
      continue;
    }
    const bad = l.backends.map(backendProblem).find((p) => p !== undefined);
    if (bad) {
      fail(bad);
      continue;
    }
    served.push(l);
  }
  served.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.port - b.port);
  return { served, failures };
}

function backendProblem(b: MeshListener['backends'][number]): string | undefined {
  if (!isIPv4(b.host)) {
    return `backend ${b.id} at ${b.host}: the kernel data path takes IPv4 addresses only`;
  }
  // Another host's packet DNAT'd to 127.x is a martian the kernel drops: a backend must be
  // reached at an address that is routable from outside this node.
  if (isLoopbackV4(b.host)) {
    return `backend ${b.id} at ${b.host}: DNAT to a loopback address drops other hosts' traffic; give a routable address`;
  }
  if (!isPort(b.port)) return `backend ${b.id} port ${b.port} is not in 1-65535`;
  return undefined;
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 1 && port <= 65535;
}

function chainName(l: MeshListener): string {
  return `listener_${l.protocol}_${l.port}`;
}

function hex(mark: number): string {
  return `0x${mark.toString(16).padStart(8, '0')}`;
}

// Which destinations count as "this node's published port".
function destinationMatch(bindAddr: string): string {
  if (bindAddr !== '0.0.0.0') return `ip daddr ${bindAddr}`;
  // Loopback is left out: DNAT from 127.x to another host needs route_localnet, which orca
  // changes only when asked to listen on a loopback address (docs).
  return `ip daddr != ${LOOPBACK} fib daddr type local`;
}

function tableDefinition(served: readonly MeshListener[], opts: NftRulesetOptions): string {
  const dest = destinationMatch(opts.bindAddr);
  const mark = hex(opts.masqueradeMark);
  const withBackends = served.filter((l) => l.backends.length > 0);
  const empty = served.filter((l) => l.backends.length === 0);
  const lines: string[] = [`table ip ${opts.table} {`];

  if (withBackends.length > 0) {
    const elements = withBackends.map((l) => `${l.protocol} . ${l.port} : goto ${chainName(l)}`);
    lines.push(
      '  map listeners {',
      '    type inet_proto . inet_service : verdict',
      `    elements = { ${elements.join(', ')} }`,
      '  }',
      // The nat hooks see only the first packet of a connection or UDP flow; conntrack applies
      // the same translation to the rest, so an apply() never moves an established flow.
      '  chain prerouting {',
      '    type nat hook prerouting priority -100; policy accept;',
      `    ${dest} meta l4proto . th dport vmap @listeners`,
      '  }',
      '  chain output {',
      '    type nat hook output priority -100; policy accept;',
      `    ${dest} meta l4proto . th dport vmap @listeners`,
      '  }',
      // The backend must answer through this node, or the client sees a reply from an
      // address it never called; the mark is cleared so it does not leak into later hops.
      '  chain postrouting {',
      '    type nat hook postrouting priority 100; policy accept;',
      `    meta mark & ${mark} == 0 return`,
      `    meta mark set meta mark ^ ${mark}`,
      '    masquerade fully-random',
      '  }',
    );
    for (const l of withBackends) {
      lines.push(`  chain ${chainName(l)} {`, `    meta mark set meta mark | ${mark}`);
      lines.push(`    meta l4proto ${l.protocol} dnat to ${dnatTarget(l)}`, '  }');
    }
  }

  if (empty.length > 0) {
    // With no backend a packet would reach whatever listens locally on the port, or vanish;
    // a reset or port-unreachable tells the client at once.
    const rejects: string[] = [];
    for (const protocol of PROTOCOLS) {
      const ports = empty.filter((l) => l.protocol === protocol).map((l) => l.port);
      if (ports.length === 0) continue;
      lines.push(
        `  set no_backends_${protocol} {`,
        '    type inet_service',
        `    elements = { ${ports.join(', ')} }`,
        '  }',
      );
      const how = protocol === 'tcp' ? 'reject with tcp reset' : 'reject';
      // The port lookup comes first: filter hooks see every packet, not just new flows.
      rejects.push(`    ${protocol} dport @no_backends_${protocol} ${dest} ${how}`);
    }
    for (const hook of ['input', 'output']) {
      lines.push(
        `  chain reject_${hook} {`,
        `    type filter hook ${hook} priority 0; policy accept;`,
        ...rejects,
        '  }',
      );
    }
  }

  lines.push('}');
  return `${lines.join('\n')}\n`;
}

function dnatTarget(l: MeshListener): string {
  const [only, ...rest] = l.backends;
  if (only && rest.length === 0) return `${only.host}:${only.port}`;
  const elements = l.backends.map((b, i) => `${i} : ${b.host} . ${b.port}`);
  return `numgen ${numgenMode(l.lb)} mod ${l.backends.length} map { ${elements.join(', ')} }`;
}
