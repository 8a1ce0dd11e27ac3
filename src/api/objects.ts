// The cluster's objects as they are stored, replicated and sent between manager, worker and
// CLI. Modelled on Docker Swarm's (swarmkit api/objects.proto, specs.proto, types.proto) so that
// a Swarm user recognises every field, with two deliberate differences: durations are
// milliseconds (not nanoseconds) and every object carries a version for optimistic concurrency.
// Plain data only: these cross the Raft log, gRPC and `--format json` unchanged.

export interface Meta {
  readonly id: string;
  /** Raft index of the last change; an update based on an older version is refused. */
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export type Labels = Readonly<Record<string, string>>;

// ---- nodes ------------------------------------------------------------------------------------

export type NodeRole = 'manager' | 'worker';
export type NodeAvailability = 'active' | 'pause' | 'drain';
export type NodeState = 'unknown' | 'down' | 'ready' | 'disconnected';

export interface NodeSpec {
  readonly role: NodeRole;
  readonly availability: NodeAvailability;
  readonly labels: Labels;
}

export interface Platform {
  /** As Go names them (GOOS/GOARCH), as Swarm's node.platform.os / node.platform.arch. */
  readonly os: string;
  readonly arch: string;
}

export interface Capacity {
  /** CPU in units of 1e-9 CPU, as Swarm's NanoCPUs: 1.5 CPUs is 1_500_000_000. */
  readonly nanoCpus: number;
  readonly memoryBytes: number;
}

/** Live use of the whole host, by orca's tasks or anything else. */
export interface NodeUsage {
  /**
   * Share of all the host's CPU time that was busy since the previous measurement: 0..100
   * whatever the number of cores (a 4-core host with one core saturated reads 25).
   */
  readonly cpuPercent: number;
  /** Memory in use, not counting what the kernel can reclaim (page cache, buffers). */
  readonly memoryBytes: number;
  /** When the node measured it (its own clock), so a reader can tell how fresh it is. */
  readonly measuredAt: string;
}

/** What a node reports about itself when it joins and periodically after. */
export interface NodeDescription {
  readonly hostname: string;
  readonly platform: Platform;
  readonly resources: Capacity;
  /** The container engine's version and its daemon labels (`engine.labels.<key>` constraints). */
  readonly engine: { readonly version: string; readonly labels: Labels };
  /** The scorers' tie-breaker; null until the node has measured it. */
  readonly usage: NodeUsage | null;
}

export interface NodeStatus {
  readonly state: NodeState;
  readonly message: string;
  /** The address the node is reached at (data path). */
  readonly addr: string;
}

export interface Node {
  readonly meta: Meta;
  readonly spec: NodeSpec;
  readonly description: NodeDescription;
  readonly status: NodeStatus;
}

// ---- services ---------------------------------------------------------------------------------

export interface Mount {
  readonly type: 'bind' | 'volume' | 'tmpfs';
  /** Host path (bind) or volume name (volume); absent for tmpfs and anonymous volumes. */
  readonly source?: string;
  readonly target: string;
  readonly readOnly: boolean;
}

export interface HealthConfig {
  /** As Docker's: ['CMD', ...], ['CMD-SHELL', '...'], or ['NONE'] to disable the image's own. */
  readonly test: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly startPeriodMs: number;
}

export interface ContainerSpec {
  readonly image: string;
  /** Overrides the image's entrypoint (`--entrypoint`). */
  readonly entrypoint?: readonly string[];
  /** COMMAND and ARGs after the image on `service create`. */
  readonly args?: readonly string[];
  /** KEY=VALUE, in order; later entries win. */
  readonly env: readonly string[];
  /** `--container-label`: labels on the containers (the service's own labels are `labels`). */
  readonly labels: Labels;
  readonly user?: string;
  readonly workdir?: string;
  readonly hostname?: string;
  readonly init: boolean;
  readonly stopSignal?: string;
  readonly stopGracePeriodMs: number;
  readonly mounts: readonly Mount[];
  /** Absent: the image's HEALTHCHECK applies. */
  readonly healthcheck?: HealthConfig;
}

export interface Resources {
  readonly limits: Capacity;
  readonly reservations: Capacity;
}

export interface RestartPolicy {
  readonly condition: 'none' | 'on-failure' | 'any';
  readonly delayMs: number;
  /** 0: unlimited, as Swarm. */
  readonly maxAttempts: number;
  /** 0: unbounded, as Swarm. */
  readonly windowMs: number;
}

export interface Placement {
  /** As Swarm: `node.labels.zone==east`, `node.role!=manager`, ... */
  readonly constraints: readonly string[];
  /** `--placement-pref spread=node.labels.zone`: spread over the values of a label. */
  readonly preferences: readonly { readonly spread: string }[];
  /** `--replicas-max-per-node`; 0: unlimited. */
  readonly maxReplicasPerNode: number;
}

export interface UpdateConfig {
  /** Tasks updated at once; 0: all at once, as Swarm. */
  readonly parallelism: number;
  readonly delayMs: number;
  readonly failureAction: 'pause' | 'continue' | 'rollback';
  readonly monitorMs: number;
  readonly maxFailureRatio: number;
  readonly order: 'stop-first' | 'start-first';
}

export interface TaskSpec {
  readonly container: ContainerSpec;
  readonly resources: Resources;
  readonly restart: RestartPolicy;
  readonly placement: Placement;
  /** Bumped by `service update --force` to replace tasks whose spec did not change. */
  readonly forceUpdate: number;
  /**
   * The orca networks the tasks attach to (`--network`); absent: none. Stored with network ids:
   * the control API resolves the names a client sends, so renaming or recreating a network of
   * the same name never silently moves a service.
   */
  readonly networks?: readonly NetworkAttachment[];
}

export interface NetworkAttachment {
  /** A network id (a client may send a name; the control API stores the id). */
  readonly target: string;
  /** Extra names the task answers to on this network, besides the service's own. */
  readonly aliases?: readonly string[];
}

export type ServiceMode =
  | { readonly kind: 'replicated'; readonly replicas: number }
  | { readonly kind: 'global' }
  | {
      readonly kind: 'replicated-job';
      readonly maxConcurrent: number;
      readonly totalCompletions: number;
    }
  | { readonly kind: 'global-job' };

export type PortProtocol = 'tcp' | 'udp';

/**
 * `ingress`: every node listens on the published port and the routing mesh forwards to a task
 * on any node. `host`: the port is bound on the task's own node only.
 */
export type PublishMode = 'ingress' | 'host';

/** How the routing mesh picks a task for each new connection or UDP flow (orca's addition). */
export type LoadBalancing = 'round-robin' | 'least-conn' | 'p2c';

/** A port of the service's tasks, published as Docker's `--publish` does. */
export interface PortConfig {
  readonly protocol: PortProtocol;
  /** The port inside the container. */
  readonly targetPort: number;
  /**
   * The port clients use. 0 in a spec: ingress ports get one from 30000-32767 when the service
   * is created (kept across updates); host-mode ports get a free one on each node from the
   * engine.
   */
  readonly publishedPort: number;
  readonly publishMode: PublishMode;
  /** Ingress only; absent: round-robin. */
  readonly lb?: LoadBalancing;
  /** Ingress TCP only: a PROXY protocol v2 header with the client's address goes to the task first. */
  readonly proxyProtocol?: boolean;
}

export interface EndpointSpec {
  /**
   * How other services find this one by name: a virtual IP (`vip`) or the tasks' own addresses
   * (`dnsrr`). Ingress ports need `vip`, as in Swarm.
   */
  readonly mode: 'vip' | 'dnsrr';
  readonly ports: readonly PortConfig[];
}

export interface ServiceSpec {
  readonly name: string;
  readonly labels: Labels;
  readonly task: TaskSpec;
  readonly mode: ServiceMode;
  readonly update: UpdateConfig;
  readonly rollback: UpdateConfig;
  /** Absent: no published ports, `vip` mode. */
  readonly endpoint?: EndpointSpec;
}

export interface UpdateStatus {
  readonly state:
    | 'updating'
    | 'paused'
    | 'completed'
    | 'rollback_started'
    | 'rollback_paused'
    | 'rollback_completed';
  readonly startedAt: string;
  readonly completedAt?: string;
  readonly message: string;
}

/**
 * What the allocator gave the service: its ports with every ingress published port set, and in
 * `vip` mode a virtual IP on each network it attaches to.
 */
export interface ServiceEndpoint {
  readonly ports: readonly PortConfig[];
  /** Absent or empty: none (dnsrr mode, or no network). As Swarm's Endpoint.VirtualIPs. */
  readonly virtualIps?: readonly NetworkAddress[];
}

/**
 * An address on one orca network: a task's (its container's address there) or a service's
 * virtual IP. Given by the manager from the network's subnet, so it is unique swarm-wide.
 */
export interface NetworkAddress {
  /** The network's id. */
  readonly network: string;
  /** IPv4, no prefix length (the network's subnet gives it). */
  readonly addr: string;
}

export interface Service {
  readonly meta: Meta;
  readonly spec: ServiceSpec;
  /** Absent: neither published ports nor virtual IPs. */
  readonly endpoint?: ServiceEndpoint;
  /** The spec before the last update, for `service rollback`. */
  readonly previousSpec: ServiceSpec | null;
  readonly updateStatus: UpdateStatus | null;
}

// ---- networks ---------------------------------------------------------------------------------

/** What the user gives the allocator; absent: a /24 from the default address pool. */
export interface IpamConfig {
  /** IPv4 CIDR, the network address itself (`10.20.0.0/16`). */
  readonly subnet: string;
  /** Absent: the subnet's first host address. */
  readonly gateway?: string;
}

/** As `docker network create --driver overlay`: one network spanning every node of the swarm. */
export interface NetworkSpec {
  readonly name: string;
  readonly labels: Labels;
  /** The only kind orca has: the swarm's nodes share it. */
  readonly driver: 'overlay';
  /** Whether containers outside services may join (`--attachable`), as Swarm's. */
  readonly attachable: boolean;
  /** No route out of the network (`--internal`); absent: false. */
  readonly internal?: boolean;
  readonly ipam?: IpamConfig;
}

export interface Network {
  readonly meta: Meta;
  readonly spec: NetworkSpec;
  /** What the allocator gave it: the spec's subnet and gateway, or a /24 of the default pool. */
  readonly subnet: string;
  readonly gateway: string;
}

// ---- tasks ------------------------------------------------------------------------------------

/**
 * Swarm's task states, in order: a task's observed state only moves forward, and a task is
 * replaced, never restarted.
 */
export const taskStates = [
  'new',
  'pending',
  'assigned',
  'accepted',
  'preparing',
  'starting',
  'running',
  'complete',
  'shutdown',
  'failed',
  'rejected',
  'remove',
  'orphaned',
] as const;
export type TaskState = (typeof taskStates)[number];

export interface TaskStatus {
  readonly state: TaskState;
  readonly timestamp: string;
  /** Why the task is in this state, for `service ps` ("no suitable node (...)", "task: non-zero exit (1)"). */
  readonly message: string;
  readonly err?: string;
  readonly exitCode?: number;
  readonly containerId?: string;
  readonly health?: 'starting' | 'healthy' | 'unhealthy';
  /**
   * The container was stopped, killed or removed by something other than orca (`docker stop`,
   * `docker kill`, `docker rm -f`): not a crash of the task's own process, so the restart
   * delay, a brake on crash loops, does not hold its replacement back.
   */
  readonly stoppedOutside?: boolean;
  /** Where the node bound each published port of the running container (host ports). */
  readonly ports?: readonly PortStatus[];
  /** The container's address on its node's bridge: the node's own mesh reaches it there. */
  readonly addr?: string;
}

export interface PortStatus {
  readonly protocol: PortProtocol;
  readonly targetPort: number;
  readonly hostPort: number;
  readonly publishMode: PublishMode;
}

/** A port a task's container publishes on its node: ingress ports on a host port of the engine's choice. */
export interface TaskPort {
  readonly protocol: PortProtocol;
  readonly targetPort: number;
  /** Host mode: the port to bind (0: the engine picks). Ingress: always 0. */
  readonly publishedPort: number;
  readonly publishMode: PublishMode;
}

export interface Task {
  readonly meta: Meta;
  readonly serviceId: string;
  /** Replicated services: the slot (1..replicas). Global services: 0 (the node identifies it). */
  readonly slot: number;
  /** Empty until the scheduler assigns one. */
  readonly nodeId: string;
  readonly spec: TaskSpec;
  /** The service's meta.version whose spec this task runs. */
  readonly serviceVersion: number;
  /** The ports its container publishes; absent: none. Replaced with the task when they change. */
  readonly ports?: readonly TaskPort[];
  /**
   * Its container's address on the networks of `spec.networks`, given when the task is
   * created: one per network that had an address for it (match by `network`, not position);
   * absent: no networks.
   */
  readonly networks?: readonly NetworkAddress[];
  readonly desiredState: TaskState;
  readonly status: TaskStatus;
}

// ---- the cluster ------------------------------------------------------------------------------

export interface ClusterSpec {
  readonly name: string;
  /** Retained tasks per slot (`--task-history-limit`, default 5 as Swarm). */
  readonly taskHistoryLimit: number;
  readonly dispatcherHeartbeatMs: number;
  /**
   * Managers keep their data key wrapped by the unlock key and need it to restart (`swarm init
   * --autolock`, `swarm update --autolock`), as Swarm's EncryptionConfig.AutoLockManagers.
   * Absent: off.
   */
  readonly autolock?: boolean;
  /** How long node certificates issued from now on are valid (`--cert-expiry`); absent: 90 days. */
  readonly certExpiryMs?: number;
}

export interface Cluster {
  readonly meta: Meta;
  readonly spec: ClusterSpec;
  /**
   * The cluster's root CA, key included, so that any manager can sign node certificates (as
   * Swarm keeps it in its Raft store). Never sent to a client: see publicCluster(). Absent only
   * in clusters created before orca had a CA, until their next start adds it.
   */
  readonly rootCa?: { readonly certPem: string; readonly keyPem: string };
  /**
   * What a node must present to join (`ORCA-1-<CA digest>-<secret>`), one per role, as Swarm's
   * JoinTokens. Secret: a client sees them only through `swarm join-token`, never in the
   * cluster object (publicCluster() drops them). Absent only in clusters created before orca
   * had them, until their next start adds them.
   */
  readonly joinTokens?: JoinTokens;
  /**
   * The key every manager wraps its data key with while `spec.autolock` is on
   * (`ORCAKEY-1-...`), as Swarm's ManagerUnlockKey; absent while it is off. Secret: a client
   * sees it only through `swarm unlock-key`, never in the cluster object (publicCluster()).
   */
  readonly unlockKey?: string;
}

export interface JoinTokens {
  readonly worker: string;
  readonly manager: string;
}

/**
 * The cluster as clients see it: the root CA's certificate, its key blanked (''), no join
 * tokens, no unlock key.
 */
export function publicCluster(cluster: Cluster): Cluster {
  const { rootCa, joinTokens: _secret, unlockKey: _key, ...rest } = cluster;
  return rootCa === undefined ? rest : { ...rest, rootCa: { certPem: rootCa.certPem, keyPem: '' } };
}

/** The labels every container orca creates carries: the worker rebuilds its state from them. */
export const containerLabels = {
  service: 'orca.service.id',
  serviceName: 'orca.service.name',
  task: 'orca.task.id',
  slot: 'orca.task.slot',
  node: 'orca.node.id',
} as const;

// ---- logs -------------------------------------------------------------------------------------

/**
 * One line a task's container wrote, as it travels from the worker through the manager to the
 * CLI unchanged (both the dispatcher session and the control API carry it).
 */
export interface TaskLogLine {
  readonly taskId: string;
  readonly stream: 'stdout' | 'stderr';
  /** Without the trailing newline. */
  readonly text: string;
  /** The engine's RFC 3339 timestamp (nanoseconds); null unless asked for. */
  readonly timestamp: string | null;
}
