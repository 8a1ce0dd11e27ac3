// Published ports, cluster-wide. An ingress port is listened on by every node's mesh, so no two
// services may share one (per protocol), nor may a host-mode port of another service use it:
// the conflict is refused when the service is created or updated, not found when a container
// fails to start. Ingress ports given as 0 get one from Docker's dynamic range, and keep it
// across updates. Pure: the control API calls it inside the transaction that writes the
// service, so two creates racing for one port are ordered by the log.

import type {
  EndpointSpec,
  PortConfig,
  PortProtocol,
  Service,
  ServiceEndpoint,
  TaskPort,
} from '../../api/objects.ts';
import { OrcaError } from '../../errors.ts';

/** Swarm's range for ingress ports published without a number. */
export const dynamicPortRange = { first: 30000, last: 32767 } as const;

const key = (protocol: PortProtocol, port: number) => `${port}/${protocol}`;

function portInUse(port: PortConfig, owner: string): OrcaError {
  return new OrcaError(
    'ORCA_PORT_IN_USE',
    `spec.endpoint.ports: port ${key(port.protocol, port.publishedPort)} is already published by service ${owner}; choose another published port, or remove it from that service (orca service update --publish-rm ${port.publishedPort} ${owner})`,
  );
}

/**
 * The ports `spec` publishes, with every ingress port numbered; throws ORCA_PORT_IN_USE when
 * one is taken by another service. `previous` is what the service had before this update: an
 * unnumbered ingress port keeps the number it was given then.
 */
export function allocatePorts(
  spec: EndpointSpec | undefined,
  previous: ServiceEndpoint | undefined,
  others: Iterable<Service>,
): ServiceEndpoint | undefined {
  if (spec === undefined || spec.ports.length === 0) return undefined;
  const taken = new Map<string, { owner: string; ingress: boolean }>();
  for (const other of others) {
    for (const port of other.endpoint?.ports ?? []) {
      if (port.publishedPort === 0) continue;
      const k = key(port.protocol, port.publishedPort);
      const ingress = port.publishMode === 'ingress' || taken.get(k)?.ingress === true;
      taken.set(k, { owner: other.spec.name, ingress });
    }
  }
  const mine = new Set<string>();
  const ports = spec.ports.map((port) => {
    if (port.publishedPort === 0) return port;
    const use = taken.get(key(port.protocol, port.publishedPort));
    // Host-mode ports of different services may share a number (the scheduler keeps their
    // tasks on different nodes); an ingress port is bound on every node.
    if (use !== undefined && (use.ingress || port.publishMode === 'ingress')) {
      throw portInUse(port, use.owner);
    }
    mine.add(key(port.protocol, port.publishedPort));
    return port;
  });
  return {
    ports: ports.map((port) => {
      if (port.publishedPort !== 0 || port.publishMode !== 'ingress') return port;
      const kept = previous?.ports.find(
        (p) =>
          p.publishMode === 'ingress' &&
          p.protocol === port.protocol &&
          p.targetPort === port.targetPort &&
          !mine.has(key(p.protocol, p.publishedPort)) &&
          !taken.has(key(p.protocol, p.publishedPort)),
      );
      const number = kept?.publishedPort ?? freePort(port.protocol, taken, mine);
      mine.add(key(port.protocol, number));
      return { ...port, publishedPort: number };
    }),
  };
}

function freePort(
  protocol: PortProtocol,
  taken: ReadonlyMap<string, unknown>,
  mine: ReadonlySet<string>,
): number {
  for (let port = dynamicPortRange.first; port <= dynamicPortRange.last; port++) {
    const k = key(protocol, port);
    if (!taken.has(k) && !mine.has(k)) return port;
  }
  throw new OrcaError(
    'ORCA_NO_FREE_PORT',
    `spec.endpoint.ports: every port from ${dynamicPortRange.first} to ${dynamicPortRange.last} is published already; give a published port`,
  );
}

/**
 * What a task's container publishes on its node: ingress ports on a host port the engine picks
 * (the mesh finds it in the task's status), host-mode ports as given. The balancing options and
 * an ingress port's number are not here: changing them does not replace a task.
 */
export function taskPorts(endpoint: ServiceEndpoint | undefined): readonly TaskPort[] {
  return (endpoint?.ports ?? []).map((p) => ({
    protocol: p.protocol,
    targetPort: p.targetPort,
    publishedPort: p.publishMode === 'host' ? p.publishedPort : 0,
    publishMode: p.publishMode,
  }));
}
