import { ConfChangeError, NotLeaderError, ProposalDroppedError } from '../errors.ts';
import {
  applyConfChange,
  decodeConfChange,
  encodeConfChange,
  quorum,
  validateConfChange,
} from './conf.ts';
import { RaftLog } from './log.ts';
import { Progress } from './progress.ts';
import {
  type ConfChange,
  type ConfState,
  type Entry,
  emptyBytes,
  type HardState,
  type Message,
  type MessageType,
  message,
  type NodeId,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.ts';

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomised in [n, 2n)). */
  readonly electionTick: number;
  /** Ticks between the leader's heartbeats. */
  readonly heartbeatTick: number;
  /**
   * Section 9.6 of the thesis: a member that was cut off does not raise the term while it cannot
   * win. Together with checkQuorum's lease it cannot disrupt a healthy leader when it returns.
   */
  readonly preVote: boolean;
  /** Section 6.2 of the thesis: a leader that cannot reach a quorum steps down. */
  readonly checkQuorum: boolean;
  /** Appends in flight per follower in the replicate state. */
  readonly maxInflight: number;
  readonly maxEntriesPerAppend: number;
  readonly maxBytesPerAppend: number;
  /** A follower sends proposals to the leader instead of refusing them. */
  readonly forwardProposals: boolean;
  /**
   * The leader's own log counts toward commit only once the driver reports it synced
   * (persistedTo), so the driver may send the leader's appends before its own fsync and the
   * leader's disk write overlaps the followers' (thesis 10.2.1).
   */
  readonly asyncLeaderWrites: boolean;
}

export const defaultRaftConfig: Omit<RaftConfig, 'id'> = {
  electionTick: 10,
  heartbeatTick: 1,
  preVote: true,
  checkQuorum: true,
  maxInflight: 256,
  maxEntriesPerAppend: 1024,
  maxBytesPerAppend: 1 << 20,
  forwardProposals: true,
  asyncLeaderWrites: false,
};

/** What a member restarts from: everything its storage holds. */
export interface RaftRestore {
  readonly hardState: HardState;
  /** The last snapshot; for a brand-new member, index 0 with the initial membership. */
  readonly snapshot: Snapshot;
  readonly entries: readonly Entry[];
}

const transferContext = new TextEncoder().encode('transfer');

interface PendingRead {
  readonly index: number;
  readonly context: Uint8Array;
  readonly key: string;
  readonly from: NodeId;
  readonly acks: Set<NodeId>;
}

function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (const b of ctx) s += String.fromCharCode(b);
  return s;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The Raft consensus algorithm as a pure state machine, in the manner of etcd's raft: no I/O,
 * no timers, no clock. Time advances by tick(), messages arrive by step(), and everything the
 * member must do leaves through ready(). Behaviour per role is a swapped pair of functions
 * (stepFn/tickFn), so handlers never test the role.
 *
 * Between a ready() and the driver finishing it (persist, send, apply) the driver must not step
 * or tick the core; the driver in node.ts serialises this.
 */
export class RaftCore {
  readonly id: NodeId;
  private readonly cfg: RaftConfig;
  private readonly rand: () => number;

  term: number;
  vote: NodeId | null;
  leader: NodeId | null = null;
  role: Role = 'follower';
  readonly log: RaftLog;
  conf: ConfState;

  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private leadTransferee: NodeId | null = null;
  /** No new membership change until this index is applied (one change at a time). */
  private pendingConfIndex = 0;
  private pendingReads: PendingRead[] = [];
  /** Read requests that arrived before the leader committed an entry of its own term. */
  private readsAwaitingCommit: Message[] = [];

  /** The snapshot the leader sends to followers too far behind; set by compact() or restore. */
  latestSnapshot: Snapshot | null;

  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevHard: HardState;
  private prevSoft: SoftState;

  private stepFn: (m: Message) => void;
  private tickFn: () => void;

  constructor(config: RaftConfig, restore: RaftRestore, rand: () => number) {
    this.id = config.id;
    this.cfg = config;
    this.rand = rand;
    this.log = new RaftLog(restore.snapshot.meta, restore.entries, restore.hardState.commit);
    this.term = restore.hardState.term;
    this.vote = restore.hardState.vote;
    this.conf = restore.snapshot.meta.conf;
    this.latestSnapshot = restore.snapshot.meta.index > 0 ? restore.snapshot : null;
    this.prevHard = this.hardState();
    this.prevSoft = { leader: null, role: 'follower' };
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.becomeFollower(this.term, null);
    // Membership changes between the snapshot and the commit index were applied before the
    // crash; they are re-applied as the committed entries are handed out again in ready().
  }

  // ---- inputs -------------------------------------------------------------------------------

  tick(): void {
    this.tickFn();
  }

  /**
   * Appends data as new entries (many proposals in one append) on the leader, or forwards them.
   * Returns the index of the first entry on the leader, null when forwarded.
   */
  propose(datas: readonly Uint8Array[]): number | null {
    if (this.role !== 'leader') {
      if (this.leader === null) throw new NotLeaderError(null);
      if (!this.cfg.forwardProposals) throw new NotLeaderError(this.leader);
      this.send(
        message({
          type: 'prop',
          from: this.id,
          to: this.leader,
          term: 0,
          entries: datas.map((data) => ({ index: 0, term: 0, type: 'normal' as const, data })),
        }),
      );
      return null;
    }
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
    }
    const first = this.log.lastIndex() + 1;
    this.appendEntries(datas.map((data) => ({ type: 'normal' as const, data })));
    this.bcastAppend();
    return first;
  }

  /** Proposes one membership change; only on the leader, one at a time. Returns its index. */
  proposeConfChange(cc: ConfChange): number {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader);
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(`leadership is being transferred to ${this.leadTransferee}`);
    }
    if (this.pendingConfIndex > this.log.applied) {
      throw new ConfChangeError(
        "another membership change (or the new leader's first entry) is not applied yet; retry when it is",
      );
    }
    validateConfChange(this.conf, cc);
    if (cc.type === 'addVoter' && this.conf.learners.includes(cc.node)) {
      const pr = this.progress.get(cc.node);
      const match = pr?.match ?? 0;
      if (match < this.log.committed) {
        throw new ConfChangeError(
          `learner ${cc.node} has not caught up (it has ${match} of ${this.log.committed} committed entries); promote it once it has`,
        );
      }
    }
    const index = this.log.lastIndex() + 1;
    this.appendEntries([{ type: 'conf', data: encodeConfChange(cc) }]);
    this.pendingConfIndex = index;
    this.bcastAppend();
    return index;
  }

  /**
   * Asks for a linearizable read point; the answer arrives as a ReadState in a later Ready. The
   * context must be non-empty and unique among reads in flight: heartbeats echo it back.
   */
  readIndex(context: Uint8Array): void {
    this.step(message({ type: 'readIndex', from: this.id, to: this.id, term: 0, context }));
  }

  /** Hands leadership to `to` once it has the whole log (for shutdown and demotion). */
  transferLeader(to: NodeId): void {
    if (this.role !== 'leader') throw new NotLeaderError(this.leader);
    if (to === this.id) return;
    if (!this.conf.voters.includes(to)) {
      throw new ConfChangeError(`${to} is not a voter and cannot become leader`);
    }
    if (this.leadTransferee === to) return;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to);
    if (pr !== undefined && pr.match === this.log.lastIndex()) {
      this.send(message({ type: 'timeoutNow', from: this.id, to, term: this.term }));
    } else {
      this.sendAppend(to, true);
    }
  }

  /** The transport could not deliver to a peer: stop pipelining blindly to it. */
  reportUnreachable(peer: NodeId): void {
    const pr = this.progress.get(peer);
    if (this.role === 'leader' && pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(peer: NodeId, ok: boolean): void {
    const pr = this.progress.get(peer);
    if (this.role !== 'leader' || pr === undefined || pr.state !== 'snapshot') return;
    if (!ok) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the follower's answer (or the next heartbeat response) before probing again.
    pr.probeSent = true;
  }

  step(m: Message): void {
    if (m.term > this.term && m.term !== 0) {
      if (m.type === 'vote' || m.type === 'preVote') {
        const force = sameBytes(m.context, transferContext);
        const inLease =
          this.cfg.checkQuorum &&
          this.leader !== null &&
          this.electionElapsed < this.cfg.electionTick;
        // A member that still hears from a leader ignores campaigns: this is what keeps a
        // partitioned-then-healed member from deposing a healthy leader.
        if (!force && inLease) return;
      }
      if (m.type === 'preVote') {
        // Pre-votes never change our term.
      } else if (m.type === 'preVoteResp' && !m.reject) {
        // A granted pre-vote carries the future term; the real election raises ours.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term && m.term !== 0) {
      if (
        (this.cfg.checkQuorum || this.cfg.preVote) &&
        (m.type === 'app' || m.type === 'heartbeat')
      ) {
        // A leader cut off for a while: tell it the term moved on so that it steps down,
        // since with pre-vote and check-quorum nobody else will raise it.
        this.send(message({ type: 'appResp', from: this.id, to: m.from, term: this.term }));
      } else if (m.type === 'preVote') {
        this.send(
          message({
            type: 'preVoteResp',
            from: this.id,
            to: m.from,
            term: this.term,
            reject: true,
          }),
        );
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'preVote') {
      this.handleVoteRequest(m);
      return;
    }
    this.stepFn(m);
  }

  /** Records a snapshot of the state machine at the applied index and drops the log before it. */
  compact(data: Uint8Array): Snapshot {
    const index = this.log.applied;
    const term = this.log.term(index);
    if (term === undefined) throw new Error(`no term for applied index ${index}`);
    const snapshot: Snapshot = { meta: { index, term, conf: this.conf }, data };
    this.log.compact(index);
    this.latestSnapshot = snapshot;
    return snapshot;
  }

  // ---- output -------------------------------------------------------------------------------

  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.pendingSnapshot !== null ||
      this.log.stabled < this.log.lastIndex() ||
      this.log.committed > this.log.applied ||
      !this.sameHard(this.hardState(), this.prevHard) ||
      this.prevSoft.leader !== this.leader ||
      this.prevSoft.role !== this.role
    );
  }

  /**
   * Everything to do now. Handing it out marks it done: entries count as persisted and
   * committed entries as applied, so the driver must finish the batch before the next step.
   */
  ready(): Ready {
    const hard = this.hardState();
    const hardChanged = !this.sameHard(hard, this.prevHard);
    const softChanged = this.prevSoft.leader !== this.leader || this.prevSoft.role !== this.role;
    const snapshot = this.log.pendingSnapshot;
    const entries = this.log.unstableEntries();
    const committed = this.log.nextCommitted();
    const rd: Ready = {
      softState: softChanged ? { leader: this.leader, role: this.role } : null,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot,
      committed,
      messages: this.msgs,
      readStates: this.readStates,
    };
    this.msgs = [];
    this.readStates = [];
    this.prevHard = hard;
    if (softChanged) this.prevSoft = { leader: this.leader, role: this.role };
    if (snapshot !== null) {
      this.log.pendingSnapshot = null;
      this.latestSnapshot = snapshot;
    }
    this.log.stabled = this.log.lastIndex();
    for (const e of committed) {
      this.log.applied = e.index;
      if (e.type === 'conf') this.applyConf(e);
    }
    return rd;
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  /** The leader's view of each follower, for status displays and learner promotion. */
  followerProgress(id: NodeId): Readonly<Progress> | undefined {
    return this.progress.get(id);
  }

  // ---- roles --------------------------------------------------------------------------------

  private becomeFollower(term: number, leader: NodeId | null): void {
    this.reset(term);
    this.stepFn = this.stepFollower;
    this.tickFn = this.tickElection;
    this.leader = leader;
    this.role = 'follower';
  }

  private becomePreCandidate(): void {
    // Pre-candidacy changes neither the term nor the vote, so a failed pre-vote costs nothing.
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.votes = new Map();
    this.leader = null;
    this.role = 'preCandidate';
  }

  private becomeCandidate(): void {
    this.reset(this.term + 1);
    this.stepFn = this.stepCandidate;
    this.tickFn = this.tickElection;
    this.vote = this.id;
    this.role = 'candidate';
  }

  private becomeLeader(): void {
    this.reset(this.term);
    this.stepFn = this.stepLeader;
    this.tickFn = this.tickHeartbeat;
    this.leader = this.id;
    this.role = 'leader';
    const self = this.progress.get(this.id);
    if (self !== undefined) self.becomeReplicate();
    // Until the no-op below commits, the leader does not know which entries are committed
    // (section 5.4.2), so membership changes and reads wait for it.
    this.pendingConfIndex = this.log.lastIndex() + 1;
    this.appendEntries([{ type: 'normal', data: emptyBytes }]);
    this.bcastAppend();
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.leader = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.cfg.electionTick + Math.floor(this.rand() * this.cfg.electionTick);
    this.votes = new Map();
    this.leadTransferee = null;
    this.pendingReads = [];
    this.readsAwaitingCommit = [];
    this.progress = new Map();
    const next = this.log.lastIndex() + 1;
    for (const id of this.conf.voters) this.progress.set(id, this.newProgress(id, next, false));
    for (const id of this.conf.learners) this.progress.set(id, this.newProgress(id, next, true));
  }

  private newProgress(id: NodeId, next: number, learner: boolean): Progress {
    const pr = new Progress(next, learner, this.cfg.maxInflight);
    if (id === this.id) pr.match = this.log.lastIndex();
    return pr;
  }

  private promotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  // ---- ticks --------------------------------------------------------------------------------

  private tickElection = (): void => {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.cfg.preVote ? 'preElection' : 'election');
    }
  };

  private tickHeartbeat = (): void => {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.cfg.electionTick) {
      this.electionElapsed = 0;
      if (this.cfg.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
      // A transfer that has not finished within an election timeout is abandoned.
      this.leadTransferee = null;
    }
    if (this.heartbeatElapsed >= this.cfg.heartbeatTick) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  };

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || pr?.recentActive) active++;
    }
    for (const [id, pr] of this.progress) if (id !== this.id) pr.recentActive = false;
    return active >= quorum(this.conf.voters.length);
  }

  // ---- elections ----------------------------------------------------------------------------

  private campaign(kind: 'preElection' | 'election' | 'transfer'): void {
    const pre = kind === 'preElection';
    const transfer = kind === 'transfer';
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const type: MessageType = pre ? 'preVote' : 'vote';
    const term = pre ? this.term + 1 : this.term;
    if (this.recordVote(this.id, true) === 'won') {
      if (pre) this.campaign('election');
      else this.becomeLeader();
      return;
    }
    for (const id of this.conf.voters) {
      if (id === this.id) continue;
      this.send(
        message({
          type,
          from: this.id,
          to: id,
          term,
          index: this.log.lastIndex(),
          logTerm: this.log.lastTerm(),
          context: transfer ? transferContext : emptyBytes,
        }),
      );
    }
  }

  private recordVote(id: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
    if (!this.votes.has(id)) this.votes.set(id, granted);
    let yes = 0;
    let no = 0;
    for (const voter of this.conf.voters) {
      const v = this.votes.get(voter);
      if (v === true) yes++;
      else if (v === false) no++;
    }
    const q = quorum(this.conf.voters.length);
    if (yes >= q) return 'won';
    if (no >= q || this.conf.voters.length - no < q) return 'lost';
    return 'pending';
  }

  private handleVoteRequest(m: Message): void {
    const pre = m.type === 'preVote';
    const canVote =
      this.vote === m.from ||
      (this.vote === null && this.leader === null) ||
      (pre && m.term > this.term);
    const respType: MessageType = pre ? 'preVoteResp' : 'voteResp';
    if (canVote && this.log.isUpToDate(m.index, m.logTerm)) {
      this.send(message({ type: respType, from: this.id, to: m.from, term: m.term }));
      if (!pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send(
        message({ type: respType, from: this.id, to: m.from, term: this.term, reject: true }),
      );
    }
  }

  // ---- per-role message handling ------------------------------------------------------------

  private stepFollower = (m: Message): void => {
    switch (m.type) {
      case 'prop':
        if (this.leader === null) return;
        this.send({ ...m, to: this.leader });
        return;
      case 'app':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        if (this.promotable()) this.campaign('transfer');
        return;
      case 'readIndex':
        if (this.leader === null) return;
        this.send({ ...m, from: this.id, to: this.leader });
        return;
      case 'readIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        return;
    }
  };

  private stepCandidate = (m: Message): void => {
    const myResp: MessageType = this.role === 'preCandidate' ? 'preVoteResp' : 'voteResp';
    switch (m.type) {
      case 'app':
        this.becomeFollower(m.term, m.from);
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'preVoteResp':
      case 'voteResp': {
        if (m.type !== myResp) return;
        const outcome = this.recordVote(m.from, !m.reject);
        if (outcome === 'won') {
          if (this.role === 'preCandidate') this.campaign('election');
          else this.becomeLeader();
        } else if (outcome === 'lost') {
          this.becomeFollower(this.term, null);
        }
        return;
      }
      default:
        return;
    }
  };

  private stepLeader = (m: Message): void => {
    switch (m.type) {
      case 'prop':
        if (this.leadTransferee !== null) return;
        this.appendEntries(m.entries.map((e) => ({ type: 'normal' as const, data: e.data })));
        this.bcastAppend();
        return;
      case 'readIndex':
        this.handleReadIndex(m);
        return;
      default:
        break;
    }
    const pr = this.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case 'appResp':
        pr.recentActive = true;
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeatResp':
        pr.recentActive = true;
        pr.probeSent = false;
        // A full window whose appends were lost would wait forever: let one more through, and
        // the follower's rejection of the gap sends us back to probing.
        if (pr.state === 'replicate') pr.freeFirstInflight();
        if (pr.match < this.log.lastIndex()) this.sendAppend(m.from, true);
        if (m.context.length > 0) this.ackRead(m.from, m.context);
        return;
      default:
        return;
    }
  };

  private handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.logTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) pr.becomeProbe();
    else if (pr.state === 'replicate') pr.freeInflightsTo(m.index);

    if (this.maybeCommit()) {
      this.bcastAppend();
    } else {
      let sent = false;
      while (this.sendAppend(m.from, false)) sent = true;
      // A follower that was paused when the commit index last moved has not heard of it yet.
      if (!sent && wasPaused) this.sendAppend(m.from, true);
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send(message({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term }));
    }
  }

  private handleAppend(m: Message): void {
    if (m.index < this.log.committed) {
      this.send(
        message({
          type: 'appResp',
          from: this.id,
          to: m.from,
          term: this.term,
          index: this.log.committed,
        }),
      );
      return;
    }
    const last = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== null) {
      this.send(
        message({ type: 'appResp', from: this.id, to: m.from, term: this.term, index: last }),
      );
      return;
    }
    const hintIndex = this.log.findConflictByTerm(
      Math.min(m.index, this.log.lastIndex()),
      m.logTerm,
    );
    this.send(
      message({
        type: 'appResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: m.index,
        reject: true,
        rejectHint: hintIndex,
        logTerm: this.log.term(hintIndex) ?? 0,
      }),
    );
  }

  private handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    this.send(
      message({
        type: 'heartbeatResp',
        from: this.id,
        to: m.from,
        term: this.term,
        context: m.context,
      }),
    );
  }

  private handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    if (snap === null) return;
    const { index, term } = snap.meta;
    if (index <= this.log.committed) {
      // Already have it: answer with our commit so the leader moves on.
    } else if (this.log.matchTerm(index, term)) {
      this.log.commitTo(index);
    } else {
      this.log.restore(snap);
      this.conf = snap.meta.conf;
      this.syncProgressWithConf();
    }
    this.send(
      message({
        type: 'appResp',
        from: this.id,
        to: m.from,
        term: this.term,
        index: this.log.committed,
      }),
    );
  }

  // ---- replication (leader) -----------------------------------------------------------------

  private appendEntries(ents: readonly { type: Entry['type']; data: Uint8Array }[]): void {
    let index = this.log.lastIndex();
    const full: Entry[] = ents.map((e) => ({
      index: ++index,
      term: this.term,
      type: e.type,
      data: e.data,
    }));
    this.log.append(full);
    if (this.cfg.asyncLeaderWrites) return;
    const self = this.progress.get(this.id);
    if (self !== undefined) self.maybeUpdate(this.log.lastIndex());
    // A single-voter cluster commits on its own.
    this.maybeCommit();
  }

  /**
   * With asyncLeaderWrites: the driver synced the log up to index (handed out by the last
   * ready() while this member led in this term), so the leader may count it.
   */
  persistedTo(index: number): void {
    if (this.role !== 'leader') return;
    const self = this.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(Math.min(index, this.log.lastIndex()))) return;
    if (this.maybeCommit()) this.bcastAppend();
  }

  /** Section 5.4.2: only an entry of the current term is committed by counting replicas. */
  private maybeCommit(): boolean {
    const matches: number[] = [];
    for (const id of this.conf.voters) matches.push(this.progress.get(id)?.match ?? 0);
    if (matches.length === 0) return false;
    matches.sort((a, b) => b - a);
    const q = matches[quorum(matches.length) - 1] ?? 0;
    if (q > this.log.committed && this.log.term(q) === this.term) {
      this.log.commitTo(q);
      this.releaseReadsAwaitingCommit();
      return true;
    }
    return false;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.sendAppend(id, true);
  }

  private bcastHeartbeat(): void {
    const last = this.pendingReads[this.pendingReads.length - 1];
    const ctx = last === undefined ? emptyBytes : last.context;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send(
        message({
          type: 'heartbeat',
          from: this.id,
          to: id,
          term: this.term,
          // Never tell a follower to commit beyond what it is known to hold.
          commit: Math.min(pr.match, this.log.committed),
          context: ctx,
        }),
      );
    }
  }

  /** Sends the next append (or a snapshot) to a follower; false when nothing was sent. */
  private sendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined) return this.sendSnapshot(to, pr);
    const ents = this.log.slice(
      pr.next,
      this.log.lastIndex() + 1,
      this.cfg.maxEntriesPerAppend,
      this.cfg.maxBytesPerAppend,
    );
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.send(
      message({
        type: 'app',
        from: this.id,
        to,
        term: this.term,
        index: prevIndex,
        logTerm: prevTerm,
        entries: ents,
        commit: this.log.committed,
      }),
    );
    const last = ents[ents.length - 1];
    if (last !== undefined) pr.sentEntries(last.index);
    else if (pr.state === 'probe') pr.probeSent = true;
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.latestSnapshot;
    if (snap === null) return false;
    this.send(message({ type: 'snap', from: this.id, to, term: this.term, snapshot: snap }));
    pr.becomeSnapshot(snap.meta.index);
    return true;
  }

  // ---- linearizable reads -------------------------------------------------------------------

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  private handleReadIndex(m: Message): void {
    if (this.conf.voters.length === 1) {
      this.answerRead(m.from, this.log.committed, m.context);
      return;
    }
    if (!this.committedInCurrentTerm()) {
      this.readsAwaitingCommit.push(m);
      return;
    }
    this.pendingReads.push({
      index: this.log.committed,
      context: m.context,
      key: contextKey(m.context),
      from: m.from,
      acks: new Set([this.id]),
    });
    // Confirm leadership now: the read is safe once a quorum answers this round of heartbeats.
    this.bcastHeartbeat();
  }

  private releaseReadsAwaitingCommit(): void {
    if (this.readsAwaitingCommit.length === 0 || !this.committedInCurrentTerm()) return;
    const waiting = this.readsAwaitingCommit;
    this.readsAwaitingCommit = [];
    for (const m of waiting) this.handleReadIndex(m);
  }

  private ackRead(from: NodeId, ctx: Uint8Array): void {
    const key = contextKey(ctx);
    const at = this.pendingReads.findIndex((r) => r.key === key);
    const req = this.pendingReads[at];
    if (req === undefined) return;
    req.acks.add(from);
    let acked = 0;
    for (const id of this.conf.voters) if (req.acks.has(id)) acked++;
    if (acked < quorum(this.conf.voters.length)) return;
    // The quorum confirmed leadership after every earlier request arrived, so they are safe too.
    const released = this.pendingReads.splice(0, at + 1);
    for (const r of released) this.answerRead(r.from, r.index, r.context);
  }

  private answerRead(to: NodeId, index: number, context: Uint8Array): void {
    if (to === this.id) this.readStates.push({ index, context });
    else
      this.send(
        message({ type: 'readIndexResp', from: this.id, to, term: this.term, index, context }),
      );
  }

  // ---- membership ---------------------------------------------------------------------------

  private applyConf(e: Entry): void {
    const cc = decodeConfChange(e.data);
    this.conf = applyConfChange(this.conf, cc);
    this.syncProgressWithConf();
    if (this.role !== 'leader') return;
    if (!this.conf.voters.includes(this.id)) {
      // Removed (or demoted) leader: step down; the remaining voters elect a new one.
      this.becomeFollower(this.term, null);
      return;
    }
    if (this.leadTransferee !== null && !this.conf.voters.includes(this.leadTransferee)) {
      this.leadTransferee = null;
    }
    // The quorum may have shrunk (entries may now be committed) and new members need the log.
    this.maybeCommit();
    this.bcastAppend();
  }

  private syncProgressWithConf(): void {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    for (const id of [...this.progress.keys()]) if (!members.has(id)) this.progress.delete(id);
    for (const id of members) {
      const learner = this.conf.learners.includes(id);
      const pr = this.progress.get(id);
      if (pr === undefined)
        this.progress.set(id, this.newProgress(id, this.log.lastIndex() + 1, learner));
      else pr.isLearner = learner;
    }
  }

  // ---- plumbing -----------------------------------------------------------------------------

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private sameHard(a: HardState, b: HardState): boolean {
    return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
  }
}
