// The wire contract of protos/raft.proto, typed for TypeScript. This module knows only the
// protocol; turning wire messages into the Raft core's messages is the transport's job, so that
// src/api never depends on src/raft.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** Numbers of the proto's MessageType enum; 0 means a sender that forgot (or a newer enum). */
export const WireMessageType = {
  UNSPECIFIED: 0,
  APP: 1,
  APP_RESP: 2,
  VOTE: 3,
  VOTE_RESP: 4,
  PRE_VOTE: 5,
  PRE_VOTE_RESP: 6,
  HEARTBEAT: 7,
  HEARTBEAT_RESP: 8,
  SNAP: 9,
  TIMEOUT_NOW: 10,
  PROP: 11,
  READ_INDEX: 12,
  READ_INDEX_RESP: 13,
} as const;

export const WireEntryType = { NORMAL: 0, CONF: 1 } as const;

export interface WireEntry {
  index: number;
  term: number;
  type: number;
  data: Uint8Array;
}

export interface WireMessage {
  type: number;
  term: number;
  index: number;
  log_term: number;
  commit: number;
  entries: WireEntry[];
  reject: boolean;
  reject_hint: number;
  context: Uint8Array;
}

export interface WireMessageBatch {
  cluster_id: string;
  from: string;
  to: string;
  messages: WireMessage[];
  from_addr: string;
}

export interface WireSnapshotMeta {
  index: number;
  term: number;
  voters: string[];
  learners: string[];
}

export interface WireSnapshotHeader {
  cluster_id: string;
  from: string;
  to: string;
  message: WireMessage | null;
  meta: WireSnapshotMeta | null;
  data_size: number;
}

export interface WireSnapshotChunk {
  header: WireSnapshotHeader | null;
  data: Uint8Array;
}

export type WireSendAck = Record<string, never>;
export type WireSnapshotAck = Record<string, never>;

/** What a client sees of the Raft service. */
export interface RaftClient extends grpc.Client {
  Send(callback: grpc.requestCallback<WireSendAck>): grpc.ClientWritableStream<WireMessageBatch>;
  SendSnapshot(
    callback: grpc.requestCallback<WireSnapshotAck>,
  ): grpc.ClientWritableStream<WireSnapshotChunk>;
}

/** What a server implements of the Raft service. */
export interface RaftHandlers extends grpc.UntypedServiceImplementation {
  Send: grpc.handleClientStreamingCall<WireMessageBatch, WireSendAck>;
  SendSnapshot: grpc.handleClientStreamingCall<WireSnapshotChunk, WireSnapshotAck>;
}

/** Large enough for a batch of big entries; snapshots travel in far smaller chunks. */
export const RAFT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Client settings: keepalive pings every second, answered within a second, notice a dead peer in
 * about 2 s even on an idle stream; gRPC's own reconnect backoff is capped as low as the
 * transport's so that it never holds a reconnect back for longer.
 */
export const raftChannelOptions: grpc.ChannelOptions = {
  'grpc.keepalive_time_ms': 1000,
  'grpc.keepalive_timeout_ms': 1000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': RAFT_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': RAFT_MAX_MESSAGE_BYTES,
  'grpc.initial_reconnect_backoff_ms': 50,
  'grpc.max_reconnect_backoff_ms': 2000,
  // Several members in one process (tests, the simulator) must not share connections.
  'grpc.use_local_subchannel_pool': 1,
};

/** Server settings: accept the clients' frequent pings, and ping them to drop dead streams. */
export const raftServerOptions: grpc.ServerOptions = {
  'grpc.keepalive_time_ms': 1000,
  'grpc.keepalive_timeout_ms': 1000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 500,
  'grpc.http2.max_ping_strikes': 0,
  'grpc.max_receive_message_length': RAFT_MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': RAFT_MAX_MESSAGE_BYTES,
};

const packageDefinition = protoLoader.loadSync(
  fileURLToPath(new URL('../../protos/raft.proto', import.meta.url)),
  { keepCase: true, longs: Number, defaults: true, arrays: true, oneofs: false },
);

const raftClientConstructor = (
  grpc.loadPackageDefinition(packageDefinition) as unknown as {
    orca: { raft: { Raft: grpc.ServiceClientConstructor } };
  }
).orca.raft.Raft;

export const raftService: grpc.ServiceDefinition = raftClientConstructor.service;

export function createRaftClient(
  addr: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = raftChannelOptions,
): RaftClient {
  return new raftClientConstructor(addr, credentials, options) as unknown as RaftClient;
}

export function addRaftService(server: grpc.Server, handlers: RaftHandlers): void {
  server.addService(raftService, handlers);
}
