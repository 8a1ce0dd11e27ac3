// The dispatcher: one session per worker. A session streams the node's assignment set down
// whenever it changes and takes the worker's status reports and node descriptions up, batched
// into store transactions across every session. The node is 'ready' while its session lives and
// 'down' once it falls silent for heartbeatMs × 3 (Swarm's grace), or once its session ended
// and no new one came within that time, which is what makes the orchestrator replace its tasks.
// The wait after an end is what lets a worker restart (a daemon upgrade, a SIGTERM and start)
// keep its tasks, as in Swarm, where a node is down only when its heartbeats stop.
//
// Leader-only, as Swarm's: while this manager is not the leader it refuses sessions (the
// worker retries, and finds the leader once joining other managers exists), and losing
// leadership ends every session without marking any node down: the next leader decides. It
// gives every node not already down the same grace to open a session with it (a manager
// restarted is a new leader too): a node that never comes back must not stay ready.

import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import {
  type DispatcherMessage,
  decodeMessage,
  encodeMessage,
  MANAGERS_METADATA_KEY,
  type SessionCall,
  type WireDiscoveryNetwork,
  type WirePeer,
  type WireServiceEndpoints,
  type WorkerMessage,
} from '../../api/dispatcher-wire.ts';
import type { NodeDescription, NodeRole, NodeState, TaskStatus } from '../../api/objects.ts';
import { callerIdentity } from '../../ca/index.ts';
import { StoreConflictError } from '../../errors.ts';
import type { Store } from '../../store/index.ts';
import { discoveryTable, overlayPeers } from '../allocator/discovery-table.ts';
import { endpointTable } from '../allocator/endpoint-table.ts';
import { type LoopLog, type ReconcileLoop, runPasses, silentLog } from '../loops/reconcile.ts';
import { assignmentKey, assignmentSet } from './assignments.ts';
import {
  type CancelLogs,
  type LogRequest,
  type LogSink,
  SessionLogSubscriptions,
} from './log-subscriptions.ts';
import {
  applyNodeDescriptions,
  defaultRecordingLimits,
  parseNodeDescription,
  type RecordingLimits,
} from './node-descriptions.ts';
import {
  applyStatusUpdates,
  isForward,
  type NodeStatusUpdate,
  parseStatusUpdate,
} from './status-updates.ts';

export interface DispatcherOptions {
  readonly store: Store;
  readonly log?: LoopLog;
  readonly now?: () => number;
  /** Overrides the cluster's dispatcherHeartbeatMs (tests). */
  readonly heartbeatMs?: number;
  /** The managers' cluster addresses, told to every worker when its session opens. */
  readonly managers?: () => readonly string[];
  /** Missed heartbeat periods before a session is ended (default 3). */
  readonly grace?: number;
  /** Pause before retrying a status batch the store refused (default 200 ms). */
  readonly retryMs?: number;
  /**
   * The longest a node's stored usage is left unrefreshed while its worker keeps reporting
   * (default 60 s); smaller changes than the thresholds are not written before that.
   */
  readonly usageMaxAgeMs?: number;
  /**
   * The cluster's CA: sessions then come over mutual TLS, and a hello must name the node its
   * certificate names (a worker speaks only for itself). Without it (tests on plaintext) the
   * hello is taken at its word.
   */
  readonly caCertPem?: string;
}

/**
 * 2 s, where Swarm has 5 s: a worker that falls silent is marked down after 3 periods, and its
 * tasks must run elsewhere within 10 s of its loss (Swarm takes about 20 s). A heartbeat is a
 * few bytes on a stream already open, so even thousands of workers cost a manager little.
 */
export const DEFAULT_HEARTBEAT_MS = 2_000;

/** What a session's end means for its node (see Dispatcher.ended). */
type SessionEnd = 'now' | 'unless-back' | null;

export class Dispatcher implements ReconcileLoop {
  readonly name = 'dispatcher';
  readonly #store: Store;
  readonly #log: LoopLog;
  readonly #now: () => number;
  readonly #heartbeatMs: number | undefined;
  readonly #caCertPem: string | undefined;
  readonly #grace: number;
  readonly #managers: () => readonly string[];
  readonly #retryMs: number;
  readonly #recordingLimits: RecordingLimits;
  /** The current term's run; null while this manager is not leading. */
  #term: AbortController | null = null;
  readonly #sessions = new Map<string, NodeSession>();
  /** Nodes whose session ended, each marked down unless a new session opens first. */
  readonly #downTimers = new Map<string, NodeJS.Timeout>();
  readonly #queue = new Map<string, NodeStatusUpdate>();
  /** The latest description per node not yet written. */
  readonly #descriptions = new Map<string, NodeDescription>();
  #flushing: Promise<void> | null = null;
  /** The mesh table as of a store index, shared by every session's pass over that change. */
  #endpoints: { index: number; key: string; services: WireServiceEndpoints[] } | null = null;
  /** Service discovery's table as of a store index, shared the same way. */
  #discovery: {
    index: number;
    key: string;
    networks: WireDiscoveryNetwork[];
    peers: WirePeer[];
  } | null = null;

  constructor(opts: DispatcherOptions) {
    this.#store = opts.store;
    this.#log = opts.log ?? silentLog;
    this.#now = opts.now ?? Date.now;
    this.#heartbeatMs = opts.heartbeatMs;
    this.#caCertPem = opts.caCertPem;
    this.#grace = opts.grace ?? 3;
    this.#managers = opts.managers ?? (() => []);
    this.#retryMs = opts.retryMs ?? 200;
    this.#recordingLimits = {
      ...defaultRecordingLimits,
      ...(opts.usageMaxAgeMs === undefined ? {} : { maxAgeMs: opts.usageMaxAgeMs }),
    };
  }

  /** Serves sessions until `signal` aborts or stop() is called; may run again after. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#term !== null) throw new Error('the dispatcher is already running');
    const term = new AbortController();
    this.#term = term;
    const onAbort = () => term.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) term.abort();
    for (const node of this.#store.view((tx) => tx.nodes.all())) {
      if (node.status.state !== 'down') {
        this.#downUnlessBack(node.meta.id, 'no session since this manager became the leader');
      }
    }
    try {
      await new Promise<void>((resolve) => {
        if (term.signal.aborted) resolve();
        else term.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.#term = null;
      for (const s of [...this.#sessions.values()]) s.close('the manager stopped leading', null);
      this.#sessions.clear();
      // The next leader decides about nodes without a session.
      for (const timer of this.#downTimers.values()) clearTimeout(timer);
      this.#downTimers.clear();
      await this.#flushing;
    }
  }

  /** Ends the current run (not the dispatcher: a later term runs it again). */
  stop(): void {
    this.#term?.abort();
  }

  /** Sessions open now, by node id (for tests and `node ls` later). */
  get sessions(): readonly string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * Asks the node's worker, over its session, for the logs of some of its tasks. null when the
   * node has no session here: the manager never reaches a worker's containers another way.
   */
  openLogs(nodeId: string, request: LogRequest, sink: LogSink): CancelLogs | null {
    return this.#sessions.get(nodeId)?.openLogs(request, sink) ?? null;
  }

  /** The gRPC handler of Dispatcher.Session. */
  session(call: SessionCall): void {
    const term = this.#term;
    if (term === null) {
      // Where to look instead: a worker that knows only this manager learns the others.
      const metadata = new grpc.Metadata();
      metadata.set(MANAGERS_METADATA_KEY, this.#managers().join(','));
      fail(call, grpc.status.UNAVAILABLE, 'this manager is not the leader; retry', metadata);
      return;
    }
    let started = false;
    const onFirst = (wire: { json: string }) => {
      started = true;
      const hello = decodeMessage<WorkerMessage>(wire);
      if (hello?.type !== 'hello' || typeof hello.nodeId !== 'string') {
        fail(call, grpc.status.INVALID_ARGUMENT, 'a session starts with {type: "hello", nodeId}');
        return;
      }
      if (this.#caCertPem !== undefined) {
        let certified: string;
        try {
          certified = callerIdentity(call, this.#caCertPem).nodeId;
        } catch (err) {
          fail(call, grpc.status.UNAUTHENTICATED, (err as Error).message);
          return;
        }
        if (certified !== hello.nodeId) {
          fail(
            call,
            grpc.status.PERMISSION_DENIED,
            `the session's certificate is node ${certified}'s, not node ${hello.nodeId}'s`,
          );
          return;
        }
      }
      const known = this.#store.view((tx) => tx.nodes.get(hello.nodeId)) !== undefined;
      if (!known) {
        fail(call, grpc.status.NOT_FOUND, `node ${hello.nodeId} is not part of this swarm`);
        return;
      }
      const dataPathAddr =
        typeof hello.dataPathAddr === 'string' && hello.dataPathAddr !== ''
          ? hello.dataPathAddr
          : undefined;
      const session = new NodeSession(this, hello.nodeId, call, term.signal, dataPathAddr);
      // A worker that reconnects before its old stream is noticed dead replaces it.
      this.#sessions.get(hello.nodeId)?.close('replaced by a new session', null);
      clearTimeout(this.#downTimers.get(hello.nodeId));
      this.#downTimers.delete(hello.nodeId);
      this.#sessions.set(hello.nodeId, session);
      session.start();
    };
    call.once('data', onFirst);
    call.once('end', () => {
      if (!started) call.end();
    });
    call.on('error', () => {});
  }

  // ---- for the sessions -----------------------------------------------------------------------

  get store(): Store {
    return this.#store;
  }

  get log(): LoopLog {
    return this.#log;
  }

  now(): number {
    return this.#now();
  }

  heartbeatMs(): number {
    if (this.#heartbeatMs !== undefined) return this.#heartbeatMs;
    const cluster = this.#store.view((tx) => tx.clusters.all()[0]);
    return cluster?.spec.dispatcherHeartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  }

  managers(): readonly string[] {
    return this.#managers();
  }

  /** The routing mesh's table for the store as it is now, and a key that changes with it. */
  endpoints(): { key: string; services: WireServiceEndpoints[] } {
    const index = this.#store.index;
    if (this.#endpoints?.index !== index) {
      const services = this.#store.view((tx) =>
        endpointTable(
          tx.services.all(),
          (id) => tx.tasks.byService(id),
          (id) => tx.nodes.get(id),
        ),
      );
      this.#endpoints = { index, key: JSON.stringify(services), services };
    }
    return this.#endpoints;
  }

  /** Service discovery's table for the store as it is now, and a key that changes with it. */
  discovery(): { key: string; networks: WireDiscoveryNetwork[]; peers: WirePeer[] } {
    const index = this.#store.index;
    if (this.#discovery?.index !== index) {
      const { networks, peers } = this.#store.view((tx) => ({
        networks: discoveryTable(tx.networks.all(), tx.services.all(), (id) =>
          tx.tasks.byService(id),
        ),
        peers: overlayPeers(tx.nodes.all()),
      }));
      this.#discovery = { index, key: JSON.stringify([networks, peers]), networks, peers };
    }
    return this.#discovery;
  }

  get grace(): number {
    return this.#grace;
  }

  /**
   * `down`: 'now' when the node already was silent for the whole grace, 'unless-back' when its
   * stream just ended (marked down if no new session opens within the grace), null when the
   * node is not to blame (this manager stopped leading, a newer session replaced this one).
   */
  ended(session: NodeSession, down: SessionEnd, reason: string): void {
    if (this.#sessions.get(session.nodeId) !== session) return;
    this.#sessions.delete(session.nodeId);
    if (down === null || this.#term === null) return;
    if (down === 'now') void this.setNodeState(session.nodeId, 'down', reason);
    else this.#downUnlessBack(session.nodeId, reason);
  }

  /** Marks the node down after the grace, unless a session of its opens before. */
  #downUnlessBack(nodeId: string, reason: string): void {
    const timer = setTimeout(() => {
      this.#downTimers.delete(nodeId);
      if (this.#term !== null && !this.#sessions.has(nodeId)) {
        void this.setNodeState(nodeId, 'down', reason);
      }
    }, this.heartbeatMs() * this.#grace);
    timer.unref();
    clearTimeout(this.#downTimers.get(nodeId));
    this.#downTimers.set(nodeId, timer);
  }

  report(nodeId: string, taskId: string, status: TaskStatus): void {
    const queued = this.#queue.get(taskId);
    if (queued !== undefined && !isForward(queued.status, status)) return;
    this.#queue.set(taskId, { nodeId, taskId, status });
    this.#startFlush();
  }

  /** A node's latest description; only the newest of those waiting is written. */
  describe(nodeId: string, description: NodeDescription): void {
    this.#descriptions.set(nodeId, description);
    this.#startFlush();
  }

  #startFlush(): void {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = null;
    });
  }

  /** Writes the queued reports, one batch at a time: reports arriving meanwhile join the next. */
  async #flush(): Promise<void> {
    while ((this.#queue.size > 0 || this.#descriptions.size > 0) && this.#term !== null) {
      const batch = [...this.#queue.values()];
      this.#queue.clear();
      const descriptions = [...this.#descriptions].map(([nodeId, description]) => ({
        nodeId,
        description,
      }));
      this.#descriptions.clear();
      try {
        await this.#store.batch((tx) => {
          applyStatusUpdates(tx, batch);
          applyNodeDescriptions(tx, descriptions, this.#recordingLimits);
        });
      } catch (err) {
        this.#log.debug(
          { err, reports: batch.length, descriptions: descriptions.length },
          'report batch refused; retrying',
        );
        // Put back what no newer report replaced; forward-only makes the retry safe.
        for (const u of batch) {
          const newer = this.#queue.get(u.taskId);
          if (newer === undefined) this.#queue.set(u.taskId, u);
        }
        for (const d of descriptions) {
          if (!this.#descriptions.has(d.nodeId)) this.#descriptions.set(d.nodeId, d.description);
        }
        await delay(this.#retryMs, undefined, { ref: false });
      }
    }
  }

  /** `addr`: the node's data-path address as its session gave it; absent: left as it is. */
  async setNodeState(
    nodeId: string,
    state: NodeState,
    message: string,
    addr?: string,
  ): Promise<void> {
    for (let attempt = 1; attempt <= 5 && this.#term !== null; attempt++) {
      try {
        await this.#store.update((tx) => {
          const node = tx.nodes.get(nodeId);
          if (node === undefined) return;
          const status = { state, message, addr: addr ?? node.status.addr };
          if (JSON.stringify(node.status) === JSON.stringify(status)) return;
          tx.nodes.update({ ...node, status });
        });
        return;
      } catch (err) {
        if (err instanceof StoreConflictError) continue;
        this.#log.warn({ err, nodeId, state }, 'could not record the node state');
        return;
      }
    }
  }
}

class NodeSession {
  readonly nodeId: string;
  readonly #d: Dispatcher;
  readonly #call: SessionCall;
  readonly #halt = new AbortController();
  readonly #sessionId = randomBytes(8).toString('hex');
  readonly #serviceNames = new Map<string, string>();
  #lastSeen: number;
  #sentKey: string | null = null;
  #endpointsKey: string | null = null;
  #discoveryKey: string | null = null;
  readonly #dataPathAddr: string | undefined;
  #heartbeat: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #logs = new SessionLogSubscriptions((msg) => this.#send(msg));

  constructor(
    d: Dispatcher,
    nodeId: string,
    call: SessionCall,
    term: AbortSignal,
    dataPathAddr: string | undefined,
  ) {
    this.#d = d;
    this.#dataPathAddr = dataPathAddr;
    this.nodeId = nodeId;
    this.#call = call;
    this.#lastSeen = d.now();
    term.addEventListener('abort', () => this.close('the manager stopped leading', null), {
      once: true,
    });
  }

  start(): void {
    const d = this.#d;
    const heartbeatMs = d.heartbeatMs();
    d.log.debug({ nodeId: this.nodeId, sessionId: this.#sessionId }, 'worker session opened');
    this.#call.on('data', (wire: { json: string }) => this.#onMessage(wire));
    this.#call.on('end', () => this.close('the worker ended its session', 'unless-back'));
    this.#call.on('cancelled', () => this.close('the worker went away', 'unless-back'));
    this.#call.on('error', () => this.close('the session broke', 'unless-back'));
    this.#call.on('close', () => this.close('the session closed', 'unless-back'));
    this.#heartbeat = setInterval(() => {
      if (d.now() - this.#lastSeen > heartbeatMs * d.grace) this.close('heartbeat failure', 'now');
    }, heartbeatMs);
    this.#heartbeat.unref();
    let managersSent = d.managers();
    this.#send({
      type: 'session',
      sessionId: this.#sessionId,
      heartbeatMs,
      managers: managersSent,
    });
    void d.setNodeState(this.nodeId, 'ready', '', this.#dataPathAddr);
    let roleSent: NodeRole | undefined;
    void runPasses({
      store: d.store,
      tables: ['tasks', 'services', 'nodes', 'networks'],
      signal: this.#halt.signal,
      pass: async () => {
        // The role its Node asks for (promote, demote): the node itself makes the change.
        const role = d.store.view((tx) => tx.nodes.get(this.nodeId)?.spec.role);
        if (role === undefined) {
          // `node rm`: its certificate opens no session any more (the next hello is refused).
          this.close('the node was removed from the swarm', null);
          return { wakeAt: null, retry: false };
        }
        // The mesh first: a task leaves every node's table before its own node stops it.
        this.#sendEndpoints();
        this.#sendDiscovery();
        this.#sendAssignments();
        // Managers join and leave while a session lasts; a worker restarted later must still
        // know them all (their nodes' changes wake this pass).
        const managers = d.managers();
        const listed = (list: readonly string[]) => [...list].sort().join(',');
        if (listed(managers) !== listed(managersSent)) {
          managersSent = managers;
          this.#send({ type: 'managers', managers });
        }
        if (role !== roleSent) {
          roleSent = role;
          this.#send({ type: 'role', role });
        }
        return { wakeAt: null, retry: false };
      },
      now: () => d.now(),
      retryMs: 1_000,
      log: d.log,
      name: `dispatcher session ${this.nodeId}`,
    }).catch((err: unknown) => {
      d.log.warn({ err, nodeId: this.nodeId }, 'assignment stream failed');
      this.close('the assignment stream failed', 'unless-back');
    });
  }

  openLogs(request: LogRequest, sink: LogSink): CancelLogs {
    return this.#logs.open(request, sink);
  }

  close(reason: string, down: SessionEnd): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#halt.abort();
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#logs.end(`the session of node ${this.nodeId} ended (${reason})`);
    this.#d.log.debug({ nodeId: this.nodeId, reason }, 'worker session closed');
    if (!this.#call.destroyed && this.#call.writable) {
      try {
        this.#call.end();
      } catch {
        // already gone
      }
    }
    this.#d.ended(this, down, reason);
  }

  #onMessage(wire: { json: string }): void {
    this.#lastSeen = this.#d.now();
    const msg = decodeMessage<WorkerMessage>(wire);
    if (msg === null || this.#logs.receive(msg)) return;
    if (msg.type === 'describe') {
      const description = parseNodeDescription(msg.description);
      if (description !== null) this.#d.describe(this.nodeId, description);
      return;
    }
    if (msg.type !== 'status' || !Array.isArray(msg.updates)) return;
    for (const raw of msg.updates as unknown[]) {
      const update = parseStatusUpdate(raw);
      if (update !== null) this.#d.report(this.nodeId, update.taskId, update.status);
    }
  }

  #sendEndpoints(): void {
    if (this.#closed) return;
    const { key, services } = this.#d.endpoints();
    if (key === this.#endpointsKey) return;
    this.#endpointsKey = key;
    this.#send({ type: 'endpoints', services });
  }

  #sendDiscovery(): void {
    if (this.#closed) return;
    const { key, networks, peers } = this.#d.discovery();
    if (key === this.#discoveryKey) return;
    this.#discoveryKey = key;
    this.#send({ type: 'discovery', networks, peers });
  }

  #sendAssignments(): void {
    if (this.#closed) return;
    const { tasks, services, networks } = this.#d.store.view((tx) => ({
      tasks: tx.tasks.byNode(this.nodeId),
      services: tx.services.all(),
      networks: new Map(tx.networks.all().map((n) => [n.meta.id, n])),
    }));
    // A removed service's name is still needed to wind its containers down.
    for (const s of services) this.#serviceNames.set(s.meta.id, s.spec.name);
    const name = (id: string) => this.#serviceNames.get(id) ?? '';
    const key = assignmentKey(tasks, name);
    if (key === this.#sentKey) return;
    this.#sentKey = key;
    this.#send({
      type: 'assignments',
      tasks: assignmentSet(tasks, name, (id) => networks.get(id)),
    });
  }

  #send(msg: DispatcherMessage): void {
    if (this.#closed) return;
    this.#call.write(encodeMessage(msg));
  }
}

function fail(
  call: SessionCall,
  code: grpc.status,
  details: string,
  metadata = new grpc.Metadata(),
): void {
  call.emit('error', { code, details, metadata });
}
