import { randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';
import { ConfChangeError, NotLeaderError, OrcaError, ProposalUnknownError } from '../errors.ts';
import { bootstrapLog, decodeConfChange } from './conf.ts';
import { defaultRaftConfig, type RaftConfig, RaftCore } from './core.ts';
import { openEnvelope, proposerBytes, sealEnvelope } from './envelope.ts';
import { forceNewClusterLog } from './force-new-cluster.ts';
import { RaftStorage } from './storage.ts';
import { GrpcTransport, type RaftCaller, type TransportCredentials } from './transport.ts';
import type {
  ConfChange,
  ConfState,
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  Role,
  Snapshot,
} from './types.ts';
import type { ValueCipher } from './value-cipher.ts';

/** What Raft replicates into: the KV machine now, the cluster store later. */
export interface StateMachine {
  /** Applies one committed command; the result goes back to the proposer's caller. */
  apply(command: Uint8Array, index: number): unknown;
  snapshot(): Uint8Array;
  restore(data: Uint8Array): void;
}

export interface RaftNodeLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface RaftNodeOptions {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly dataDir: string;
  readonly listenAddr: string;
  /** The address peers dial (default: the bound address, useless when bound to 0.0.0.0). */
  readonly advertiseAddr?: string;
  /** The founding members of a new cluster; ignored once the data dir holds state. Absent to join. */
  readonly initialCluster?: readonly { id: NodeId; addr: string }[];
  /**
   * Become the only member of the cluster held in the data dir, keeping its log (quorum lost
   * for good; see force-new-cluster.ts).
   */
  readonly forceNewCluster?: boolean;
  /** Encrypts the log and snapshots at rest (a store is created, and must be reopened, so). */
  readonly cipher?: ValueCipher;
  readonly tickMs?: number;
  readonly raft?: Partial<Omit<RaftConfig, 'id'>>;
  /** Snapshot the state machine and compact the log every this many applied entries. */
  readonly snapshotEvery?: number;
  readonly requestTimeoutMs?: number;
  readonly machine: StateMachine;
  readonly logger: RaftNodeLogger;
  /** Mutual TLS for the Raft listener and the links to peers; plaintext without. */
  readonly credentials?: TransportCredentials;
  /** Whether an incoming stream may speak for the member it names (see GrpcTransport). */
  readonly authorize?: (call: RaftCaller, from: NodeId) => string | null;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly role: Role;
  readonly leader: NodeId | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly members: Readonly<Record<NodeId, string>>;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Snapshot layout: u32 length of the JSON member table, the table, then the machine's bytes. */
function encodeSnapshot(members: Map<NodeId, string>, machine: Uint8Array): Uint8Array {
  const table = encoder.encode(JSON.stringify(Object.fromEntries(members)));
  const out = new Uint8Array(4 + table.length + machine.length);
  new DataView(out.buffer).setUint32(0, table.length);
  out.set(table, 4);
  out.set(machine, 4 + table.length);
  return out;
}

function decodeSnapshot(data: Uint8Array): { members: Map<NodeId, string>; machine: Uint8Array } {
  if (data.length === 0) return { members: new Map(), machine: data };
  const len = new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0);
  const table = JSON.parse(decoder.decode(data.subarray(4, 4 + len))) as Record<string, string>;
  return { members: new Map(Object.entries(table)), machine: data.subarray(4 + len) };
}

/**
 * The driver of one Raft member: owns the core, the LevelDB storage and the gRPC transport, and
 * runs the loop that etcd's raft expects: step inputs, take a Ready, persist it (one synced
 * batch), send its messages, apply its committed entries, repeat. Proposals and reads that
 * arrive while a batch is being persisted are batched into the next one, which is what makes
 * one fsync cover many writes under load.
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly core: RaftCore;
  private readonly storage: RaftStorage;
  private readonly transport: GrpcTransport;
  private readonly machine: StateMachine;
  private readonly log: RaftNodeLogger;
  private readonly opts: RaftNodeOptions;
  private readonly proposer: Uint8Array;
  private readonly proposerId: string;
  private readonly snapshotEvery: number;
  private readonly requestTimeoutMs: number;

  private readonly members = new Map<NodeId, string>();
  private inbox: Message[] = [];
  private ticks = 0;
  private proposals: Uint8Array[] = [];
  private proposalWaiters = new Map<number, Waiter<unknown>>();
  private nextRequest = 1;
  private readBatch: Waiter<void>[] = [];
  private readsByContext = new Map<string, Waiter<void>[]>();
  private readsAwaitingApply: { index: number; waiters: Waiter<void>[] }[] = [];
  private confWaiters = new Map<number, Waiter<void>>();
  private unreachable = new Set<NodeId>();
  private snapshotReports: { peer: NodeId; ok: boolean }[] = [];
  private applied = 0;
  private lastSnapshotIndex = 0;
  private wake: (() => void) | null = null;
  private running = true;
  private loopDone: Promise<void> = Promise.resolve();
  private ticker: NodeJS.Timeout | null = null;
  private fatal: Error | null = null;
  private leader: NodeId | null = null;
  private role: Role = 'follower';
  private leaderWatch: (() => void) | null = null;
  private readonly leadershipListeners = new Set<() => void>();
  private controls: { run(): void; abandon(err: Error): void }[] = [];
  private unsavedHardState: HardState | null = null;
  private persistedTerm: number;
  private persistedVote: NodeId | null;

  private constructor(
    opts: RaftNodeOptions,
    storage: RaftStorage,
    core: RaftCore,
    snapshot: Snapshot,
    transport: GrpcTransport,
  ) {
    this.opts = opts;
    this.id = opts.id;
    this.storage = storage;
    this.core = core;
    this.transport = transport;
    this.machine = opts.machine;
    this.log = opts.logger;
    this.snapshotEvery = opts.snapshotEvery ?? 100_000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 5_000;
    // Unique per process start, so a restarted member never mistakes an old entry for a new request.
    this.proposerId = `${opts.id}/${randomBytes(6).toString('hex')}`;
    this.proposer = proposerBytes(this.proposerId);
    const restored = decodeSnapshot(snapshot.data);
    this.machine.restore(restored.machine);
    for (const [id, addr] of restored.members) this.setMember(id, addr);
    this.applied = snapshot.meta.index;
    this.lastSnapshotIndex = snapshot.meta.index;
    this.persistedTerm = core.term;
    this.persistedVote = core.vote;
  }

  static async start(opts: RaftNodeOptions): Promise<RaftNode> {
    const storage = await RaftStorage.open(
      opts.dataDir,
      { clusterId: opts.clusterId, nodeId: opts.id },
      opts.cipher === undefined ? {} : { cipher: opts.cipher },
    );
    try {
      let stored = await storage.load();
      if (storage.isNew && opts.initialCluster !== undefined) {
        if (!opts.initialCluster.some((m) => m.id === opts.id)) {
          throw new ConfChangeError(
            `--initial-cluster does not name this member (${opts.id}); list every founding member as id=host:port`,
          );
        }
        const boot = bootstrapLog(opts.initialCluster);
        await storage.save({ hardState: boot.hardState, entries: boot.entries });
        stored = await storage.load();
      } else if (opts.forceNewCluster === true && !storage.isNew) {
        const forced = forceNewClusterLog(stored, opts.id);
        if (forced !== null) {
          await storage.save(forced);
          stored = await storage.load();
          opts.logger.warn(
            { removed: forced.entries.length },
            'forced a new cluster: this member is now the only one',
          );
        }
      }
      const snapshot: Snapshot = stored.snapshot ?? {
        meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
        data: new Uint8Array(0),
      };
      const config: RaftConfig = {
        ...defaultRaftConfig,
        asyncLeaderWrites: true,
        ...opts.raft,
        id: opts.id,
      };
      const core = new RaftCore(
        config,
        { hardState: stored.hardState, snapshot, entries: stored.entries },
        Math.random,
      );
      let node: RaftNode | null = null;
      const transport = new GrpcTransport({
        nodeId: opts.id,
        clusterId: opts.clusterId,
        listenAddr: opts.listenAddr,
        ...(opts.advertiseAddr === undefined ? {} : { advertiseAddr: opts.advertiseAddr }),
        onMessage: (m) => node?.receive(m),
        onUnreachable: (peer) => node?.noteUnreachable(peer),
        onSnapshotStatus: (peer, ok) => node?.noteSnapshot(peer, ok),
        logger: opts.logger,
        ...(opts.credentials === undefined ? {} : { credentials: opts.credentials }),
        ...(opts.authorize === undefined ? {} : { authorize: opts.authorize }),
      });
      node = new RaftNode(opts, storage, core, snapshot, transport);
      await transport.start();
      node.startLoop();
      return node;
    } catch (err) {
      await storage.close();
      throw err;
    }
  }

  // ---- public API ---------------------------------------------------------------------------

  /** Replicates a command; resolves with the state machine's result once applied here. */
  propose(command: Uint8Array): Promise<unknown> {
    this.assertUsable();
    if (this.leader === null) return Promise.reject(new NotLeaderError(null));
    const request = this.nextRequest++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.proposalWaiters.delete(request);
        reject(new ProposalUnknownError(`not applied within ${this.requestTimeoutMs} ms`));
      }, this.requestTimeoutMs);
      this.proposalWaiters.set(request, { resolve, reject, timer });
      this.proposals.push(sealEnvelope(this.proposer, request, command));
      this.kick();
    });
  }

  /** Resolves once this member's state machine is at least as fresh as the leader's commit at call time. */
  linearizableBarrier(): Promise<void> {
    this.assertUsable();
    if (this.leader === null) return Promise.reject(new NotLeaderError(null));
    return new Promise((resolve, reject) => {
      const waiter: Waiter<void> = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.dropReadWaiter(waiter);
          reject(new ProposalUnknownError(`read not confirmed within ${this.requestTimeoutMs} ms`));
        }, this.requestTimeoutMs),
      };
      this.readBatch.push(waiter);
      this.kick();
    });
  }

  /** Adds a member as a learner; it becomes a voter through promote() once caught up. */
  addLearner(id: NodeId, addr: string): Promise<void> {
    return this.changeConf({ type: 'addLearner', node: id, addr });
  }

  promote(id: NodeId): Promise<void> {
    return this.changeConf({ type: 'addVoter', node: id });
  }

  removeMember(id: NodeId): Promise<void> {
    return this.changeConf({ type: 'removeNode', node: id });
  }

  transferLeadership(to: NodeId): Promise<void> {
    return this.onLoop(() => this.core.transferLeader(to));
  }

  /**
   * Leader and role are the driver's view, not the core's: the core learns of an election a
   * moment before its Ready is processed, and a caller told "leader" must be able to propose.
   */
  status(): RaftStatus {
    const conf: ConfState = this.core.conf;
    return {
      id: this.id,
      clusterId: this.opts.clusterId,
      role: this.role,
      leader: this.leader,
      term: this.core.term,
      commit: this.core.log.committed,
      applied: this.applied,
      voters: conf.voters,
      learners: conf.learners,
      members: Object.fromEntries(this.members),
    };
  }

  /**
   * Calls `listener` whenever the leader or this member's role changes (status() then tells
   * the new ones); returns the unsubscribe function.
   */
  onLeadershipChange(listener: () => void): () => void {
    this.leadershipListeners.add(listener);
    return () => this.leadershipListeners.delete(listener);
  }

  /** Serves another gRPC service on the Raft listener (see GrpcTransport.addService). */
  addService(service: grpc.ServiceDefinition, impl: grpc.UntypedServiceImplementation): void {
    this.transport.addService(service, impl);
  }

  removeService(service: grpc.ServiceDefinition): void {
    this.transport.removeService(service);
  }

  /** The address the Raft listener bound (the real port where 0 was asked). */
  get listenAddress(): string {
    return this.transport.address ?? this.opts.listenAddr;
  }

  /** How far the leader knows a member's log to match its own (for learner promotion). */
  memberMatch(id: NodeId): number | undefined {
    return this.core.followerProgress(id)?.match;
  }

  /**
   * Stops the member. A leader first hands leadership to its most up-to-date voter, so a planned
   * restart costs the cluster a round trip rather than an election timeout.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    await this.handOverLeadership();
    this.running = false;
    if (this.ticker !== null) clearInterval(this.ticker);
    this.kick();
    await this.loopDone;
    const stopped = new OrcaError('ORCA_STOPPED', 'this member is shutting down');
    this.failAll(stopped);
    await this.transport.close();
    await this.storage.close();
  }

  private async handOverLeadership(): Promise<void> {
    if (this.fatal !== null || this.core.role !== 'leader') return;
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const id of this.core.conf.voters) {
      const match = this.core.followerProgress(id)?.match ?? -1;
      if (id !== this.id && match > bestMatch) {
        best = id;
        bestMatch = match;
      }
    }
    if (best === null) return;
    const to = best;
    this.log.info({ to }, 'handing leadership over before stopping');
    const electionMs =
      (this.opts.tickMs ?? 50) * (this.opts.raft?.electionTick ?? defaultRaftConfig.electionTick);
    await new Promise<void>((resolve) => {
      const deadline = setTimeout(done, electionMs);
      this.leaderWatch = () => {
        if (this.leader !== this.id) done();
      };
      function done() {
        clearTimeout(deadline);
        resolve();
      }
      this.transferLeadership(to).catch(done);
    });
    this.leaderWatch = null;
  }

  // ---- inputs from the transport ------------------------------------------------------------

  private receive(m: Message): void {
    this.inbox.push(m);
    this.kick();
  }

  private noteUnreachable(peer: NodeId): void {
    this.unreachable.add(peer);
    this.kick();
  }

  private noteSnapshot(peer: NodeId, ok: boolean): void {
    this.snapshotReports.push({ peer, ok });
    this.kick();
  }

  // ---- the loop -----------------------------------------------------------------------------

  private startLoop(): void {
    const tickMs = this.opts.tickMs ?? 50;
    this.ticker = setInterval(() => {
      this.ticks++;
      this.kick();
    }, tickMs);
    this.ticker.unref();
    this.loopDone = this.loop().catch((err: unknown) => {
      this.fatal = err instanceof Error ? err : new Error(String(err));
      this.log.warn(
        { err: this.fatal },
        'raft loop stopped on an error; this member must be restarted',
      );
      this.failAll(this.fatal);
    });
  }

  private kick(): void {
    const wake = this.wake;
    if (wake !== null) {
      this.wake = null;
      wake();
    }
  }

  private hasInput(): boolean {
    return (
      this.inbox.length > 0 ||
      this.ticks > 0 ||
      this.proposals.length > 0 ||
      this.readBatch.length > 0 ||
      this.unreachable.size > 0 ||
      this.snapshotReports.length > 0 ||
      this.controls.length > 0 ||
      this.core.hasReady()
    );
  }

  private async loop(): Promise<void> {
    while (this.running) {
      if (!this.hasInput()) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        continue;
      }
      this.stepInputs();
      if (!this.core.hasReady()) continue;
      await this.handleReady(this.core.ready());
      await this.maybeSnapshot();
    }
  }

  private stepInputs(): void {
    const inbox = this.inbox;
    this.inbox = [];
    for (const m of inbox) this.core.step(m);
    for (const peer of this.unreachable) this.core.reportUnreachable(peer);
    this.unreachable.clear();
    for (const r of this.snapshotReports) this.core.reportSnapshot(r.peer, r.ok);
    this.snapshotReports = [];
    for (; this.ticks > 0; this.ticks--) this.core.tick();
    const controls = this.controls;
    this.controls = [];
    for (const c of controls) c.run();
    if (this.proposals.length > 0) {
      const batch = this.proposals;
      this.proposals = [];
      try {
        this.core.propose(batch);
      } catch (err) {
        this.failProposals(batch, err as Error);
      }
    }
    if (this.readBatch.length > 0) {
      // One ReadIndex round confirms leadership for every read that arrived meanwhile.
      const ctx = randomBytes(8);
      this.readsByContext.set(ctx.toString('latin1'), this.readBatch);
      this.readBatch = [];
      this.core.readIndex(ctx);
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    // A leader's appends do not depend on its own disk (the core counts the leader's log only
    // once persistedTo says so), so they leave before the fsync and the two overlap. Anything
    // after a change of term or vote, or a snapshot, waits for the disk as Raft requires.
    const hs = rd.hardState;
    const sendEarly =
      this.core.role === 'leader' &&
      rd.snapshot === null &&
      (hs === null || (hs.term === this.persistedTerm && hs.vote === this.persistedVote));
    if (sendEarly && rd.messages.length > 0) this.transport.send(rd.messages);
    const onlyCommitMoved =
      rd.entries.length === 0 &&
      rd.snapshot === null &&
      hs !== null &&
      hs.term === this.persistedTerm &&
      hs.vote === this.persistedVote;
    if (onlyCommitMoved) {
      // Raft does not need the commit index durable (a restarted member relearns it), so it
      // rides along with the next write instead of costing a disk write on every commit.
      this.unsavedHardState = hs;
    } else if (hs !== null || rd.entries.length > 0 || rd.snapshot !== null) {
      await this.storage.save({
        hardState: hs ?? this.unsavedHardState,
        entries: rd.entries,
        snapshot: rd.snapshot,
      });
      this.unsavedHardState = null;
      if (hs !== null) {
        this.persistedTerm = hs.term;
        this.persistedVote = hs.vote;
      }
    }
    if (!sendEarly && rd.messages.length > 0) this.transport.send(rd.messages);
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.core.persistedTo(last.index);
    if (rd.snapshot !== null) this.restoreSnapshot(rd.snapshot);
    for (const e of rd.committed) this.apply(e);
    for (const rs of rd.readStates) {
      const key = Buffer.from(rs.context).toString('latin1');
      const waiters = this.readsByContext.get(key);
      if (waiters === undefined) continue;
      this.readsByContext.delete(key);
      this.readsAwaitingApply.push({ index: rs.index, waiters });
    }
    this.releaseReads();
    if (rd.softState !== null) this.onSoftState(rd.softState.leader, rd.softState.role);
  }

  private restoreSnapshot(snap: Snapshot): void {
    const { members, machine } = decodeSnapshot(snap.data);
    this.machine.restore(machine);
    for (const id of [...this.members.keys()]) if (!members.has(id)) this.deleteMember(id);
    for (const [id, addr] of members) this.setMember(id, addr);
    this.applied = snap.meta.index;
    this.lastSnapshotIndex = snap.meta.index;
    this.log.info(
      { index: snap.meta.index, term: snap.meta.term },
      'installed snapshot from leader',
    );
  }

  private apply(e: Entry): void {
    this.applied = e.index;
    if (e.type === 'conf') {
      const cc = decodeConfChange(e.data);
      if (cc.type === 'removeNode') this.deleteMember(cc.node);
      else if (cc.addr !== undefined) this.setMember(cc.node, cc.addr);
      this.log.info({ change: cc, index: e.index }, 'membership changed');
      const waiter = this.confWaiters.get(e.index);
      if (waiter !== undefined) {
        this.confWaiters.delete(e.index);
        clearTimeout(waiter.timer);
        waiter.resolve();
      }
      return;
    }
    if (e.data.length === 0) return; // a new leader's no-op
    const env = openEnvelope(e.data);
    let result: unknown;
    let failure: Error | null = null;
    try {
      result = this.machine.apply(env.payload, e.index);
    } catch (err) {
      failure = err as Error;
    }
    if (env.proposer !== this.proposerId) return;
    const waiter = this.proposalWaiters.get(env.request);
    if (waiter === undefined) return;
    this.proposalWaiters.delete(env.request);
    clearTimeout(waiter.timer);
    if (failure !== null) waiter.reject(failure);
    else waiter.resolve(result);
  }

  private releaseReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const still: typeof this.readsAwaitingApply = [];
    for (const r of this.readsAwaitingApply) {
      if (r.index > this.applied) {
        still.push(r);
        continue;
      }
      for (const w of r.waiters) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
    this.readsAwaitingApply = still;
  }

  private onSoftState(leader: NodeId | null, role: Role): void {
    if (leader !== this.leader || role !== this.role) {
      this.log.info(
        { leader, role, term: this.core.term },
        leader === null ? 'no leader' : `leader is ${leader}`,
      );
    }
    const leaderChanged = leader !== this.leader;
    const previousRole = this.role;
    this.leader = leader;
    this.role = role;
    this.leaderWatch?.();
    if (leaderChanged || role !== previousRole) for (const l of this.leadershipListeners) l();
    if (!leaderChanged) return;
    // ReadIndex requests in flight die with the leadership that would have answered them.
    if (this.readsByContext.size > 0) {
      const lost = new NotLeaderError(leader);
      for (const waiters of this.readsByContext.values())
        for (const w of waiters) this.settle(w, lost);
      this.readsByContext.clear();
    }
    // Proposals in flight may or may not survive a change of leader. Saying so now, rather than
    // at the request timeout, lets clients retry against the new leader within a failover.
    if (this.proposalWaiters.size > 0) {
      const unknown = new ProposalUnknownError('the leader changed while the write was in flight');
      for (const w of this.proposalWaiters.values()) this.settle(w, unknown);
      this.proposalWaiters.clear();
    }
  }

  private async maybeSnapshot(): Promise<void> {
    if (this.applied - this.lastSnapshotIndex < this.snapshotEvery) return;
    const snap = this.core.compact(encodeSnapshot(this.members, this.machine.snapshot()));
    await this.storage.compact(snap);
    this.lastSnapshotIndex = snap.meta.index;
    this.log.debug({ index: snap.meta.index }, 'compacted the log');
  }

  // ---- helpers ------------------------------------------------------------------------------

  private changeConf(cc: ConfChange): Promise<void> {
    return this.onLoop(() => this.core.proposeConfChange(cc)).then(
      (index) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.confWaiters.delete(index);
            reject(
              new ProposalUnknownError(
                `membership change not applied within ${this.requestTimeoutMs} ms`,
              ),
            );
          }, this.requestTimeoutMs);
          this.confWaiters.set(index, { resolve, reject, timer });
        }),
    );
  }

  /**
   * Runs fn against the core inside the loop, between Readies: the core must not change while a
   * Ready is being persisted.
   */
  private onLoop<T>(fn: () => T): Promise<T> {
    this.assertUsable();
    return new Promise<T>((resolve, reject) => {
      this.controls.push({
        run: () => {
          try {
            resolve(fn());
          } catch (err) {
            reject(err);
          }
        },
        abandon: reject,
      });
      this.kick();
    });
  }

  private setMember(id: NodeId, addr: string): void {
    this.members.set(id, addr);
    if (id !== this.id) this.transport.setPeer(id, addr);
  }

  private deleteMember(id: NodeId): void {
    this.members.delete(id);
    if (id !== this.id) this.transport.removePeer(id);
  }

  private assertUsable(): void {
    if (this.fatal !== null) throw this.fatal;
    if (!this.running) throw new OrcaError('ORCA_STOPPED', 'this member is shutting down');
  }

  private failProposals(batch: readonly Uint8Array[], err: Error): void {
    for (const data of batch) {
      const request = openEnvelope(data).request;
      const w = this.proposalWaiters.get(request);
      if (w === undefined) continue;
      this.proposalWaiters.delete(request);
      this.settle(w, err);
    }
  }

  private dropReadWaiter(waiter: Waiter<void>): void {
    this.readBatch = this.readBatch.filter((w) => w !== waiter);
    for (const [k, ws] of this.readsByContext) {
      const rest = ws.filter((w) => w !== waiter);
      if (rest.length === 0) this.readsByContext.delete(k);
      else this.readsByContext.set(k, rest);
    }
    for (const r of this.readsAwaitingApply) r.waiters = r.waiters.filter((w) => w !== waiter);
  }

  private settle(w: Waiter<unknown> | Waiter<void>, err: Error): void {
    clearTimeout(w.timer);
    w.reject(err);
  }

  private failAll(err: Error): void {
    for (const c of this.controls) c.abandon(err);
    this.controls = [];
    for (const w of this.proposalWaiters.values()) this.settle(w, err);
    this.proposalWaiters.clear();
    for (const w of this.readBatch) this.settle(w, err);
    this.readBatch = [];
    for (const ws of this.readsByContext.values()) for (const w of ws) this.settle(w, err);
    this.readsByContext.clear();
    for (const r of this.readsAwaitingApply) for (const w of r.waiters) this.settle(w, err);
    this.readsAwaitingApply = [];
    for (const w of this.confWaiters.values()) this.settle(w, err);
    this.confWaiters.clear();
  }
}
