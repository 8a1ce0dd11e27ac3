// The worker's end of the dispatcher session: dials the manager, says which node it is, hands
// every assignment set it receives to the WorkerAgent and sends the agent's status reports
// back, one message per agent flush. A broken session is redialled with backoff; on every new
// session the agent's whole view is reported again, since reports made while disconnected (or
// lost with the old stream) would otherwise never arrive (the dispatcher drops repeats). It also
// sends this node's description with its live usage when a session opens and periodically after:
// the manager learns a node's facts only from its session, never by looking at its own host. Log
// subscriptions (LogReaders) answer on the session that asked and end with it: their ids mean
// nothing to the next one.
//
// Only the wire types: the worker never imports the manager or the store.

import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type * as grpc from '@grpc/grpc-js';
import {
  createDispatcherClient,
  type DispatcherClient,
  type DispatcherMessage,
  decodeMessage,
  dispatcherChannelOptions,
  encodeMessage,
  MANAGERS_METADATA_KEY,
  type SessionStream,
  type StatusUpdate,
  type WireDiscoveryNetwork,
  type WirePeer,
  type WireServiceEndpoints,
  type WorkerMessage,
} from '../api/dispatcher-wire.ts';
import type { NodeDescription, NodeRole, TaskStatus } from '../api/objects.ts';
import { type AgentLog, WorkerAgent, type WorkerAgentOptions } from './agent.ts';
import { LogReaders, type LogUplink, parseLogSubscription } from './log-readers.ts';
import type { Runtime } from './runtime.ts';
import { NamespaceSandboxes, type SandboxHost } from './sandboxes.ts';

export interface SessionLog extends AgentLog {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface WorkerSessionOptions {
  /**
   * A manager's cluster address (host:port). Only the leader's dispatcher accepts sessions; the
   * others a session learns of are tried in turn when this one refuses or fails.
   */
  readonly addr: string;
  /** More managers to try, asked before each attempt (a manager's own worker: its Raft peers). */
  readonly managers?: () => readonly string[];
  /** The role the node's spec asks for, as the dispatcher says it (promote, demote). */
  readonly onRole?: (role: NodeRole, manager: string) => void;
  /** The managers a session named, when they differ from those known before. */
  readonly onManagers?: (addrs: readonly string[]) => void;
  readonly nodeId: string;
  /** Told to the dispatcher: where other nodes reach this node's published host ports. */
  readonly dataPathAddr?: string;
  /** The routing mesh's table, each time the dispatcher sends it. */
  readonly onEndpoints?: (services: readonly WireServiceEndpoints[]) => void;
  /** Service discovery's table, each time the dispatcher sends it. */
  readonly onDiscovery?: (
    networks: readonly WireDiscoveryNetwork[],
    peers: readonly WirePeer[],
  ) => void;
  /** Sets up the namespaces of tasks on orca networks (their DNS and VIPs); absent: none. */
  readonly sandboxHost?: SandboxHost;
  readonly runtime: Runtime;
  readonly log?: SessionLog;
  readonly credentials?: grpc.ChannelCredentials;
  /** Channel options the credentials need (mutual TLS: the expected server name). */
  readonly channelOptions?: grpc.ChannelOptions;
  /** First redial delay (default 100 ms), doubling up to maxBackoffMs (default 5 s). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /**
   * This node's description with its live usage, sent when a session opens and every
   * `describeIntervalMs` (default 10 s) after. Without it the stored description is left alone.
   */
  readonly describe?: () => Promise<NodeDescription>;
  readonly describeIntervalMs?: number;
  /** Passed through to the agent (flush and poll intervals, for tests). */
  readonly agent?: Partial<
    Pick<WorkerAgentOptions, 'flushIntervalMs' | 'pollIntervalMs' | 'orphanGraceMs' | 'clock'>
  >;
}

const quiet: SessionLog = { warn() {}, info() {}, debug() {} };

/** How soon an engine network still in use is tried again, once the swarm no longer has it. */
const PRUNE_RETRY_MS = 5_000;

export class WorkerSession {
  readonly #opts: WorkerSessionOptions;
  readonly #log: SessionLog;
  readonly #agent: WorkerAgent;
  readonly #logReaders: LogReaders;
  readonly #clients = new Map<string, DispatcherClient>();
  /** Managers to dial, the one that last accepted first; grows as sessions name others. */
  #addrs: string[];
  /** The managers last given to onManagers (or known at start), as managersKey has them. */
  #reportedManagers: string;
  #next = 0;
  readonly #halt = new AbortController();
  readonly #outbox = new Map<string, TaskStatus>();
  #call: SessionStream | null = null;
  #heartbeat: NodeJS.Timeout | null = null;
  #describeTimer: NodeJS.Timeout | null = null;
  #describing = false;
  #flushQueued = false;
  #loop: Promise<void> | null = null;
  #agentStart: Promise<void> | null = null;
  #sessions = 0;
  #pruneWanted: ReadonlySet<string> | null = null;
  #pruning = false;
  #pruneRetry: NodeJS.Timeout | undefined;
  readonly #firstOpen = Promise.withResolvers<void>();

  constructor(opts: WorkerSessionOptions) {
    this.#opts = opts;
    this.#log = opts.log ?? quiet;
    this.#addrs = [opts.addr];
    this.#reportedManagers = managersKey(opts.managers?.() ?? []);
    this.#agent = new WorkerAgent({
      ...opts.agent,
      runtime: opts.runtime,
      nodeId: opts.nodeId,
      log: this.#log,
      onStatus: (taskId, status) => this.#queueReport(taskId, status),
      ...(opts.sandboxHost === undefined
        ? {}
        : { sandboxes: new NamespaceSandboxes(opts.runtime, opts.sandboxHost, this.#log) }),
    });
    this.#logReaders = new LogReaders({ runtime: opts.runtime, nodeId: opts.nodeId });
  }

  /**
   * The engine networks of orca networks the swarm no longer has go, once nothing uses them,
   * so that `network rm` leaves nothing behind on the nodes. One pass at a time; a table that
   * arrives meanwhile is looked at after it; a network still in use (its last task winding
   * down) is tried again a few seconds later.
   */
  #pruneNetworks(keep: ReadonlySet<string>): void {
    this.#pruneWanted = keep;
    if (this.#pruning) return;
    this.#pruning = true;
    clearTimeout(this.#pruneRetry);
    void (async () => {
      let latest = keep;
      let left = 0;
      while (this.#pruneWanted !== null) {
        latest = this.#pruneWanted;
        this.#pruneWanted = null;
        left = await this.#opts.runtime.pruneNetworks(latest);
      }
      this.#pruning = false;
      if (left === 0 || this.#halt.signal.aborted) return;
      this.#pruneRetry = setTimeout(() => this.#pruneNetworks(latest), PRUNE_RETRY_MS);
      this.#pruneRetry.unref();
    })();
  }

  /** Sessions opened so far (for tests: a reconnect makes it grow). */
  get sessionsOpened(): number {
    return this.#sessions;
  }

  get connected(): boolean {
    return this.#call !== null;
  }

  /** Whether a session was accepted within `timeoutMs` (at once if one was already). */
  async opened(timeoutMs: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    return Promise.race([this.#firstOpen.promise.then(() => true), expired]).finally(() =>
      clearTimeout(timer),
    );
  }

  /** Starts the agent and the session; returns at once (both run in the background). */
  start(): void {
    if (this.#loop !== null) return;
    this.#agentStart = this.#agent.start().catch((err: unknown) => {
      this.#log.warn({ err }, 'the worker agent failed to start');
    });
    this.#loop = this.#run();
  }

  /** Ends the session and stops the agent; the containers keep running, to be adopted later. */
  async stop(): Promise<void> {
    this.#halt.abort();
    clearTimeout(this.#pruneRetry);
    this.#call?.cancel();
    this.#logReaders.cancelAll();
    await this.#loop;
    await this.#agent.stop();
    await this.#agentStart;
    for (const client of this.#clients.values()) client.close();
  }

  /** The managers this worker knows of, in the order it tries them. */
  get managers(): readonly string[] {
    return this.#addrs;
  }

  #client(addr: string): DispatcherClient {
    let client = this.#clients.get(addr);
    if (client === undefined) {
      client = createDispatcherClient(addr, this.#opts.credentials, {
        ...dispatcherChannelOptions,
        ...this.#opts.channelOptions,
      });
      this.#clients.set(addr, client);
    }
    return client;
  }

  async #run(): Promise<void> {
    const initial = this.#opts.backoffMs ?? 100;
    const max = this.#opts.maxBackoffMs ?? 5_000;
    let backoff = initial;
    while (!this.#halt.signal.aborted) {
      this.#addManagers(this.#opts.managers?.() ?? []);
      const addr = this.#addrs[this.#next % this.#addrs.length]!;
      const accepted = await this.#session(addr);
      if (this.#halt.signal.aborted) return;
      if (accepted) {
        backoff = initial;
        this.#next = this.#addrs.indexOf(addr);
      } else {
        // The next manager at once; the backoff grows only once every one has refused.
        this.#next = (this.#next + 1) % this.#addrs.length;
        if (this.#next !== 0) continue;
        backoff = Math.min(backoff * 2, max);
      }
      try {
        await delay(backoff, undefined, { signal: this.#halt.signal });
      } catch {
        return;
      }
    }
  }

  /** Managers to try after those known already. */
  addManagers(addrs: readonly string[]): void {
    this.#addManagers(addrs);
  }

  #addManagers(addrs: readonly string[]): void {
    for (const a of addrs) if (a !== '' && !this.#addrs.includes(a)) this.#addrs.push(a);
  }

  /** The managers a session named, after the one that accepted it and those known before. */
  #learnManagers(accepted: string, managers: readonly string[] | undefined): void {
    if (!Array.isArray(managers)) return;
    const named = managers.filter((a): a is string => typeof a === 'string' && a !== '');
    this.#addrs = [...new Set([accepted, ...named, ...this.#addrs])];
    this.#next = 0;
    // Compared with what was last reported, not with the addresses known to dial: a follower's
    // refusal adds those without the session that names them being news.
    const key = managersKey(named);
    if (key !== this.#reportedManagers) {
      this.#reportedManagers = key;
      this.#opts.onManagers?.(named);
    }
  }

  /** One session with the manager at `addr`, until it ends; true if its dispatcher accepted it. */
  #session(addr: string): Promise<boolean> {
    return new Promise((resolve) => {
      const call = this.#client(addr).Session();
      const ended = new AbortController();
      const uplink = sessionUplink(call, ended.signal);
      let accepted = false;
      let done = false;
      const finish = (why: string, err?: unknown) => {
        if (done) return;
        done = true;
        ended.abort();
        this.#logReaders.cancelAll();
        if (this.#call === call) this.#call = null;
        if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
        this.#heartbeat = null;
        if (this.#describeTimer !== null) clearInterval(this.#describeTimer);
        this.#describeTimer = null;
        if (!this.#halt.signal.aborted) {
          const fields = err === undefined ? {} : { err: (err as Error).message };
          if (accepted) this.#log.info(fields, `dispatcher session ended: ${why}`);
          else this.#log.debug(fields, `dispatcher session refused: ${why}`);
        }
        call.cancel();
        resolve(accepted);
      };
      call.on('data', (wire: { json: string }) => {
        const msg = decodeMessage<DispatcherMessage>(wire);
        if (msg === null) return;
        switch (msg.type) {
          case 'session':
            accepted = true;
            this.#sessions++;
            this.#firstOpen.resolve();
            this.#call = call;
            this.#startHeartbeat(call, msg.heartbeatMs);
            this.#learnManagers(addr, msg.managers);
            this.#log.info({ sessionId: msg.sessionId, manager: addr }, 'dispatcher session open');
            this.#reportAll();
            this.#startDescribing();
            break;
          case 'managers':
            this.#learnManagers(addr, msg.managers);
            break;
          case 'endpoints':
            if (Array.isArray(msg.services)) this.#opts.onEndpoints?.(msg.services);
            break;
          case 'discovery':
            if (Array.isArray(msg.networks) && Array.isArray(msg.peers)) {
              this.#opts.onDiscovery?.(msg.networks, msg.peers);
              this.#pruneNetworks(new Set(msg.networks.map((n) => n.network)));
            }
            break;
          case 'assignments':
            if (Array.isArray(msg.tasks)) this.#agent.setAssignments(msg.tasks);
            break;
          case 'role':
            if (msg.role === 'manager' || msg.role === 'worker')
              this.#opts.onRole?.(msg.role, addr);
            break;
          case 'logs': {
            const request = parseLogSubscription(msg);
            if (request === null) {
              this.#log.debug({}, 'ignored a malformed logs request');
            } else {
              this.#logReaders.start(request, uplink);
            }
            break;
          }
          case 'logs-cancel':
            if (typeof msg.subscriptionId === 'string') {
              this.#logReaders.cancel(msg.subscriptionId);
            }
            break;
          default:
            // A newer manager's message type: ignored, as the proto promises.
            break;
        }
      });
      call.on('error', (err: grpc.ServiceError) => {
        const named = err.metadata?.get(MANAGERS_METADATA_KEY)[0];
        if (typeof named === 'string') this.#addManagers(named.split(','));
        finish('error', err);
      });
      call.on('end', () => finish('the manager ended it'));
      call.on('close', () => finish('closed'));
      const { nodeId, dataPathAddr } = this.#opts;
      this.#write(call, {
        type: 'hello',
        nodeId,
        ...(dataPathAddr === undefined ? {} : { dataPathAddr }),
      });
    });
  }

  #startHeartbeat(call: SessionStream, heartbeatMs: number): void {
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    const every = Number.isFinite(heartbeatMs) && heartbeatMs > 0 ? heartbeatMs : 5_000;
    this.#heartbeat = setInterval(() => this.#write(call, { type: 'heartbeat' }), every);
    this.#heartbeat.unref();
  }

  #startDescribing(): void {
    const describe = this.#opts.describe;
    if (describe === undefined) return;
    if (this.#describeTimer !== null) clearInterval(this.#describeTimer);
    const send = () => {
      // An engine slow to answer must not pile descriptions up: the one being gathered goes to
      // whichever session is open when it is ready, a newer one included.
      if (this.#describing) return;
      this.#describing = true;
      void describe()
        .then(
          (description) => {
            const call = this.#call;
            if (call !== null) this.#write(call, { type: 'describe', description });
          },
          (err: unknown) => this.#log.debug({ err }, 'could not describe this host'),
        )
        .finally(() => {
          this.#describing = false;
        });
    };
    send();
    this.#describeTimer = setInterval(send, this.#opts.describeIntervalMs ?? 10_000);
    this.#describeTimer.unref();
  }

  #queueReport(taskId: string, status: TaskStatus): void {
    this.#outbox.set(taskId, status);
    // The agent delivers a flush as consecutive calls: one message carries all of them.
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#sendOutbox();
    });
  }

  #reportAll(): void {
    for (const [taskId, status] of this.#agent.statuses()) this.#outbox.set(taskId, status);
    this.#sendOutbox();
  }

  #sendOutbox(): void {
    const call = this.#call;
    if (call === null || this.#outbox.size === 0) return;
    const updates: StatusUpdate[] = [...this.#outbox].map(([taskId, status]) => ({
      taskId,
      status,
    }));
    this.#outbox.clear();
    this.#write(call, { type: 'status', updates });
  }

  #write(call: SessionStream, msg: WorkerMessage): void {
    try {
      call.write(encodeMessage(msg));
    } catch (err) {
      this.#log.debug({ err }, 'writing to the dispatcher session failed');
    }
  }
}

/**
 * Log lines up one session, at the pace the manager takes them: a send waits for the stream to
 * drain, so a chatty container is read no faster than the lines can leave.
 */
function sessionUplink(call: SessionStream, ended: AbortSignal): LogUplink {
  return {
    async send(msg: WorkerMessage): Promise<void> {
      if (ended.aborted) throw new Error('the dispatcher session ended');
      if (!call.write(encodeMessage(msg))) await once(call, 'drain', { signal: ended });
    },
  };
}

function managersKey(addrs: readonly string[]): string {
  return [...new Set(addrs)].sort().join(',');
}
