// The vocabulary shared by the pure Raft core, its storage, its transport and its driver.
// Everything here is plain data so that it can cross a wire, a LevelDB batch or a simulated
// network unchanged.

export type NodeId = string;

export type EntryType = 'normal' | 'conf';

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly type: EntryType;
  /** Opaque to Raft for 'normal'; an encoded ConfChange for 'conf'. Empty for the leader's no-op. */
  readonly data: Uint8Array;
}

/** What must survive a crash besides the log: the vote must never be cast twice in one term. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
  readonly commit: number;
}

/** The membership: voters decide, learners only receive the log. */
export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly conf: ConfState;
}

export interface Snapshot {
  readonly meta: SnapshotMeta;
  /** The state machine's own encoding of its state at meta.index. */
  readonly data: Uint8Array;
}

/**
 * One membership change at a time (see docs/design/raft.md for why not joint consensus).
 * addVoter on an existing learner promotes it.
 */
export interface ConfChange {
  readonly type: 'addVoter' | 'addLearner' | 'removeNode';
  readonly node: NodeId;
  /** Where the node's raft transport listens; carried so every member learns the address. */
  readonly addr?: string;
}

export type MessageType =
  | 'app'
  | 'appResp'
  | 'vote'
  | 'voteResp'
  | 'preVote'
  | 'preVoteResp'
  | 'heartbeat'
  | 'heartbeatResp'
  | 'snap'
  | 'timeoutNow'
  | 'prop'
  | 'readIndex'
  | 'readIndexResp';

/**
 * One message between members. A single shape (as etcd's raftpb.Message) keeps the wire
 * contract, the simulation and the batching simple; fields that a type does not use are 0/empty.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
  /** app: index of the entry before `entries`; appResp: last matching index (or rejected index). */
  readonly index: number;
  /** app: term of the entry at `index`; vote: term of the candidate's last entry; appResp: hint. */
  readonly logTerm: number;
  readonly commit: number;
  readonly entries: readonly Entry[];
  readonly reject: boolean;
  /** appResp on reject: the follower's guess of where the logs may match. */
  readonly rejectHint: number;
  /** heartbeat/readIndex: the read request's context, echoed back. vote: 'transfer' on timeoutNow campaigns. */
  readonly context: Uint8Array;
  readonly snapshot: Snapshot | null;
}

export interface ReadState {
  /** The commit index a linearizable read must wait for before reading the state machine. */
  readonly index: number;
  readonly context: Uint8Array;
}

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface SoftState {
  readonly leader: NodeId | null;
  readonly role: Role;
}

/**
 * Everything the core wants done, in this order: persist `hardState`, `snapshot` and `entries`
 * atomically and durably; then send `messages`; then apply `snapshot` and `committed` to the
 * state machine; then call advance().
 */
export interface Ready {
  readonly softState: SoftState | null;
  readonly hardState: HardState | null;
  /** New log entries; entries[0].index may be <= the stored last index, which truncates after it. */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader that replaces the state machine and the log before it. */
  readonly snapshot: Snapshot | null;
  readonly committed: readonly Entry[];
  readonly messages: readonly Message[];
  readonly readStates: readonly ReadState[];
}

export const emptyBytes: Uint8Array = new Uint8Array(0);

export function message(
  fields: Pick<Message, 'type' | 'from' | 'to' | 'term'> & Partial<Message>,
): Message {
  return {
    index: 0,
    logTerm: 0,
    commit: 0,
    entries: [],
    reject: false,
    rejectHint: 0,
    context: emptyBytes,
    snapshot: null,
    ...fields,
  };
}
