// The wire contract of protos/control.proto, typed for TypeScript: the method table, the JSON
// bodies each method takes and returns, and how an error crosses the wire. The daemon's server
// builds on this module; the CLI takes its types only (its client, src/cli/grpc-web.ts, speaks
// the wire without gRPC's libraries). It knows nothing of the daemon or the CLI.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type {
  Cluster,
  Network,
  NetworkSpec,
  Node,
  NodeAvailability,
  NodeRole,
  Service,
  ServiceSpec,
  Task,
  TaskLogLine,
} from './objects.ts';

export interface SwarmInitRequest {
  readonly advertiseAddr?: string;
  /** Where other nodes reach this node's published host ports; absent: the advertise address. */
  readonly dataPathAddr?: string;
  readonly listenAddr?: string;
  readonly taskHistoryLimit?: number;
  readonly dispatcherHeartbeatMs?: number;
  /** Managers need the unlock key to restart (`--autolock`); the key is in the Cluster object. */
  readonly autolock?: boolean;
  /**
   * On a manager of a swarm that lost its quorum for good: become its only manager, keeping
   * its state (Swarm's `--force-new-cluster`); the other settings are ignored then.
   */
  readonly forceNewCluster?: boolean;
  /**
   * The swarm's root CA, brought by the operator (`--ca-cert` and `--ca-key`, the files' PEM
   * texts): a self-signed P-256 root; without them a new CA is made.
   */
  readonly caCertPem?: string;
  readonly caKeyPem?: string;
}

/** The cluster settings to change; absent ones are kept. */
export interface SwarmUpdateRequest {
  readonly taskHistoryLimit?: number;
  readonly dispatcherHeartbeatMs?: number;
  /** Validity of node certificates issued from now on (at least 1 h, as Docker). */
  readonly certExpiryMs?: number;
  /** On: a new unlock key (kept when already on); off: the key removed. */
  readonly autolock?: boolean;
}

export interface SwarmUnlockRequest {
  /** `ORCAKEY-1-...`, as `swarm unlock-key` printed it. */
  readonly unlockKey: string;
}

export interface SwarmUnlockKeyRequest {
  /** Replace the key first: every manager wraps its data key with the new one. */
  readonly rotate?: boolean;
}

export interface SwarmUnlockKeyResponse {
  /** '' while autolock is off. */
  readonly unlockKey: string;
}
export interface SwarmInitResponse {
  readonly nodeId: string;
  readonly clusterId: string;
}

export interface SwarmJoinRequest {
  readonly token: string;
  /** A manager's cluster address, host[:port] (port 2377 when absent). */
  readonly remoteAddr: string;
  readonly dataPathAddr?: string;
  readonly advertiseAddr?: string;
  readonly listenAddr?: string;
}

export interface SwarmJoinResponse {
  readonly nodeId: string;
  readonly role: NodeRole;
  /**
   * Whether the node's first dispatcher session opened while the call waited; if not, it goes
   * on trying in the background.
   */
  readonly sessionOpen: boolean;
}

export interface SwarmJoinTokenRequest {
  readonly role: NodeRole;
  /** Replace the role's token first: the old one admits nobody from then on. */
  readonly rotate?: boolean;
}

export interface SwarmJoinTokenResponse {
  readonly role: NodeRole;
  readonly token: string;
  /** This manager's cluster address, which the joining node is to dial. */
  readonly managerAddr: string;
}

export interface SwarmLeaveRequest {
  readonly force: boolean;
}

/** As `docker node inspect`'s ManagerStatus; null for a worker. */
export interface ManagerStatus {
  readonly leader: boolean;
  readonly reachability: 'reachable' | 'unreachable' | 'unknown';
  readonly addr: string;
}

/** A node as the control API shows it: the stored object plus what Raft knows of it. */
export interface NodeView extends Node {
  readonly managerStatus: ManagerStatus | null;
}

export interface NodeListResponse {
  /** The id of the node that answered (the CLI marks it with `*`), '' outside a swarm. */
  readonly self: string;
  readonly nodes: readonly NodeView[];
}

export interface NodeRef {
  /** An id, a unique id prefix, a hostname, or `self`. */
  readonly node: string;
}

export interface NodeUpdateRequest extends NodeRef {
  readonly availability?: NodeAvailability;
  readonly labelAdd?: Readonly<Record<string, string>>;
  readonly labelRm?: readonly string[];
  /** `node promote` / `node demote` / `node update --role`. */
  readonly role?: NodeRole;
  /** Change the role even where the Raft group would lose its quorum. */
  readonly force?: boolean;
}

export interface NodeRemoveRequest extends NodeRef {
  /** Remove a node that is not down (its daemon may still run its containers). */
  readonly force?: boolean;
}

export interface NodeUpdateResponse extends NodeView {
  /** What the operator should know about the change (an even number of managers). */
  readonly warnings?: readonly string[];
}

export interface Info {
  /** `locked`: a manager restarted with autolock on, waiting for `swarm unlock`. */
  readonly swarm: 'inactive' | 'pending' | 'active' | 'error' | 'locked';
  /** Why the swarm is not active: a restart still electing, locked, or the error that stopped it. */
  readonly message: string;
  readonly nodeId: string;
  readonly isManager: boolean;
  /** The cluster addresses of the managers this node knows: a worker's is the one it joined. */
  readonly managerAddresses: readonly string[];
  readonly clusterId: string;
  readonly cluster: Cluster | null;
  readonly managers: number;
  readonly nodes: number;
  readonly raft: {
    readonly term: number;
    readonly leader: string | null;
    readonly role: string;
    readonly commit: number;
    readonly applied: number;
    /** Members that vote, and those still catching up (joined managers, before promotion). */
    readonly voters: readonly string[];
    readonly learners: readonly string[];
  } | null;
  readonly advertiseAddr: string;
  readonly listenAddr: string;
  readonly dataDir: string;
  readonly dockerHost: string;
  readonly orcaVersion: string;
}

export type Empty = Record<string, never>;

export interface ServiceRef {
  /** An id, a name, or a unique id prefix. */
  readonly service: string;
}

export interface ServiceCreateRequest {
  /** `name: ''` lets the manager pick one. */
  readonly spec: ServiceSpec;
}

/** As Docker's ServiceStatus (`service ls` asks for it): counted from the tasks, not stored. */
export interface ServiceStatusCounts {
  readonly runningTasks: number;
  readonly desiredTasks: number;
  readonly completedTasks: number;
}

export interface ServiceListItem extends Service {
  readonly serviceStatus: ServiceStatusCounts;
}

export interface ServiceListResponse {
  readonly services: readonly ServiceListItem[];
}

export interface ServiceRemoveResponse {
  readonly id: string;
}

export interface ServiceScaleRequest extends ServiceRef {
  readonly replicas: number;
}

export interface ServiceUpdateRequest extends ServiceRef {
  readonly spec: ServiceSpec;
  /** The `meta.version` the spec was derived from: a service changed since is refused. */
  readonly version: number;
}

export interface TaskListRequest {
  /** A service id, name or unique id prefix. */
  readonly service?: string;
  /** A node id, hostname, unique id prefix, or `self`. */
  readonly node?: string;
}

/** A task with the names `service ps` shows, resolved on the manager that has them. */
export interface TaskView extends Task {
  readonly serviceName: string;
  /** '' while unassigned, or when the node is gone. */
  readonly nodeHostname: string;
}

export interface TaskListResponse {
  readonly tasks: readonly TaskView[];
}

export interface NetworkRef {
  /** An id, a name, or a unique id prefix. */
  readonly network: string;
}

export interface NetworkCreateRequest {
  readonly spec: NetworkSpec;
}

export interface NetworkListResponse {
  readonly networks: readonly Network[];
}

/** One of service or task: `docker service logs SERVICE|TASK`. */
export interface ServiceLogsRequest {
  /** A service id, name or unique id prefix. */
  readonly service?: string;
  /** A task id or unique id prefix. */
  readonly task?: string;
  readonly follow?: boolean;
  /** The last n lines of each task; absent: all. */
  readonly tail?: number;
  /** RFC 3339: only lines written since then. */
  readonly since?: string;
  readonly timestamps?: boolean;
}

/** Who wrote a task's lines: what the CLI's `web.1.<task>@<host>` prefix is made of. */
export interface LogSource {
  readonly taskId: string;
  readonly serviceName: string;
  /** 0 for a global task, which its node names instead. */
  readonly slot: number;
  readonly nodeId: string;
  /** '' when the node is gone. */
  readonly nodeHostname: string;
}

export interface ServiceLogsMessage {
  /** The tasks whose lines follow; each is sent once, before its first line. */
  readonly sources?: readonly LogSource[];
  readonly lines: readonly TaskLogLine[];
  /** Logs that could not be read (a node without a session); the stream goes on without them. */
  readonly errors?: readonly string[];
}

/** Every method: its request and response bodies. */
export interface ControlMethods {
  SwarmInit: { req: SwarmInitRequest; res: SwarmInitResponse };
  SwarmJoin: { req: SwarmJoinRequest; res: SwarmJoinResponse };
  SwarmJoinToken: { req: SwarmJoinTokenRequest; res: SwarmJoinTokenResponse };
  SwarmLeave: { req: SwarmLeaveRequest; res: Empty };
  SwarmUpdate: { req: SwarmUpdateRequest; res: Cluster };
  SwarmUnlock: { req: SwarmUnlockRequest; res: Empty };
  SwarmUnlockKey: { req: SwarmUnlockKeyRequest; res: SwarmUnlockKeyResponse };
  Info: { req: Empty; res: Info };
  NodeList: { req: Empty; res: NodeListResponse };
  NodeInspect: { req: NodeRef; res: NodeView };
  NodeUpdate: { req: NodeUpdateRequest; res: NodeUpdateResponse };
  NodeRemove: { req: NodeRemoveRequest; res: { id: string } };
  ServiceCreate: { req: ServiceCreateRequest; res: Service };
  ServiceList: { req: Empty; res: ServiceListResponse };
  ServiceInspect: { req: ServiceRef; res: Service };
  ServiceRemove: { req: ServiceRef; res: ServiceRemoveResponse };
  ServiceScale: { req: ServiceScaleRequest; res: Service };
  ServiceUpdate: { req: ServiceUpdateRequest; res: Service };
  ServiceRollback: { req: ServiceRef; res: Service };
  TaskList: { req: TaskListRequest; res: TaskListResponse };
  NetworkCreate: { req: NetworkCreateRequest; res: Network };
  NetworkList: { req: Empty; res: NetworkListResponse };
  NetworkInspect: { req: NetworkRef; res: Network };
  NetworkRemove: { req: NetworkRef; res: { id: string } };
}
export type ControlMethod = keyof ControlMethods;

/** Every server-streaming method: its request and the messages of its stream. */
export interface ControlStreams {
  ServiceLogs: { req: ServiceLogsRequest; msg: ServiceLogsMessage };
}
export type ControlStreamMethod = keyof ControlStreams;

export const controlStreamMethods: readonly ControlStreamMethod[] = ['ServiceLogs'];

/** The methods src/manager/controlapi serves (its `serviceControl`). */
export const serviceMethods = [
  'ServiceCreate',
  'ServiceList',
  'ServiceInspect',
  'ServiceRemove',
  'ServiceScale',
  'ServiceUpdate',
  'ServiceRollback',
  'TaskList',
] as const satisfies readonly ControlMethod[];
export type ServiceMethod = (typeof serviceMethods)[number];

/** The methods src/manager/controlapi serves for networks (its `networkControl`). */
export const networkMethods = [
  'NetworkCreate',
  'NetworkList',
  'NetworkInspect',
  'NetworkRemove',
] as const satisfies readonly ControlMethod[];
export type NetworkMethod = (typeof networkMethods)[number];

export const controlMethods: readonly ControlMethod[] = [
  'SwarmInit',
  'SwarmJoin',
  'SwarmJoinToken',
  'SwarmLeave',
  'SwarmUpdate',
  'SwarmUnlock',
  'SwarmUnlockKey',
  'Info',
  'NodeList',
  'NodeInspect',
  'NodeUpdate',
  'NodeRemove',
  ...serviceMethods,
  ...networkMethods,
];

export interface JsonMessage {
  json: string;
}

export { CONTROL_SERVICE_PATH, ORCA_CODE_KEY } from './control-names.ts';

const packageDefinition = protoLoader.loadSync(
  fileURLToPath(new URL('../../protos/control.proto', import.meta.url)),
  { keepCase: true, longs: Number, defaults: true, arrays: true, oneofs: false },
);

/** The daemon serves this; the CLI speaks it as gRPC-Web (src/cli/grpc-web.ts), which needs no definition. */
export const controlService: grpc.ServiceDefinition = (
  grpc.loadPackageDefinition(packageDefinition) as unknown as {
    orca: { control: { Control: grpc.ServiceClientConstructor } };
  }
).orca.control.Control.service;

export type ControlHandlers = Record<
  ControlMethod,
  grpc.handleUnaryCall<JsonMessage, JsonMessage>
> &
  Record<ControlStreamMethod, grpc.handleServerStreamingCall<JsonMessage, JsonMessage>>;

export function addControlService(server: grpc.Server, handlers: ControlHandlers): void {
  server.addService(controlService, handlers);
}
