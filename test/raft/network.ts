import { bootstrapLog } from '../../src/raft/conf.ts';
import { defaultRaftConfig, type RaftConfig, RaftCore } from '../../src/raft/core.ts';
import type { Entry, Message, NodeId, ReadState, Snapshot } from '../../src/raft/types.ts';

/**
 * A tiny in-process network of Raft cores for scenario tests, in the manner of the `network`
 * of etcd's raft_test.go: messages travel instantly and in order unless a test drops, cuts,
 * isolates or rewrites them; time advances only when a test ticks a member. Every member's
 * Ready is handled at once (persisted, sent, applied), so a core never waits on its driver.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface NetworkOptions {
  readonly config?: Partial<Omit<RaftConfig, 'id'>>;
  /**
   * Log entries after the bootstrap entries, given by term, per member (as etcd's tests build
   * logs). An entry's data names its index and term, so two logs agree exactly where Raft's
   * log matching property says they must.
   */
  readonly logs?: Partial<Record<NodeId, readonly number[]>>;
  /** The persisted term per member; defaults to the last term of its log. */
  readonly terms?: Partial<Record<NodeId, number>>;
  /**
   * The member's "random" draw in [0, 1): its election timeout is electionTick plus this
   * fraction of it. 0 (the default) makes the timeout exactly electionTick; giving one member a
   * longer timeout lets another campaign first without a split vote.
   */
  readonly rand?: Partial<Record<NodeId, number>>;
}

interface Member {
  readonly core: RaftCore;
  /** The state machine: the data of each applied normal entry, in order. */
  machine: string[];
  appliedIndex: number;
  readonly readStates: ReadState[];
  readonly snapshots: Snapshot[];
}

export function data(text: string): Uint8Array {
  return encoder.encode(text);
}

export function text(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** The data of a pre-built log entry: its index and term, as in the paper's figures. */
function entryData(index: number, term: number): Uint8Array {
  return encoder.encode(`${index}@${term}`);
}

export class Network {
  readonly ids: NodeId[];
  /** Every message that left a Ready, delivered or not, oldest first. */
  readonly sent: Message[] = [];
  private readonly members = new Map<NodeId, Member>();
  private readonly config: Omit<RaftConfig, 'id'>;
  private readonly rand: Partial<Record<NodeId, number>>;
  private readonly isolated = new Set<NodeId>();
  private readonly cuts = new Set<string>();
  private drops: ((m: Message) => boolean)[] = [];
  private rewrites: ((m: Message) => Message)[] = [];
  private queue: Message[] = [];

  /** A new cluster of n voters n1..nN, each starting from the same bootstrap log. */
  constructor(n: number, opts: NetworkOptions = {}) {
    this.config = { ...defaultRaftConfig, ...opts.config };
    this.rand = opts.rand ?? {};
    this.ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const boot = bootstrapLog(this.ids.map((id) => ({ id })));
    for (const id of this.ids) {
      const extra = (opts.logs?.[id] ?? []).map(
        (term, i): Entry => ({
          index: boot.entries.length + i + 1,
          term,
          type: 'normal',
          data: entryData(boot.entries.length + i + 1, term),
        }),
      );
      const entries = [...boot.entries, ...extra];
      const lastTerm = entries[entries.length - 1]?.term ?? 0;
      this.start(id, {
        hardState: { ...boot.hardState, term: opts.terms?.[id] ?? lastTerm },
        entries,
      });
    }
    this.deliver();
  }

  /** A member that joins later: no log, no membership, term 0, as a brand-new data dir. */
  addMember(id: NodeId): RaftCore {
    if (this.members.has(id)) throw new Error(`${id} already exists`);
    this.ids.push(id);
    return this.start(id, { hardState: { term: 0, vote: null, commit: 0 }, entries: [] });
  }

  private start(
    id: NodeId,
    restore: { hardState: { term: number; vote: NodeId | null; commit: number }; entries: Entry[] },
  ): RaftCore {
    const r = this.rand[id] ?? 0;
    const core = new RaftCore(
      { ...this.config, id },
      {
        hardState: restore.hardState,
        snapshot: {
          meta: { index: 0, term: 0, conf: { voters: [], learners: [] } },
          data: new Uint8Array(0),
        },
        entries: restore.entries,
      },
      () => r,
    );
    this.members.set(id, { core, machine: [], appliedIndex: 0, readStates: [], snapshots: [] });
    return core;
  }

  core(id: NodeId): RaftCore {
    return this.member(id).core;
  }

  private member(id: NodeId): Member {
    const m = this.members.get(id);
    if (m === undefined) throw new Error(`no member ${id}`);
    return m;
  }

  // ---- faults -------------------------------------------------------------------------------

  /** Drops every message matching pred until recover(). */
  drop(pred: (m: Message) => boolean): void {
    this.drops.push(pred);
  }

  /** Replaces every message in flight by fn(message) until recover(). */
  rewrite(fn: (m: Message) => Message): void {
    this.rewrites.push(fn);
  }

  /** Cuts the link between a and b, both ways. */
  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  /** Cuts a member off from everyone. */
  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  /** Heals every fault. */
  recover(): void {
    this.isolated.clear();
    this.cuts.clear();
    this.drops = [];
    this.rewrites = [];
  }

  private blocked(m: Message): boolean {
    return (
      this.isolated.has(m.from) ||
      this.isolated.has(m.to) ||
      this.cuts.has(`${m.from}>${m.to}`) ||
      this.drops.some((pred) => pred(m))
    );
  }

  // ---- driving ------------------------------------------------------------------------------

  /** Hands out every Ready and delivers every message until the network is quiet. */
  deliver(): void {
    for (const id of this.members.keys()) this.drain(id);
    let steps = 0;
    for (let m = this.queue.shift(); m !== undefined; m = this.queue.shift()) {
      if (++steps > 100_000) throw new Error('the network never went quiet');
      const to = this.members.get(m.to);
      if (to === undefined || this.blocked(m)) {
        // The transport tells the leader a snapshot did not arrive, as the gRPC one does.
        if (m.type === 'snap') this.members.get(m.from)?.core.reportSnapshot(m.to, false);
      } else {
        let msg = m;
        for (const fn of this.rewrites) msg = fn(msg);
        to.core.step(msg);
        if (msg.type === 'snap') this.members.get(msg.from)?.core.reportSnapshot(msg.to, true);
        this.drain(msg.to);
        this.drain(msg.from);
      }
      if (this.queue.length === 0) for (const id of this.members.keys()) this.drain(id);
    }
  }

  /** Delivers a hand-made message (as if it came over the wire), then everything it causes. */
  send(m: Message): void {
    this.queue.push(m);
    this.deliver();
  }

  private drain(id: NodeId): void {
    const member = this.members.get(id);
    if (member === undefined) return;
    while (member.core.hasReady()) {
      const rd = member.core.ready();
      if (rd.snapshot !== null) {
        member.snapshots.push(rd.snapshot);
        const d = rd.snapshot.data;
        member.machine = d.length === 0 ? [] : (JSON.parse(text(d)) as string[]);
        member.appliedIndex = rd.snapshot.meta.index;
      }
      for (const e of rd.committed) {
        if (e.index !== member.appliedIndex + 1) {
          throw new Error(`${id} applied ${e.index} after ${member.appliedIndex}`);
        }
        member.appliedIndex = e.index;
        if (e.type === 'normal' && e.data.length > 0) member.machine.push(text(e.data));
      }
      member.readStates.push(...rd.readStates);
      for (const m of rd.messages) {
        this.sent.push(m);
        this.queue.push(m);
      }
    }
  }

  /** Ticks one member n times, delivering after each tick. */
  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) {
      this.core(id).tick();
      this.deliver();
    }
  }

  /** n rounds of: tick every member once, then deliver. */
  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.core.tick();
      this.deliver();
    }
  }

  /**
   * Ticks `id` alone until its election timeout makes it campaign (pre-vote or vote), then lets
   * the election run its course. Other members vote only if they are out of their leader lease.
   */
  campaign(id: NodeId): void {
    const core = this.core(id);
    const limit = 2 * this.config.electionTick + 1;
    for (let i = 0; i < limit; i++) {
      const before = this.sent.length;
      core.tick();
      // A lone voter wins at once, without sending anything.
      const wonAlone = core.role === 'leader';
      this.deliver();
      const asked = this.sentSince(
        before,
        (m) => m.from === id && (m.type === 'preVote' || m.type === 'vote'),
      );
      if (wonAlone || asked.length > 0) return;
    }
    throw new Error(`${id} did not campaign within ${limit} ticks`);
  }

  /** campaign(id), and it must win. */
  elect(id: NodeId): void {
    this.campaign(id);
    const core = this.core(id);
    if (core.role !== 'leader') {
      throw new Error(`${id} campaigned but is ${core.role} in term ${core.term}`);
    }
  }

  propose(id: NodeId, ...texts: string[]): number | null {
    const first = this.core(id).propose(texts.map(data));
    this.deliver();
    return first;
  }

  /** Snapshots `id`'s state machine at its applied index and compacts its log. */
  compact(id: NodeId): Snapshot {
    const m = this.member(id);
    return m.core.compact(data(JSON.stringify(m.machine)));
  }

  // ---- observations -------------------------------------------------------------------------

  /** The data of the normal entries `id` applied (or got through a snapshot), in order. */
  applied(id: NodeId): string[] {
    return [...this.member(id).machine];
  }

  appliedIndex(id: NodeId): number {
    return this.member(id).appliedIndex;
  }

  readStates(id: NodeId): ReadState[] {
    return [...this.member(id).readStates];
  }

  /** Snapshots `id` installed from a leader (Ready.snapshot). */
  snapshots(id: NodeId): Snapshot[] {
    return [...this.member(id).snapshots];
  }

  /** [index, term] of every entry in `id`'s log after its snapshot. */
  log(id: NodeId): [number, number][] {
    const log = this.core(id).log;
    const out: [number, number][] = [];
    for (let i = log.firstIndex(); i <= log.lastIndex(); i++) out.push([i, log.term(i) ?? -1]);
    return out;
  }

  /** The messages sent since `mark` (an earlier sent.length) that match pred. */
  sentSince(mark: number, pred: (m: Message) => boolean = () => true): Message[] {
    return this.sent.slice(mark).filter(pred);
  }

  /** The members that believe they lead, with their terms. */
  leaders(): { id: NodeId; term: number }[] {
    const out: { id: NodeId; term: number }[] = [];
    for (const [id, m] of this.members) {
      if (m.core.role === 'leader') out.push({ id, term: m.core.term });
    }
    return out;
  }
}
