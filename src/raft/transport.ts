// Carries Raft messages between members over gRPC (protos/raft.proto).
//
// Each peer gets its own bounded queue and one long-lived client stream; whatever was queued
// while the previous write was in flight goes out as one batch. Raft tolerates lost messages and
// resends what matters, so the transport never blocks nor buffers without bound: when a peer is
// slow the oldest messages are dropped, when its stream breaks the queue is dropped, and in both
// cases the core hears that the peer is unreachable so that it probes instead of streaming.

import * as grpc from '@grpc/grpc-js';
import {
  addRaftService,
  createRaftClient,
  type RaftClient,
  type RaftHandlers,
  raftChannelOptions,
  raftServerOptions,
  type WireEntry,
  WireEntryType,
  type WireMessage,
  type WireMessageBatch,
  WireMessageType,
  type WireSendAck,
  type WireSnapshotAck,
  type WireSnapshotChunk,
  type WireSnapshotHeader,
} from '../api/raft-wire.ts';
import { TransportError } from '../errors.ts';
import type { Entry, Message, MessageType, NodeId, Snapshot } from './types.ts';

export interface TransportLogger {
  warn(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

export interface GrpcTransportOptions {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  /** host:port to listen on; port 0 picks a free one (start() returns it). */
  readonly listenAddr: string;
  /** The address peers dial to reach this member (default: the bound address). */
  readonly advertiseAddr?: string;
  /** Every received message, in arrival order per sending peer. */
  readonly onMessage: (m: Message) => void;
  /** A send to `peer` failed or had to drop messages: its stream broke or could not connect. */
  readonly onUnreachable?: (peer: NodeId) => void;
  /** A 'snap' message to `peer` was delivered (ok) or abandoned. */
  readonly onSnapshotStatus?: (peer: NodeId, ok: boolean) => void;
  readonly logger?: TransportLogger;
  /**
   * Whether the caller may speak for member `from`: null if so, else why not. With mutual TLS
   * this is where a certificate is held to the member it claims to be (and to a manager's role).
   * Without it every well-addressed stream is taken.
   */
  readonly authorize?: (call: RaftCaller, from: NodeId) => string | null;
  /** Defaults to plaintext; mutual TLS plugs in here. */
  readonly credentials?: TransportCredentials;
  /** Messages queued per peer before the oldest are dropped (default 4096). */
  readonly maxQueuedMessages?: number;
  /** Size of a snapshot data chunk (default 1 MiB). */
  readonly snapshotChunkBytes?: number;
  /** Reconnect backoff after a failed stream (default 50 ms doubling to 2 s, with jitter). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

const DEFAULT_MAX_QUEUED = 4096;
const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_BACKOFF = { initialMs: 50, maxMs: 2000 };
/** Well below the 64 MiB message limit, so that one batch never exceeds it. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** A snapshot is reassembled in memory: refuse an announced size no state could have. */
const MAX_SNAPSHOT_BYTES = 2 ** 32;

const wireTypeOf: Readonly<Record<MessageType, number>> = {
  app: WireMessageType.APP,
  appResp: WireMessageType.APP_RESP,
  vote: WireMessageType.VOTE,
  voteResp: WireMessageType.VOTE_RESP,
  preVote: WireMessageType.PRE_VOTE,
  preVoteResp: WireMessageType.PRE_VOTE_RESP,
  heartbeat: WireMessageType.HEARTBEAT,
  heartbeatResp: WireMessageType.HEARTBEAT_RESP,
  snap: WireMessageType.SNAP,
  timeoutNow: WireMessageType.TIMEOUT_NOW,
  prop: WireMessageType.PROP,
  readIndex: WireMessageType.READ_INDEX,
  readIndexResp: WireMessageType.READ_INDEX_RESP,
};

const typeOfWire: ReadonlyArray<MessageType | undefined> = (() => {
  const out: Array<MessageType | undefined> = [];
  for (const [type, n] of Object.entries(wireTypeOf)) out[n] = type as MessageType;
  return out;
})();

const WIRE_ENTRY_NORMAL: number = WireEntryType.NORMAL;
const WIRE_ENTRY_CONF: number = WireEntryType.CONF;

const noEntries: readonly Entry[] = Object.freeze([]);
const noWireEntries: WireEntry[] = [];
const noBytes = Buffer.alloc(0);

function entryToWire(e: Entry): WireEntry {
  return {
    index: e.index,
    term: e.term,
    type: e.type === 'conf' ? WIRE_ENTRY_CONF : WIRE_ENTRY_NORMAL,
    data: e.data,
  };
}

/** `from`, `to` and `snapshot` travel outside the wire message: in the batch or the header. */
export function messageToWire(m: Message): WireMessage {
  return {
    type: wireTypeOf[m.type],
    term: m.term,
    index: m.index,
    log_term: m.logTerm,
    commit: m.commit,
    entries: m.entries.length === 0 ? noWireEntries : m.entries.map(entryToWire),
    reject: m.reject,
    reject_hint: m.rejectHint,
    context: m.context,
  };
}

/** Returns null for a message this orca cannot read (a type or entry type it does not know). */
export function messageFromWire(
  w: WireMessage,
  from: NodeId,
  to: NodeId,
  snapshot: Snapshot | null = null,
): Message | null {
  const type = typeOfWire[w.type];
  if (type === undefined) return null;
  let entries = noEntries;
  const n = w.entries.length;
  if (n > 0) {
    const out = new Array<Entry>(n);
    for (let i = 0; i < n; i++) {
      const e = w.entries[i]!;
      if (e.type !== WIRE_ENTRY_NORMAL && e.type !== WIRE_ENTRY_CONF) return null;
      out[i] = {
        index: e.index,
        term: e.term,
        type: e.type === WIRE_ENTRY_CONF ? 'conf' : 'normal',
        data: e.data,
      };
    }
    entries = out;
  }
  return {
    type,
    from,
    to,
    term: w.term,
    index: w.index,
    logTerm: w.log_term,
    commit: w.commit,
    entries,
    reject: w.reject,
    rejectHint: w.reject_hint,
    context: w.context,
    snapshot,
  };
}

/** A rough size of a message on the wire, to keep batches under the message limit. */
function approxBytes(m: Message): number {
  let n = 64 + m.context.length;
  for (const e of m.entries) n += 32 + e.data.length;
  return n;
}

function describeError(err: unknown): object {
  if (err && typeof err === 'object' && 'code' in err && 'details' in err) {
    const e = err as grpc.ServiceError;
    return { code: grpc.status[e.code] ?? e.code, error: e.details || e.message };
  }
  return { error: err instanceof Error ? err.message : String(err) };
}

/** What `authorize` may look at of an incoming stream: its peer and its TLS session. */
export type RaftCaller = Pick<
  grpc.ServerReadableStream<unknown, unknown>,
  'getPeer' | 'getAuthContext'
>;

export interface TransportCredentials {
  readonly server: grpc.ServerCredentials;
  readonly channel: grpc.ChannelCredentials;
  /** Channel options the credentials need (a TLS target name override, say). */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** What every peer link needs from its transport. */
interface LinkContext {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly credentials: grpc.ChannelCredentials;
  readonly channelOptions: grpc.ChannelOptions;
  readonly maxQueued: number;
  readonly chunkBytes: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly logger: TransportLogger;
  advertiseAddr(): string;
  unreachable(peer: NodeId): void;
  snapshotStatus(peer: NodeId, ok: boolean): void;
}

/** The sending side towards one peer. */
class PeerLink {
  readonly id: NodeId;
  #addr: string;
  readonly #ctx: LinkContext;
  #client: RaftClient;
  #queue: Message[] = [];
  #call: grpc.ClientWritableStream<WireMessageBatch> | null = null;
  /** The stream's buffer is full: wait for 'drain' before writing again. */
  #blocked = false;
  #scheduled = false;
  #overflowed = false;
  #backoffMs: number;
  #retryAt = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  /** Consecutive failed streams, to warn once per outage rather than once per retry. */
  #failures = 0;
  #pendingSnapshot: Message | null = null;
  #snapshotCall: grpc.ClientWritableStream<WireSnapshotChunk> | null = null;
  #closed = false;

  constructor(id: NodeId, addr: string, ctx: LinkContext) {
    this.id = id;
    this.#addr = addr;
    this.#ctx = ctx;
    this.#backoffMs = ctx.backoff.initialMs;
    this.#client = createRaftClient(addr, ctx.credentials, ctx.channelOptions);
  }

  get addr(): string {
    return this.#addr;
  }

  enqueue(m: Message): void {
    if (m.type === 'snap') {
      this.#enqueueSnapshot(m);
      return;
    }
    const q = this.#queue;
    if (q.length >= this.#ctx.maxQueued) {
      // Dropping a quarter at once keeps a saturated queue from paying a shift per message.
      q.splice(0, Math.max(1, q.length >> 2));
      this.#overflowed = true;
    }
    q.push(m);
    if (!this.#scheduled) {
      this.#scheduled = true;
      // Everything sent in the current tick (one Ready) leaves in a single batch.
      queueMicrotask(this.#flush);
    }
  }

  /** The peer moved: later messages go to the new address, over a new connection. */
  retarget(addr: string): void {
    if (addr === this.#addr) return;
    this.#addr = addr;
    this.#abandonStream();
    this.#snapshotCall?.cancel();
    this.#client.close();
    this.#client = createRaftClient(addr, this.#ctx.credentials, this.#ctx.channelOptions);
    this.#backoffMs = this.#ctx.backoff.initialMs;
    this.#retryAt = 0;
    this.#failures = 0;
    this.#pump();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#queue = [];
    this.#pendingSnapshot = null;
    this.#abandonStream();
    this.#snapshotCall?.cancel();
    this.#client.close();
  }

  #flush = (): void => {
    this.#scheduled = false;
    this.#pump();
  };

  #pump(): void {
    if (this.#closed) return;
    if (this.#overflowed) {
      this.#overflowed = false;
      this.#ctx.logger.debug?.(
        { peer: this.id },
        'raft send queue full: dropped the oldest messages',
      );
      this.#ctx.unreachable(this.id);
    }
    if (this.#queue.length === 0 || this.#blocked) return;
    let call = this.#call;
    if (call === null) {
      const wait = this.#retryAt - Date.now();
      if (wait > 0) {
        this.#retryTimer ??= setTimeout(this.#retry, wait).unref();
        return;
      }
      call = this.#openStream();
    }
    while (this.#queue.length > 0) {
      if (!call.write(this.#takeBatch())) {
        this.#blocked = true;
        return;
      }
    }
  }

  #retry = (): void => {
    this.#retryTimer = null;
    this.#pump();
  };

  #takeBatch(): WireMessageBatch {
    const q = this.#queue;
    const messages: WireMessage[] = [];
    let bytes = 0;
    let n = 0;
    while (n < q.length) {
      const m = q[n]!;
      bytes += approxBytes(m);
      if (n > 0 && bytes > MAX_BATCH_BYTES) break;
      messages.push(messageToWire(m));
      n++;
    }
    this.#queue = n === q.length ? [] : q.slice(n);
    return {
      cluster_id: this.#ctx.clusterId,
      from: this.#ctx.nodeId,
      to: this.id,
      messages,
      from_addr: this.#ctx.advertiseAddr(),
    };
  }

  #openStream(): grpc.ClientWritableStream<WireMessageBatch> {
    const call = this.#client.Send((err) => this.#streamEnded(call, err));
    // Failures arrive through the status callback; an 'error' event must not crash the process.
    call.on('error', () => {});
    // The receiver sends its headers once it has accepted a batch: only then is the peer
    // known to be healthy, so that a peer that refuses every batch stays backed off.
    call.on('metadata', () => {
      if (this.#call !== call) return;
      if (this.#failures > 0) {
        this.#ctx.logger.debug?.(
          { peer: this.id, addr: this.#addr },
          'raft stream to peer restored',
        );
      }
      this.#failures = 0;
      this.#backoffMs = this.#ctx.backoff.initialMs;
    });
    call.on('drain', () => {
      if (this.#call !== call || !this.#blocked) return;
      this.#blocked = false;
      this.#pump();
    });
    this.#call = call;
    return call;
  }

  #streamEnded(call: grpc.ClientWritableStream<WireMessageBatch>, err: grpc.ServiceError | null) {
    if (this.#call !== call) return;
    this.#call = null;
    this.#blocked = false;
    if (this.#closed) return;
    const dropped = this.#queue.length;
    this.#queue = [];
    const { maxMs } = this.#ctx.backoff;
    const delay = Math.round(this.#backoffMs * (0.8 + 0.4 * Math.random()));
    this.#retryAt = Date.now() + delay;
    this.#backoffMs = Math.min(this.#backoffMs * 2, maxMs);
    this.#failures++;
    const fields = {
      peer: this.id,
      addr: this.#addr,
      ...describeError(err ?? new Error('the receiver ended the stream')),
      dropped,
      retryInMs: delay,
    };
    if (this.#failures === 1) this.#ctx.logger.warn(fields, 'raft stream to peer failed');
    else this.#ctx.logger.debug?.(fields, 'raft stream to peer failed again');
    this.#ctx.unreachable(this.id);
  }

  /** Forgets the current stream without reporting it: the caller replaces or closes it. */
  #abandonStream(): void {
    const call = this.#call;
    this.#call = null;
    this.#blocked = false;
    call?.cancel();
  }

  #enqueueSnapshot(m: Message): void {
    if (m.snapshot === null) {
      this.#ctx.logger.warn({ peer: this.id }, 'dropped a snap message without a snapshot');
      return;
    }
    // Only the newest snapshot is worth sending; the one it replaces is reported as failed so
    // that the core does not wait for it.
    if (this.#pendingSnapshot !== null) {
      queueMicrotask(() => this.#ctx.snapshotStatus(this.id, false));
    }
    this.#pendingSnapshot = m;
    if (this.#snapshotCall === null) queueMicrotask(() => this.#nextSnapshot());
  }

  #nextSnapshot(): void {
    if (this.#closed || this.#snapshotCall !== null) return;
    const m = this.#pendingSnapshot;
    if (m === null) return;
    this.#pendingSnapshot = null;
    void this.#streamSnapshot(m)
      .catch((err: unknown) => {
        this.#ctx.logger.warn(
          { peer: this.id, ...describeError(err) },
          'sending a raft snapshot to peer failed',
        );
        return false;
      })
      .then((ok) => {
        if (this.#closed) return;
        this.#ctx.snapshotStatus(this.id, ok);
        this.#nextSnapshot();
      });
  }

  async #streamSnapshot(m: Message): Promise<boolean> {
    const snapshot = m.snapshot!;
    const data = snapshot.data;
    let finish!: (err: grpc.ServiceError | null) => void;
    const finished = new Promise<grpc.ServiceError | null>((resolve) => {
      finish = resolve;
    });
    const call = this.#client.SendSnapshot((err) => finish(err));
    call.on('error', () => {});
    this.#snapshotCall = call;
    try {
      const header: WireSnapshotHeader = {
        cluster_id: this.#ctx.clusterId,
        from: this.#ctx.nodeId,
        to: this.id,
        message: messageToWire(m),
        meta: {
          index: snapshot.meta.index,
          term: snapshot.meta.term,
          voters: [...snapshot.meta.conf.voters],
          learners: [...snapshot.meta.conf.learners],
        },
        data_size: data.length,
      };
      let failed = false;
      const writeChunk = async (chunk: WireSnapshotChunk): Promise<void> => {
        if (call.write(chunk)) return;
        const drained = new Promise<boolean>((resolve) => call.once('drain', () => resolve(true)));
        failed = !(await Promise.race([drained, finished.then(() => false)]));
      };
      await writeChunk({ header, data: noBytes });
      const step = this.#ctx.chunkBytes;
      for (let off = 0; off < data.length && !failed && !this.#closed; off += step) {
        const len = Math.min(step, data.length - off);
        await writeChunk({
          header: null,
          data: Buffer.from(data.buffer, data.byteOffset + off, len),
        });
      }
      call.end();
      const err = await finished;
      if (err !== null) {
        this.#ctx.logger.warn(
          { peer: this.id, addr: this.#addr, index: snapshot.meta.index, ...describeError(err) },
          'sending a raft snapshot to peer failed',
        );
        this.#ctx.unreachable(this.id);
        return false;
      }
      return true;
    } finally {
      this.#snapshotCall = null;
    }
  }
}

/** Raft messages to and from the other members, over gRPC. */
export class GrpcTransport {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly #listenAddr: string;
  readonly #onMessage: (m: Message) => void;
  readonly #logger: TransportLogger;
  readonly #serverCredentials: grpc.ServerCredentials;
  readonly #authorize: (call: RaftCaller, from: NodeId) => string | null;
  readonly #ctx: LinkContext;
  readonly #peers = new Map<NodeId, PeerLink>();
  #server: grpc.Server | null = null;
  #address: string | null = null;
  #closed = false;

  constructor(opts: GrpcTransportOptions) {
    this.nodeId = opts.nodeId;
    this.clusterId = opts.clusterId;
    this.#listenAddr = opts.listenAddr;
    this.#onMessage = opts.onMessage;
    const logger = opts.logger ?? { warn() {} };
    this.#logger = logger;
    this.#serverCredentials = opts.credentials?.server ?? grpc.ServerCredentials.createInsecure();
    this.#authorize = opts.authorize ?? (() => null);
    const { onUnreachable, onSnapshotStatus } = opts;
    this.#ctx = {
      nodeId: opts.nodeId,
      clusterId: opts.clusterId,
      credentials: opts.credentials?.channel ?? grpc.credentials.createInsecure(),
      channelOptions: { ...raftChannelOptions, ...opts.credentials?.channelOptions },
      maxQueued: opts.maxQueuedMessages ?? DEFAULT_MAX_QUEUED,
      chunkBytes: opts.snapshotChunkBytes ?? DEFAULT_CHUNK_BYTES,
      backoff: opts.backoff ?? DEFAULT_BACKOFF,
      logger,
      advertiseAddr: () => opts.advertiseAddr ?? this.#address ?? '',
      // A throwing callback must not break the link that called it.
      unreachable: (peer) => {
        if (this.#closed || onUnreachable === undefined) return;
        try {
          onUnreachable(peer);
        } catch (err) {
          logger.warn({ peer, err }, 'onUnreachable threw');
        }
      },
      snapshotStatus: (peer, ok) => {
        if (this.#closed || onSnapshotStatus === undefined) return;
        try {
          onSnapshotStatus(peer, ok);
        } catch (err) {
          logger.warn({ peer, err }, 'onSnapshotStatus threw');
        }
      },
    };
  }

  /** The address start() bound, or null before it. */
  get address(): string | null {
    return this.#address;
  }

  /** Starts listening; returns the bound address (with the real port when 0 was asked). */
  async start(): Promise<string> {
    if (this.#closed) throw new TransportError('the raft transport is closed');
    if (this.#address !== null) return this.#address;
    const server = new grpc.Server(raftServerOptions);
    const handlers: RaftHandlers = {
      Send: (call, callback) => this.#receiveStream(call, callback),
      SendSnapshot: (call, callback) => this.#receiveSnapshot(call, callback),
    };
    addRaftService(server, handlers);
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        server.bindAsync(this.#listenAddr, this.#serverCredentials, (err, bound) =>
          err ? reject(err) : resolve(bound),
        );
      });
    } catch (err) {
      server.forceShutdown();
      throw new TransportError(
        `cannot listen for raft peers on ${this.#listenAddr}: ${err instanceof Error ? err.message : String(err)}; is another process using that address?`,
        { cause: err },
      );
    }
    this.#server = server;
    const colon = this.#listenAddr.lastIndexOf(':');
    const host = colon < 0 ? this.#listenAddr : this.#listenAddr.slice(0, colon);
    this.#address = `${host}:${port}`;
    return this.#address;
  }

  /**
   * Serves another gRPC service on this transport's listener: a manager's one cluster port
   * carries Raft and the dispatcher, as Swarm's 2377. Only after start().
   */
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    if (this.#server === null) throw new TransportError('the raft transport is not listening');
    this.#server.addService(service, impl);
  }

  removeService(service: grpc.ServiceDefinition): void {
    this.#server?.removeService(service);
  }

  /** Adds a peer, or points an existing one at a new address. */
  setPeer(id: NodeId, addr: string): void {
    if (this.#closed || id === this.nodeId) return;
    const link = this.#peers.get(id);
    if (link === undefined) this.#peers.set(id, new PeerLink(id, addr, this.#ctx));
    else link.retarget(addr);
  }

  removePeer(id: NodeId): void {
    const link = this.#peers.get(id);
    if (link === undefined) return;
    this.#peers.delete(id);
    link.close();
  }

  /**
   * Queues messages for their peers and returns at once. Messages are sent under this node's id
   * whatever their `from`; those for unknown peers are dropped (Raft will retry).
   */
  send(messages: readonly Message[]): void {
    if (this.#closed) return;
    for (const m of messages) {
      const link = this.#peers.get(m.to);
      if (link === undefined) {
        this.#logger.debug?.(
          { to: m.to, type: m.type },
          'dropped a raft message to an unknown peer',
        );
        continue;
      }
      link.enqueue(m);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const link of this.#peers.values()) link.close();
    this.#peers.clear();
    const server = this.#server;
    this.#server = null;
    if (server === null) return;
    // Peers' streams never end on their own: cut them, and resolve once the port is released
    // so that a restart can bind it again.
    await new Promise<void>((resolve) => {
      server.tryShutdown(() => resolve());
      server.forceShutdown();
    });
  }

  /** Why a batch or snapshot addressed this way is not for this member, or null if it is. */
  #refusal(clusterId: string, to: string): string | null {
    if (clusterId !== this.clusterId) {
      return `this member belongs to cluster ${this.clusterId}, not ${clusterId || '(none)'}`;
    }
    if (to !== this.nodeId) return `this member is ${this.nodeId}, not ${to || '(none)'}`;
    return null;
  }

  #deliver(m: Message): void {
    try {
      this.#onMessage(m);
    } catch (err) {
      this.#logger.warn({ from: m.from, type: m.type, err }, 'the raft message handler threw');
    }
  }

  #receiveStream(
    call: grpc.ServerReadableStream<WireMessageBatch, WireSendAck>,
    callback: grpc.sendUnaryData<WireSendAck>,
  ): void {
    let done = false;
    let accepted = false;
    call.on('data', (batch: WireMessageBatch) => {
      if (done || this.#closed) return;
      // One stream, one sender: its right to speak as `from` is checked on the first batch.
      const forbidden = accepted ? null : this.#authorize(call, batch.from);
      if (forbidden !== null) {
        done = true;
        this.#logger.warn(
          { from: batch.from, peer: call.getPeer(), reason: forbidden },
          'refused raft messages from a caller that may not send them',
        );
        callback({ code: grpc.status.PERMISSION_DENIED, details: forbidden });
        return;
      }
      const refusal = this.#refusal(batch.cluster_id, batch.to);
      if (refusal !== null) {
        done = true;
        this.#logger.warn(
          { from: batch.from, peer: call.getPeer(), reason: refusal },
          'refused raft messages not meant for this member',
        );
        callback({ code: grpc.status.FAILED_PRECONDITION, details: refusal });
        return;
      }
      if (!accepted) {
        accepted = true;
        call.sendMetadata(new grpc.Metadata());
      }
      // Only for a peer we have no address for: the membership, once known, is authoritative.
      if (batch.from_addr !== '' && !this.#peers.has(batch.from))
        this.setPeer(batch.from, batch.from_addr);
      for (const w of batch.messages) {
        const m = messageFromWire(w, batch.from, batch.to);
        if (m === null) {
          this.#logger.debug?.(
            { from: batch.from, type: w.type },
            'dropped an unreadable raft message',
          );
          continue;
        }
        this.#deliver(m);
      }
    });
    call.on('end', () => {
      if (done) return;
      done = true;
      callback(null, {});
    });
    // The sender went away; it will open a new stream.
    call.on('error', () => {
      done = true;
    });
    call.on('cancelled', () => {
      done = true;
    });
  }

  #receiveSnapshot(
    call: grpc.ServerReadableStream<WireSnapshotChunk, WireSnapshotAck>,
    callback: grpc.sendUnaryData<WireSnapshotAck>,
  ): void {
    let header: WireSnapshotHeader | null = null;
    let data: Buffer = noBytes;
    let received = 0;
    let done = false;
    const refuse = (code: grpc.status, details: string): void => {
      if (done) return;
      done = true;
      this.#logger.warn(
        { from: header?.from, peer: call.getPeer(), reason: details },
        'refused a raft snapshot',
      );
      callback({ code, details });
    };
    call.on('data', (chunk: WireSnapshotChunk) => {
      if (done || this.#closed) return;
      if (header === null) {
        const h = chunk.header;
        if (h === null || h.message === null || h.meta === null) {
          refuse(grpc.status.INVALID_ARGUMENT, 'the first snapshot chunk carries no header');
          return;
        }
        const forbidden = this.#authorize(call, h.from);
        if (forbidden !== null) {
          refuse(grpc.status.PERMISSION_DENIED, forbidden);
          return;
        }
        const refusal = this.#refusal(h.cluster_id, h.to);
        if (refusal !== null) {
          refuse(grpc.status.FAILED_PRECONDITION, refusal);
          return;
        }
        if (h.data_size > MAX_SNAPSHOT_BYTES) {
          refuse(grpc.status.RESOURCE_EXHAUSTED, `a snapshot of ${h.data_size} bytes is too big`);
          return;
        }
        header = h;
        data = Buffer.allocUnsafe(h.data_size);
      }
      const bytes = chunk.data;
      if (bytes.length === 0) return;
      if (received + bytes.length > data.length) {
        refuse(
          grpc.status.INVALID_ARGUMENT,
          `more snapshot data than the ${data.length} bytes announced`,
        );
        return;
      }
      data.set(bytes, received);
      received += bytes.length;
    });
    call.on('end', () => {
      if (done || this.#closed) return;
      if (header === null || header.message === null || header.meta === null) {
        refuse(grpc.status.INVALID_ARGUMENT, 'the snapshot stream carried no header');
        return;
      }
      if (received !== data.length) {
        refuse(
          grpc.status.INVALID_ARGUMENT,
          `the snapshot stream ended after ${received} of ${data.length} bytes`,
        );
        return;
      }
      const { meta } = header;
      const snapshot: Snapshot = {
        meta: {
          index: meta.index,
          term: meta.term,
          conf: { voters: meta.voters, learners: meta.learners },
        },
        data,
      };
      const m = messageFromWire(header.message, header.from, header.to, snapshot);
      if (m === null || m.type !== 'snap') {
        refuse(grpc.status.INVALID_ARGUMENT, 'the snapshot stream does not carry a snap message');
        return;
      }
      done = true;
      this.#deliver(m);
      callback(null, {});
    });
    call.on('error', () => {
      done = true;
    });
    call.on('cancelled', () => {
      done = true;
    });
  }
}
