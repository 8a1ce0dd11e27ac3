// A task's ContainerSpec as the Docker Engine API's create-container request (API 1.41, Docker
// 20.10+). Pure, so every field's mapping is tested without an engine; docker-runtime.ts only
// sends what this returns.

import type { WireNetworkAttachment } from '../api/dispatcher-wire.ts';
import { containerLabels } from '../api/objects.ts';
import { RuntimeError } from '../errors.ts';
import { bridgeName, OVERLAY_MTU, vniOf } from '../netmesh/overlay/vxlan-names.ts';
import type { RuntimeTask } from './runtime.ts';

/** The subset of the Engine API's ContainerConfig + HostConfig that orca sets. */
export interface EngineCreateBody {
  Image: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env: string[];
  Labels: Record<string, string>;
  User?: string;
  WorkingDir?: string;
  Hostname?: string;
  StopSignal?: string;
  /** Seconds. */
  StopTimeout: number;
  Healthcheck?: EngineHealthcheck;
  HostConfig: {
    Init: boolean;
    RestartPolicy: { Name: 'no' };
    Mounts: EngineMount[];
    NanoCpus?: number;
    Memory?: number;
    MemoryReservation?: number;
    PortBindings?: Record<string, { HostIp: string; HostPort: string }[]>;
    Dns?: string[];
  };
  ExposedPorts?: Record<string, Record<string, never>>;
}

export interface EngineHealthcheck {
  Test: string[];
  /** Nanoseconds; 0 or absent: the engine's default (or the image's, if it has one). */
  Interval?: number;
  Timeout?: number;
  Retries?: number;
  StartPeriod?: number;
}

export interface EngineMount {
  Type: 'bind' | 'volume' | 'tmpfs';
  Source?: string;
  Target: string;
  ReadOnly: boolean;
}

/**
 * Swarm's container name: `<service>.<slot>.<task>` for replicated tasks and
 * `<service>.<node>.<task>` for global ones (slot 0), so `docker ps` on a node reads the same.
 */
export function containerName(task: RuntimeTask): string {
  const middle = task.slot > 0 ? String(task.slot) : task.nodeId;
  return `${task.serviceName}.${middle}.${task.id}`;
}

/** orca's identity labels: what adoption after a worker restart reads back. */
export function taskLabels(task: RuntimeTask): Record<string, string> {
  return {
    [containerLabels.service]: task.serviceId,
    [containerLabels.serviceName]: task.serviceName,
    [containerLabels.task]: task.id,
    [containerLabels.slot]: String(task.slot),
    [containerLabels.node]: task.nodeId,
  };
}

const msToNs = (ms: number): number => Math.round(ms * 1_000_000);

export function createBody(task: RuntimeTask): EngineCreateBody {
  const spec = task.spec;
  const { limits, reservations } = task.resources;
  const body: EngineCreateBody = {
    Image: spec.image,
    Env: [...spec.env],
    // orca's labels last: a user's --container-label must not be able to disown or spoof a task.
    Labels: { ...spec.labels, ...taskLabels(task) },
    // The engine's stop timeout is whole seconds; rounding up never cuts a grace period short.
    StopTimeout: Math.ceil(spec.stopGracePeriodMs / 1000),
    HostConfig: {
      // Explicit, so a daemon-wide `"init": true` does not change what the spec asked for.
      Init: spec.init,
      // orca replaces a failed task with a new one (Swarm's rule): the engine restarting it
      // behind the worker's back would hide the failure and break the one-way task states.
      RestartPolicy: { Name: 'no' },
      Mounts: spec.mounts.map((m, i) => {
        if (m.type === 'bind' && !m.source) {
          throw new RuntimeError(`mounts[${i}] (bind to ${m.target}) has no source path`, {
            temporary: false,
          });
        }
        const mount: EngineMount = { Type: m.type, Target: m.target, ReadOnly: m.readOnly };
        // A volume without a source is anonymous; tmpfs never has one.
        if (m.source && m.type !== 'tmpfs') mount.Source = m.source;
        return mount;
      }),
    },
  };
  // Only when given: absent means the image's own, while [] is passed on for the engine to judge.
  if (spec.entrypoint !== undefined) body.Entrypoint = [...spec.entrypoint];
  if (spec.args !== undefined) body.Cmd = [...spec.args];
  if (spec.user) body.User = spec.user;
  if (spec.workdir) body.WorkingDir = spec.workdir;
  if (spec.hostname) body.Hostname = spec.hostname;
  if (spec.stopSignal) body.StopSignal = spec.stopSignal;
  if (spec.healthcheck) {
    const h = spec.healthcheck;
    // NONE takes no timings: the engine would keep them, but they would mean nothing.
    body.Healthcheck =
      h.test[0] === 'NONE'
        ? { Test: ['NONE'] }
        : {
            Test: [...h.test],
            Interval: msToNs(h.intervalMs),
            Timeout: msToNs(h.timeoutMs),
            Retries: h.retries,
            StartPeriod: msToNs(h.startPeriodMs),
          };
  }
  // 0 means "no limit" in Resources, and leaving the field out means the same to the engine.
  if (limits.nanoCpus > 0) body.HostConfig.NanoCpus = limits.nanoCpus;
  if (limits.memoryBytes > 0) body.HostConfig.Memory = limits.memoryBytes;
  if (reservations.memoryBytes > 0) body.HostConfig.MemoryReservation = reservations.memoryBytes;
  if (task.ports !== undefined && task.ports.length > 0) {
    body.ExposedPorts = {};
    body.HostConfig.PortBindings = {};
    for (const p of task.ports) {
      const key = `${p.targetPort}/${p.protocol}`;
      body.ExposedPorts[key] = {};
      // Ingress: a host port of the engine's choosing ('' asks for one), found again by
      // inspect; the mesh of every node forwards the published port there.
      const hostPort =
        p.publishMode === 'host' && p.publishedPort > 0 ? String(p.publishedPort) : '';
      const bindings = body.HostConfig.PortBindings[key] ?? [];
      bindings.push({ HostIp: '', HostPort: hostPort });
      body.HostConfig.PortBindings[key] = bindings;
    }
  }
  // The engine's resolver (127.0.0.11 on user-defined networks) answers container names and
  // asks this server for everything else: service names, and through it the host's resolvers.
  if (task.networks !== undefined && task.networks.length > 0 && task.dns !== undefined) {
    body.HostConfig.Dns = [task.dns];
  }
  // reservations.nanoCpus is deliberately not sent: a CPU reservation is a promise the
  // scheduler keeps by not overcommitting nodes, and the engine has no setting that guarantees
  // CPU (CpuShares is only a relative weight under contention), as in Swarm.
  return body;
}

/** The engine's network for an orca network: named after it, found again by its id label. */
export interface EngineNetworkBody {
  Name: string;
  Driver: 'bridge';
  CheckDuplicate: true;
  Internal: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  IPAM: { Driver: 'default'; Config: { Subnet: string; Gateway: string }[] };
}

export const networkLabels = { id: 'orca.network.id', name: 'orca.network.name' } as const;

/**
 * `orca_<name>`, so `docker network ls` on a node reads like the swarm's networks. The id label,
 * not the name, says which orca network it is: a network removed and created again under the
 * same name is another one, with another subnet.
 */
export function engineNetworkName(attachment: Pick<WireNetworkAttachment, 'name'>): string {
  return `orca_${attachment.name}`;
}

export function engineNetworkBody(attachment: WireNetworkAttachment): EngineNetworkBody {
  return {
    Name: engineNetworkName(attachment),
    Driver: 'bridge',
    CheckDuplicate: true,
    Internal: attachment.internal,
    Labels: { [networkLabels.id]: attachment.network, [networkLabels.name]: attachment.name },
    Options: {
      // A name every node derives alike, where the overlay joins its VXLAN device; and room
      // in each frame for VXLAN's headers, so packets between hosts need no fragmenting.
      'com.docker.network.bridge.name': bridgeName(vniOf(attachment.subnet)),
      'com.docker.network.driver.mtu': String(OVERLAY_MTU),
    },
    IPAM: {
      Driver: 'default',
      Config: [{ Subnet: attachment.subnet, Gateway: attachment.gateway }],
    },
  };
}
