// This host's worker, as a manager runs it beside its own dispatcher and as a worker-only node
// runs it alone: one dispatcher session to a manager's cluster port, on mutual TLS with this
// node's own certificate, driving the containers of the local engine.

import type {
  WireDiscoveryNetwork,
  WirePeer,
  WireServiceEndpoints,
} from '../api/dispatcher-wire.ts';
import { containerLabels, type NodeDescription, type NodeRole } from '../api/objects.ts';
import { type NodeTlsMaterial, nodeClientTls } from '../ca/index.ts';
import { DockerRuntime } from '../worker/docker-runtime.ts';
import type { SandboxHost } from '../worker/sandboxes.ts';
import { WorkerSession } from '../worker/session.ts';
import type { Logger } from './logger.ts';

export interface WorkerRoleOptions {
  /** The manager's cluster address. */
  readonly managerAddr: string;
  /** More managers to look for the leader among (a manager's own worker: its Raft peers). */
  readonly managers?: () => readonly string[];
  /** The role the node's spec asks for, told by the dispatcher of `manager`. */
  readonly onRole?: (role: NodeRole, manager: string) => void;
  /** Every manager's cluster address, as a session named them. */
  readonly onManagers?: (addrs: readonly string[]) => void;
  readonly nodeId: string;
  /** Where other nodes reach this node's published host ports; absent: as the swarm has it. */
  readonly dataPathAddr?: string;
  /** The routing mesh's table, each time the dispatcher sends it. */
  readonly onEndpoints?: (services: readonly WireServiceEndpoints[]) => void;
  /** Service discovery's table, each time the dispatcher sends it. */
  readonly onDiscovery?: (
    networks: readonly WireDiscoveryNetwork[],
    peers: readonly WirePeer[],
  ) => void;
  /** Sets up the namespaces of tasks on orca networks; absent: they get no DNS or VIPs. */
  readonly sandboxHost?: SandboxHost;
  readonly tls: NodeTlsMaterial;
  readonly dockerHost: string;
  readonly describe: () => Promise<NodeDescription>;
  readonly reportIntervalMs: number;
  readonly log: Logger;
}

/** Started: the session dials (and redials) in the background. */
export function startWorkerRole(opts: WorkerRoleOptions): WorkerSession {
  const { credentials, channelOptions } = nodeClientTls(opts.tls, { role: 'manager' });
  const worker = new WorkerSession({
    addr: opts.managerAddr,
    ...(opts.managers === undefined ? {} : { managers: opts.managers }),
    ...(opts.onRole === undefined ? {} : { onRole: opts.onRole }),
    ...(opts.onManagers === undefined ? {} : { onManagers: opts.onManagers }),
    credentials,
    channelOptions,
    nodeId: opts.nodeId,
    ...(opts.dataPathAddr === undefined ? {} : { dataPathAddr: opts.dataPathAddr }),
    ...(opts.onEndpoints === undefined ? {} : { onEndpoints: opts.onEndpoints }),
    ...(opts.onDiscovery === undefined ? {} : { onDiscovery: opts.onDiscovery }),
    ...(opts.sandboxHost === undefined ? {} : { sandboxHost: opts.sandboxHost }),
    runtime: new DockerRuntime({ host: opts.dockerHost }),
    log: opts.log,
    describe: opts.describe,
    describeIntervalMs: opts.reportIntervalMs,
  });
  worker.start();
  return worker;
}

/** How long leaving waits for the engine to remove the node's containers. */
const REMOVAL_WAIT_MS = 15_000;

/**
 * Removes the containers of this node's tasks, as Docker does when a node leaves its swarm:
 * no one would ever stop them otherwise, and the manager runs their tasks elsewhere. An engine
 * that cannot be reached, or does not answer in time, is logged, not fatal: leaving must not
 * depend on it.
 */
export async function removeNodeContainers(
  dockerHost: string,
  nodeId: string,
  log: Logger,
): Promise<void> {
  const runtime = new DockerRuntime({ host: dockerHost });
  const removal = (async () => {
    const containers = await runtime.list({ [containerLabels.node]: nodeId });
    await Promise.all(containers.map((c) => runtime.remove(c.id)));
    return containers.length;
  })();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`the engine did not answer within ${REMOVAL_WAIT_MS / 1000} s`)),
      REMOVAL_WAIT_MS,
    );
  });
  try {
    const removed = await Promise.race([removal, expired]);
    if (removed > 0) log.info({ removed }, "removed this node's task containers");
  } catch (err) {
    log.warn({ err }, "could not remove this node's task containers");
  } finally {
    clearTimeout(timer);
  }
}
