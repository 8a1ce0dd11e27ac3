// The wire contract of protos/dispatcher.proto, typed for TypeScript: the session's messages in
// both directions, the client a worker dials and the service a manager serves. The worker
// imports this and src/api/objects.ts only: it never sees the manager's or the store's code.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type {
  NodeDescription,
  NodeRole,
  PortConfig,
  PortStatus,
  Task,
  TaskLogLine,
  TaskStatus,
} from './objects.ts';

/**
 * A task as a worker is given it: the stored task plus its service's name, for the container,
 * and what the node needs to know of each network the task attaches to.
 */
export interface WireAssignedTask extends Task {
  readonly serviceName: string;
  /** One per `spec.networks` entry that has an address; absent: no networks. */
  readonly attachments?: readonly WireNetworkAttachment[];
}

/** A task's place on one orca network: enough for a node to create the network and join it. */
export interface WireNetworkAttachment {
  readonly network: string;
  readonly name: string;
  /** CIDR. */
  readonly subnet: string;
  readonly gateway: string;
  readonly internal: boolean;
  /** The task's own address on it. */
  readonly addr: string;
}

/** One service as the tasks on a network find it by name. */
export interface WireDiscoveryService {
  readonly serviceId: string;
  readonly name: string;
  /** Extra names on this network (`--network name=N,alias=A`). */
  readonly aliases: readonly string[];
  readonly mode: 'vip' | 'dnsrr';
  /** vip mode, once allocated. */
  readonly vip?: string;
  /** The addresses on this network of its tasks that run and are not unhealthy, sorted. */
  readonly tasks: readonly string[];
}

export interface WirePeer {
  readonly nodeId: string;
  readonly addr: string;
}

/** The names of one orca network: what every node's DNS answers and its VIPs lead to. */
export interface WireDiscoveryNetwork {
  readonly network: string;
  readonly name: string;
  /** CIDR: every node derives the network's VXLAN id and link names from it. */
  readonly subnet: string;
  readonly services: readonly WireDiscoveryService[];
}

export interface StatusUpdate {
  readonly taskId: string;
  readonly status: TaskStatus;
}

/** What a log subscription reads from each task's containers, as `docker logs` takes it. */
export interface WireLogOptions {
  readonly follow: boolean;
  /** The last n lines of each container; absent: all. */
  readonly tail?: number;
  /** RFC 3339: only lines written since then. */
  readonly since?: string;
  readonly timestamps: boolean;
}

/** One running, healthy task of a service that publishes ingress ports. */
export interface WireTaskEndpoint {
  readonly taskId: string;
  readonly nodeId: string;
  /** Its node's data-path address: other nodes reach the task at this and its host ports. */
  readonly nodeAddr: string;
  /** The container's address on its own node, where that node's mesh reaches it. */
  readonly addr: string;
  readonly ports: readonly PortStatus[];
}

/** What every node's routing mesh serves for one service. */
export interface WireServiceEndpoints {
  readonly serviceId: string;
  readonly serviceName: string;
  /** Its ingress ports, every published port numbered. */
  readonly ports: readonly PortConfig[];
  readonly tasks: readonly WireTaskEndpoint[];
}

export type WorkerMessage =
  | {
      readonly type: 'hello';
      readonly nodeId: string;
      /** Where other nodes reach this node's published host ports; absent: its advertise address. */
      readonly dataPathAddr?: string;
    }
  /** Latest status of each task that changed; the dispatcher keeps only forward moves. */
  | { readonly type: 'status'; readonly updates: readonly StatusUpdate[] }
  /**
   * The node's description with its live usage: when the session opens and periodically after.
   * The dispatcher may leave the stored one as it is when little changed.
   */
  | { readonly type: 'describe'; readonly description: NodeDescription }
  | { readonly type: 'heartbeat' }
  /** Lines of a subscription's tasks, batched; each task's lines in the order written. */
  | {
      readonly type: 'log-lines';
      readonly subscriptionId: string;
      readonly lines: readonly TaskLogLine[];
    }
  /**
   * Nothing more will come for this subscription: every container's log has ended (when not
   * following, or when the containers stopped), or reading failed (`error`).
   */
  | { readonly type: 'logs-done'; readonly subscriptionId: string; readonly error?: string };

/**
 * Trailing metadata of a session a follower refuses (only the leader's dispatcher serves):
 * every manager's cluster address, comma-separated, so that a worker which knows only this
 * manager finds the others.
 */
export const MANAGERS_METADATA_KEY = 'orca-managers';

export type DispatcherMessage =
  /** The hello was accepted: send a message (a heartbeat if nothing else) every heartbeatMs. */
  | {
      readonly type: 'session';
      readonly sessionId: string;
      readonly heartbeatMs: number;
      /** Every manager's cluster address: where to look for the leader when this one fails. */
      readonly managers?: readonly string[];
    }
  /** Every manager's cluster address, whenever the list differs from what the session said. */
  | { readonly type: 'managers'; readonly managers: readonly string[] }
  /** The role this node's spec asks for, sent when a session opens and whenever it changes. */
  | { readonly type: 'role'; readonly role: NodeRole }
  /**
   * The routing mesh's whole table, sent when a session opens and whenever it changes: a task
   * leaves it as soon as it is meant to stop, before its node is told to stop it.
   */
  | { readonly type: 'endpoints'; readonly services: readonly WireServiceEndpoints[] }
  /**
   * Service discovery's whole table, sent when a session opens and whenever it changes, before
   * the assignments of the same change (a task leaves it as soon as it is meant to stop).
   */
  | {
      readonly type: 'discovery';
      readonly networks: readonly WireDiscoveryNetwork[];
      /** Every node that is not down, at its data-path address: the overlay's other ends. */
      readonly peers: readonly WirePeer[];
    }
  /** Every task this node must run or wind down; a task missing from it is removed. */
  | { readonly type: 'assignments'; readonly tasks: readonly WireAssignedTask[] }
  /** Read the logs of these tasks' containers on this node and send them up as log-lines. */
  | {
      readonly type: 'logs';
      readonly subscriptionId: string;
      readonly taskIds: readonly string[];
      readonly options: WireLogOptions;
    }
  /** The reader went away: stop reading, send nothing more for it (not even logs-done). */
  | { readonly type: 'logs-cancel'; readonly subscriptionId: string };

export interface WireJson {
  json: string;
}

export type SessionStream = grpc.ClientDuplexStream<WireJson, WireJson>;

export interface DispatcherClient extends grpc.Client {
  Session(options?: grpc.CallOptions): SessionStream;
}

export interface DispatcherHandlers extends grpc.UntypedServiceImplementation {
  Session: grpc.handleBidiStreamingCall<WireJson, WireJson>;
}

export type SessionCall = grpc.ServerDuplexStream<WireJson, WireJson>;

/** Assignment sets of thousands of tasks are large; nothing else on this service is. */
export const DISPATCHER_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/** Keepalive pings notice a dead peer in seconds even when the session is idle. */
export const dispatcherChannelOptions: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 2000,
  'grpc.keepalive_timeout_ms': 2000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': DISPATCHER_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': DISPATCHER_MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2000,
  'grpc.use_local_subchannel_pool': 1,
};

const packageDefinition = protoLoader.loadSync(
  fileURLToPath(new URL('../../protos/dispatcher.proto', import.meta.url)),
  { keepCase: true, longs: Number, defaults: true, arrays: true, oneofs: false },
);

const clientConstructor = (
  grpc.loadPackageDefinition(packageDefinition) as unknown as {
    orca: { dispatcher: { Dispatcher: grpc.ServiceClientConstructor } };
  }
).orca.dispatcher.Dispatcher;

export function createDispatcherClient(
  addr: string,
  credentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  options: grpc.ChannelOptions = dispatcherChannelOptions,
): DispatcherClient {
  return new clientConstructor(addr, credentials, options) as unknown as DispatcherClient;
}

/** The service a manager serves on its cluster port (src/manager/dispatcher/server.ts). */
export const dispatcherService: grpc.ServiceDefinition = clientConstructor.service;

export function encodeMessage(msg: WorkerMessage | DispatcherMessage): WireJson {
  return { json: JSON.stringify(msg) };
}

/** The message's JSON, or null where it is not an object with a string `type`. */
export function decodeMessage<M extends { type: string }>(wire: WireJson): M | null {
  try {
    const value: unknown = JSON.parse(wire.json);
    if (typeof value !== 'object' || value === null) return null;
    if (typeof (value as { type?: unknown }).type !== 'string') return null;
    return value as M;
  } catch {
    return null;
  }
}
