import { bootstrapLog, decodeConfChange } from '../../src/raft/conf.ts';
import { defaultRaftConfig, RaftCore } from '../../src/raft/core.ts';
import type {
  ConfChange,
  Entry,
  HardState,
  Message,
  NodeId,
  Ready,
  Snapshot,
} from '../../src/raft/types.ts';
import { prng } from '../support/prng.ts';

/**
 * A deterministic world for the Raft core: simulated time in milliseconds, a network that
 * drops, duplicates, delays (and so reorders) and partitions messages, members whose storage
 * is synced some time after a Ready and loses whatever was not synced when they crash,
 * membership changes and snapshots, all driven by one seeded PRNG. Every step is followed by
 * the safety checks; a violation throws with the seed and the step so that it replays exactly.
 */

export interface WorldOptions {
  readonly seed: number;
  readonly members: 3 | 5;
  /** Simulated milliseconds of faults, then everything heals. */
  readonly faultMs: number;
  /** After healing, how long a leader and every pending proposal may take. */
  readonly livenessMs: number;
  readonly snapshotEvery: number;
  readonly log?: (line: string) => void;
}

export class Violation extends Error {
  constructor(seed: number, step: number, what: string) {
    super(`seed ${seed} step ${step}: ${what}`);
    this.name = 'Violation';
  }
}

const tickMs = 10;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Durable {
  hardState: HardState;
  snapshot: Snapshot;
  entries: Entry[];
}

/** The replicated state machine: the ordered ids of the proposals applied, deduplicated. */
interface Machine {
  applied: string[];
  seen: Set<string>;
}

interface Member {
  readonly id: NodeId;
  core: RaftCore | null; // null while crashed
  durable: Durable;
  machine: Machine;
  /** A Ready taken but not yet synced: lost if the member crashes first. */
  syncing: { rd: Ready; at: number; sentEarly: boolean } | null;
  /** Messages and transport reports that arrived while a batch was in flight. */
  inbox: (Message | (() => void))[];
  nextTick: number;
  lastAppliedIndex: number;
}

interface InFlight {
  readonly at: number;
  readonly m: Message;
}

export interface WorldResult {
  readonly steps: number;
  readonly proposals: number;
  readonly committed: number;
  readonly leaders: number;
  readonly snapshots: number;
  readonly confChanges: number;
  readonly crashes: number;
  readonly readsServed: number;
  readonly transfers: number;
}

function cloneEntries(ents: readonly Entry[]): Entry[] {
  return ents.map((e) => ({ ...e }));
}

function entryKey(e: Entry): string {
  return `${e.term}/${e.type}/${decoder.decode(e.data)}`;
}

export function runWorld(opts: WorldOptions): WorldResult {
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const chance = (p: number) => rand() < p;

  const ids: NodeId[] = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].slice(0, opts.members + 1);
  const initialVoters = ids.slice(0, opts.members);
  const spare = ids[opts.members] as NodeId;

  let now = 0;
  let step = 0;
  const fail = (what: string): never => {
    throw new Violation(opts.seed, step, what);
  };

  const members = new Map<NodeId, Member>();
  const emptyMachine = (): Machine => ({ applied: [], seen: new Set() });
  const encodeMachine = (m: Machine) => encoder.encode(JSON.stringify(m.applied));
  const decodeMachine = (data: Uint8Array): Machine => {
    const applied = data.length === 0 ? [] : (JSON.parse(decoder.decode(data)) as string[]);
    return { applied, seen: new Set(applied) };
  };

  const bootstrap = bootstrapLog(initialVoters.map((id) => ({ id })));
  for (const id of ids) {
    const conf = { voters: [], learners: [] };
    members.set(id, {
      id,
      core: null,
      durable: {
        hardState: id === spare ? { term: 0, vote: null, commit: 0 } : bootstrap.hardState,
        snapshot: { meta: { index: 0, term: 0, conf }, data: new Uint8Array(0) },
        entries: id === spare ? [] : cloneEntries(bootstrap.entries),
      },
      machine: emptyMachine(),
      syncing: null,
      inbox: [],
      nextTick: 0,
      lastAppliedIndex: 0,
    });
  }

  // Two seeds in three let the leader send before its own sync, as the real driver does.
  const asyncLeaderWrites = opts.seed % 3 !== 0;
  const cfg = { ...defaultRaftConfig, maxInflight: 8, maxEntriesPerAppend: 16, asyncLeaderWrites };
  const boot = (m: Member) => {
    m.core = new RaftCore(
      { ...cfg, id: m.id },
      {
        hardState: m.durable.hardState,
        snapshot: m.durable.snapshot,
        entries: cloneEntries(m.durable.entries),
      },
      prng(opts.seed * 31 + m.id.charCodeAt(1) * 7919 + now),
    );
    m.machine = decodeMachine(m.durable.snapshot.data);
    m.lastAppliedIndex = m.durable.snapshot.meta.index;
    m.syncing = null;
    m.inbox = [];
    m.nextTick = now + 1 + Math.floor(rand() * tickMs);
  };
  for (const m of members.values()) boot(m);

  // ---- the network ----
  let inflight: InFlight[] = [];
  const blocked = new Set<string>(); // "from>to"
  let dropRate = 0;
  let dupRate = 0;
  let maxDelay = 5;
  // The transport reports the fate of each snapshot to the leader, as the gRPC one does.
  const reportSnapshot = (m: Message, ok: boolean) => {
    const sender = members.get(m.from);
    const core = sender?.core;
    if (sender === undefined || core == null) return;
    const report = () => core.reportSnapshot(m.to, ok);
    if (sender.syncing !== null) sender.inbox.push(report);
    else report();
  };
  const send = (m: Message) => {
    if (blocked.has(`${m.from}>${m.to}`) || chance(dropRate)) {
      if (m.type === 'snap') reportSnapshot(m, false);
      return;
    }
    const copies = chance(dupRate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      inflight.push({ at: now + 1 + Math.floor(rand() * maxDelay), m });
    }
  };

  // ---- global knowledge for the checks ----
  const leaderOfTerm = new Map<number, NodeId>();
  const entryAt = new Map<string, string>(); // "index/term" -> entry key (log matching)
  const prevTermOf = new Map<string, number>(); // "index/term" -> term at index-1
  const appliedAt = new Map<number, string>(); // index -> entry key (state machine safety)
  const committedEntries = new Map<number, Entry>(); // index -> entry known committed somewhere
  let maxCommitted = 0;

  const checkNewEntries = (m: Member, ents: readonly Entry[]) => {
    const core = m.core!;
    for (const e of ents) {
      const k = `${e.index}/${e.term}`;
      const key = entryKey(e);
      const seen = entryAt.get(k);
      if (seen === undefined) entryAt.set(k, key);
      else if (seen !== key) fail(`log matching: two entries at index ${e.index} term ${e.term}`);
      const prev = core.log.term(e.index - 1);
      if (prev !== undefined) {
        const known = prevTermOf.get(k);
        if (known === undefined) prevTermOf.set(k, prev);
        else if (known !== prev) {
          fail(
            `log matching: entry ${e.index}/${e.term} follows term ${prev} on ${m.id}, ${known} elsewhere`,
          );
        }
      }
    }
  };

  const checkLeaderCompleteness = (m: Member) => {
    const core = m.core!;
    const from = Math.max(core.log.snapshotIndex() + 1, 1);
    for (let i = from; i <= maxCommitted; i++) {
      const c = committedEntries.get(i);
      if (c === undefined || c.term >= core.term) continue;
      const mine = core.log.entry(i);
      if (mine === undefined || entryKey(mine) !== entryKey(c)) {
        fail(`leader completeness: ${m.id} leads term ${core.term} without committed entry ${i}`);
      }
    }
    if (core.log.snapshotIndex() < maxCommitted && core.log.lastIndex() < maxCommitted) {
      fail(
        `leader completeness: ${m.id} leads term ${core.term} with log ending before commit ${maxCommitted}`,
      );
    }
  };

  // ---- proposals: clients retry until their proposal is applied (the machine deduplicates) ----
  let nextProposal = 0;
  const pending = new Map<string, number>(); // id -> next retry time
  const acknowledged = new Set<string>();
  let confChanges = 0;
  let snapshots = 0;
  let crashes = 0;
  let leaders = 0;
  let transfers = 0;

  const propose = (id: string) => {
    const target = pick([...members.values()].filter((m) => m.core !== null && m.syncing === null));
    if (target === undefined) return;
    try {
      target.core!.propose([encoder.encode(id)]);
    } catch {
      // No leader known: the client retries later.
    }
  };

  // Linearizable reads: a ReadState must cover every write acknowledged before the read began.
  const reads = new Map<string, number>(); // context -> highest index acknowledged at request time
  let readsServed = 0;
  let nextRead = 0;
  const requestRead = () => {
    const target = pick([...members.values()].filter((m) => m.core !== null && m.syncing === null));
    if (target === undefined) return;
    const ctx = `r${nextRead++}`;
    reads.set(ctx, maxCommitted);
    target.core!.readIndex(encoder.encode(ctx));
  };
  const checkReadStates = (m: Member, rd: Ready) => {
    for (const rs of rd.readStates) {
      const ctx = decoder.decode(rs.context);
      const floor = reads.get(ctx);
      if (floor === undefined) continue;
      if (rs.index < floor) {
        fail(
          `stale read: ${m.id} answered read ${ctx} at index ${rs.index}, but ${floor} was applied before it began`,
        );
      }
      readsServed++;
    }
  };

  const applyEntries = (m: Member, ents: readonly Entry[]) => {
    for (const e of ents) {
      const key = entryKey(e);
      const seen = appliedAt.get(e.index);
      if (seen === undefined) appliedAt.set(e.index, key);
      else if (seen !== key)
        fail(`state machine safety: ${m.id} applied a different entry at ${e.index}`);
      if (e.index !== m.lastAppliedIndex + 1) {
        fail(`${m.id} applied ${e.index} after ${m.lastAppliedIndex}`);
      }
      m.lastAppliedIndex = e.index;
      if (!committedEntries.has(e.index)) committedEntries.set(e.index, e);
      maxCommitted = Math.max(maxCommitted, e.index);
      if (e.type === 'conf') {
        decodeConfChange(e.data);
        continue;
      }
      if (e.data.length === 0) continue;
      const id = decoder.decode(e.data);
      if (!m.machine.seen.has(id)) {
        m.machine.seen.add(id);
        m.machine.applied.push(id);
      }
      acknowledged.add(id);
      pending.delete(id);
    }
  };

  const startReady = (m: Member) => {
    const core = m.core!;
    if (m.syncing !== null || !core.hasReady()) return;
    const rd = core.ready();
    if (rd.softState?.role === 'leader') {
      leaders++;
      const prev = leaderOfTerm.get(core.term);
      if (prev !== undefined && prev !== m.id)
        fail(`two leaders in term ${core.term}: ${prev} and ${m.id}`);
      leaderOfTerm.set(core.term, m.id);
      checkLeaderCompleteness(m);
    }
    checkNewEntries(m, rd.entries);
    checkReadStates(m, rd);
    const hs = rd.hardState;
    const sentEarly =
      asyncLeaderWrites &&
      core.role === 'leader' &&
      rd.snapshot === null &&
      (hs === null ||
        (hs.term === m.durable.hardState.term && hs.vote === m.durable.hardState.vote));
    if (sentEarly) for (const msg of rd.messages) send(msg);
    m.syncing = { rd, at: now + Math.floor(rand() * 3), sentEarly };
  };

  const finishReady = (m: Member) => {
    const { rd, sentEarly } = m.syncing!;
    m.syncing = null;
    const d = m.durable;
    if (rd.snapshot !== null) {
      // A snapshot from the leader replaces the whole log (the core only installs one that
      // does not match its own log).
      d.snapshot = rd.snapshot;
      d.entries = [];
    }
    const first = rd.entries[0];
    if (first !== undefined) {
      d.entries = d.entries.filter((e) => e.index < first.index).concat(cloneEntries(rd.entries));
    }
    if (rd.hardState !== null) d.hardState = rd.hardState;
    if (!sentEarly) for (const msg of rd.messages) send(msg);
    if (rd.snapshot !== null) {
      m.machine = decodeMachine(rd.snapshot.data);
      m.lastAppliedIndex = rd.snapshot.meta.index;
      for (const id of m.machine.applied) {
        acknowledged.add(id);
        pending.delete(id);
      }
    }
    applyEntries(m, rd.committed);
    const core = m.core!;
    if (core.log.applied - core.log.snapshotIndex() >= opts.snapshotEvery) {
      const snap = core.compact(encodeMachine(m.machine));
      d.snapshot = snap;
      d.entries = d.entries.filter((e) => e.index > snap.meta.index);
      snapshots++;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) core.persistedTo(last.index);
    // Whatever queued while the batch was in flight is stepped now, in arrival order.
    const inbox = m.inbox;
    m.inbox = [];
    for (const item of inbox) {
      if (typeof item === 'function') item();
      else core.step(item);
    }
  };

  const crash = (m: Member) => {
    m.core = null;
    m.syncing = null; // the unsynced batch is lost with the process
    m.inbox = [];
    crashes++;
  };

  const leaderMember = (): Member | undefined => {
    let best: Member | undefined;
    for (const m of members.values()) {
      if (m.core?.role === 'leader' && (best === undefined || m.core.term > best.core!.term))
        best = m;
    }
    return best;
  };

  const tryConfChange = () => {
    const leader = leaderMember();
    if (leader === undefined || leader.syncing !== null) return;
    const core = leader.core!;
    const conf = core.conf;
    let cc: ConfChange | null = null;
    const outsiders = ids.filter((id) => !conf.voters.includes(id) && !conf.learners.includes(id));
    if (conf.learners.length > 0 && chance(0.6)) {
      cc = { type: 'addVoter', node: pick(conf.learners) };
    } else if (outsiders.length > 0 && chance(0.5)) {
      cc = { type: 'addLearner', node: pick(outsiders) };
    } else if (conf.voters.length > 3) {
      cc = { type: 'removeNode', node: pick(conf.voters) };
    }
    if (cc === null) return;
    try {
      core.proposeConfChange(cc);
      confChanges++;
    } catch {
      // Refused (a change pending, learner not caught up, no leader): that is the rule working.
    }
  };

  const allIds = [...members.keys()];
  const livenessDeadline = opts.faultMs + opts.livenessMs;
  let healed = false;

  for (now = 0; ; now++) {
    step++;
    const faulty = now < opts.faultMs;
    if (!faulty && !healed) {
      healed = true;
      blocked.clear();
      dropRate = 0;
      dupRate = 0;
      maxDelay = 5;
      for (const m of members.values()) if (m.core === null) boot(m);
    }

    // Faults.
    if (faulty && chance(0.004)) {
      const kind = Math.floor(rand() * 6);
      const a = pick(allIds);
      const b = pick(allIds.filter((x) => x !== a));
      if (kind === 0) {
        blocked.add(`${a}>${b}`);
        blocked.add(`${b}>${a}`);
      } else if (kind === 1) {
        blocked.add(`${a}>${b}`); // one-way
      } else if (kind === 2) {
        for (const x of allIds) {
          if (x === a) continue;
          blocked.add(`${a}>${x}`);
          blocked.add(`${x}>${a}`);
        }
      } else if (kind === 3) {
        blocked.clear();
      } else if (kind === 4) {
        dropRate = pick([0, 0.05, 0.2]);
        dupRate = pick([0, 0.05, 0.2]);
        maxDelay = pick([3, 10, 40]);
      } else {
        const victim = members.get(a)!;
        if (victim.core !== null) crash(victim);
        else boot(victim);
      }
    }
    for (const m of members.values()) {
      if (m.core === null && chance(faulty ? 0.002 : 1)) boot(m);
    }

    // Clients.
    if (now < opts.faultMs + opts.livenessMs / 2 && chance(0.05)) {
      const id = `p${nextProposal++}`;
      pending.set(id, now);
    }
    for (const [id, retryAt] of pending) {
      if (retryAt <= now) {
        propose(id);
        pending.set(id, now + 150 + Math.floor(rand() * 100));
      }
    }
    if (chance(faulty ? 0.003 : 0.0005)) tryConfChange();
    if (chance(0.02)) requestRead();
    if (faulty && chance(0.0005)) {
      const leader = leaderMember();
      const to = leader === undefined ? undefined : pick(leader.core!.conf.voters);
      if (leader !== undefined && leader.syncing === null && to !== undefined) {
        try {
          leader.core!.transferLeader(to);
          transfers++;
        } catch {
          // Not a voter any more, or no longer leader: refused, as it should be.
        }
      }
    }

    // Deliver what is due.
    if (inflight.length > 0) {
      const due: InFlight[] = [];
      const later: InFlight[] = [];
      for (const f of inflight) (f.at <= now ? due : later).push(f);
      inflight = later;
      for (const { m: msg } of due) {
        const to = members.get(msg.to);
        if (to?.core == null) {
          if (msg.type === 'snap') reportSnapshot(msg, false);
          continue;
        }
        if (to.syncing !== null) to.inbox.push(msg);
        else to.core.step(msg);
        if (msg.type === 'snap') reportSnapshot(msg, true);
      }
    }

    // Ticks, sync completions, new Readies.
    for (const m of members.values()) {
      if (m.core === null) continue;
      if (m.syncing !== null && m.syncing.at <= now) finishReady(m);
      if (m.syncing === null && m.nextTick <= now) {
        m.nextTick = now + tickMs;
        m.core.tick();
      }
      startReady(m);
    }

    if (healed) {
      const leader = leaderMember();
      const converged =
        leader !== undefined &&
        pending.size === 0 &&
        [...members.values()].every((m) => {
          const inConf =
            leader.core!.conf.voters.includes(m.id) || leader.core!.conf.learners.includes(m.id);
          return !inConf || m.lastAppliedIndex >= leader.core!.log.committed;
        });
      if (converged && now >= opts.faultMs + opts.livenessMs / 2) break;
      if (now >= livenessDeadline) {
        fail(
          `liveness: ${opts.livenessMs} ms after healing, leader=${leader?.id ?? 'none'}, ${pending.size} proposals pending`,
        );
      }
    }
  }

  // Every acknowledged proposal is in the state machine of every member still in the cluster.
  const leader = leaderMember()!;
  for (const m of members.values()) {
    const conf = leader.core!.conf;
    if (!conf.voters.includes(m.id) && !conf.learners.includes(m.id)) continue;
    for (const id of acknowledged) {
      if (!m.machine.seen.has(id)) fail(`acknowledged proposal ${id} missing on ${m.id}`);
    }
  }
  opts.log?.(
    `seed ${opts.seed}: ${step} steps, ${acknowledged.size} committed, ${leaders} leaderships, ${snapshots} snapshots, ${confChanges} membership changes, ${crashes} crashes, ${readsServed} reads, ${transfers} transfers`,
  );
  return {
    steps: step,
    proposals: nextProposal,
    committed: acknowledged.size,
    leaders,
    snapshots,
    confChanges,
    crashes,
    readsServed,
    transfers,
  };
}
