import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from '../../src/errors.ts';
import type { RaftCore } from '../../src/raft/core.ts';
import { type Message, message, type NodeId } from '../../src/raft/types.ts';
import { data, Network, text } from './network.ts';

// Scenarios for the pure Raft core, each named for the rule of the Raft paper (Ongaro and
// Ousterhout, 2014) or of Ongaro's thesis (2014) it checks. Members tick with a fixed "random"
// draw, so an election timeout is exactly electionTick unless a scenario says otherwise.

const electionTick = 10;
/** The bootstrap entries of an n-member cluster occupy indexes 1..n, at term 1. */
const bootTerm = 1;

const isApp = (m: Message) => m.type === 'app';
const withEntries = (m: Message) => m.type === 'app' && m.entries.length > 0;

function voteRequest(
  type: 'vote' | 'preVote',
  from: NodeId,
  to: NodeId,
  term: number,
  lastIndex: number,
  lastTerm: number,
  context = '',
): Message {
  return message({
    type,
    from,
    to,
    term,
    index: lastIndex,
    logTerm: lastTerm,
    context: data(context),
  });
}

/** The answers `from` sent to vote requests since `mark`. */
function voteAnswers(nt: Network, mark: number, from: NodeId): Message[] {
  return nt.sentSince(
    mark,
    (m) => m.from === from && (m.type === 'voteResp' || m.type === 'preVoteResp'),
  );
}

function rejections(nt: Network, mark: number, from: NodeId): number {
  return nt.sentSince(mark, (m) => m.from === from && m.type === 'appResp' && m.reject).length;
}

function assertSameLog(nt: Network, leader: NodeId, ids: readonly NodeId[]): void {
  for (const id of ids) assert.deepEqual(nt.log(id), nt.log(leader), `${id}'s log`);
}

function assertSameApplied(nt: Network, ids: readonly NodeId[]): void {
  const [first, ...rest] = ids;
  if (first === undefined) return;
  for (const id of rest) assert.deepEqual(nt.applied(id), nt.applied(first), `${id} applied`);
}

function readContexts(nt: Network, id: NodeId): { index: number; context: string }[] {
  return nt.readStates(id).map((rs) => ({ index: rs.index, context: text(rs.context) }));
}

// ---- 1. leader election ------------------------------------------------------------------------

describe('leader election (paper 5.2)', () => {
  it('a follower that hears from no leader for an election timeout campaigns and wins with a majority', () => {
    const nt = new Network(3);
    const n1 = nt.core('n1');
    const mark = nt.sent.length;
    nt.tick('n1', electionTick - 1);
    assert.equal(n1.role, 'follower');
    assert.equal(nt.sentSince(mark).length, 0, 'nothing is sent before the timeout');

    nt.tick('n1');
    assert.equal(n1.role, 'leader');
    assert.equal(n1.term, bootTerm + 1);
    for (const id of ['n2', 'n3']) {
      assert.equal(nt.core(id).leader, 'n1');
      assert.equal(nt.core(id).term, bootTerm + 1);
      assert.equal(nt.core(id).vote, 'n1');
    }
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term: bootTerm + 1 }]);
  });

  it('a candidate refused by a majority steps down to follower (no pre-vote)', () => {
    // n2 and n3 hold an entry of term 2 that n1 lacks, so they refuse it (5.4.1).
    const nt = new Network(3, { config: { preVote: false }, logs: { n2: [2], n3: [2] } });
    const n1 = nt.core('n1');
    const mark = nt.sent.length;
    nt.campaign('n1');

    assert.equal(nt.sentSince(mark, (m) => m.from === 'n1' && m.type === 'vote').length, 2);
    assert.ok(voteAnswers(nt, mark, 'n2').every((m) => m.reject));
    assert.ok(voteAnswers(nt, mark, 'n3').every((m) => m.reject));
    assert.equal(n1.role, 'follower');
    assert.equal(n1.term, 2);
    assert.equal(n1.vote, 'n1', 'its own vote in the lost term stays cast');
    assert.deepEqual(nt.leaders(), []);

    // The lost election leaves the cluster able to elect a member with a complete log.
    nt.elect('n2');
    assert.equal(nt.core('n2').term, 3);
    assert.equal(n1.leader, 'n2');
  });

  it('a pre-candidate refused by a majority returns to follower and adopts the higher term it learned', () => {
    const nt = new Network(3, { logs: { n2: [2], n3: [2] } });
    const n1 = nt.core('n1');
    nt.campaign('n1');
    assert.equal(n1.role, 'follower');
    assert.equal(n1.term, 2, 'the refusals carry the voters’ term 2');
    assert.equal(n1.vote, null, 'a pre-vote casts no vote');
    assert.deepEqual(nt.leaders(), []);
  });

  it('a member votes at most once per term: two candidates of the same term, one vote', () => {
    const nt = new Network(3, { config: { preVote: false } });
    const [n1, n2, n3] = ['n1', 'n2', 'n3'].map((id) => nt.core(id)) as [
      RaftCore,
      RaftCore,
      RaftCore,
    ];
    // Both time out in the same tick, before either request arrives.
    for (let i = 0; i < electionTick; i++) {
      n1.tick();
      n2.tick();
    }
    assert.equal(n1.role, 'candidate');
    assert.equal(n2.role, 'candidate');
    assert.equal(n1.term, n2.term);
    const mark = nt.sent.length;
    nt.deliver();

    const granted = voteAnswers(nt, mark, 'n3').filter((m) => !m.reject);
    assert.equal(granted.length, 1, 'n3 grants exactly one vote in the term');
    assert.equal(granted[0]?.to, 'n1', 'the first request to arrive gets it');
    assert.equal(n3.vote, 'n1');
    assert.equal(n3.hardState().vote, 'n1', 'the vote is part of the persisted state');
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term: 2 }]);
    assert.equal(n2.role, 'follower');

    // Asking again in the same term changes nothing; the voter's choice stands.
    const again = nt.sent.length;
    nt.send(voteRequest('vote', 'n2', 'n3', 2, n2.log.lastIndex(), n2.log.lastTerm()));
    assert.deepEqual(
      voteAnswers(nt, again, 'n3').map((m) => m.reject),
      [true],
    );
    assert.equal(n3.vote, 'n1');
  });

  describe('a voter refuses a candidate whose log is less up to date (paper 5.4.1)', () => {
    // The voter n1's log ends with two entries of term 2 at indexes 4 and 5.
    const cases: { candidate: [number, number]; granted: boolean; why: string }[] = [
      { candidate: [4, 3], granted: true, why: 'a later last term wins over a longer log' },
      { candidate: [9, 1], granted: false, why: 'a longer log with an earlier last term loses' },
      { candidate: [4, 2], granted: false, why: 'same last term, shorter log' },
      { candidate: [5, 2], granted: true, why: 'same last term and length' },
      { candidate: [6, 2], granted: true, why: 'same last term, longer log' },
    ];
    for (const type of ['vote', 'preVote'] as const) {
      for (const { candidate, granted, why } of cases) {
        it(`${type} from a candidate ending at ${candidate[0]}@${candidate[1]}: ${granted ? 'granted' : 'refused'} (${why})`, () => {
          const nt = new Network(3, { logs: { n1: [2, 2] }, terms: { n1: 2, n2: 2, n3: 2 } });
          const n1 = nt.core('n1');
          assert.deepEqual(nt.log('n1').slice(-2), [
            [4, 2],
            [5, 2],
          ]);
          const mark = nt.sent.length;
          nt.send(voteRequest(type, 'n2', 'n1', 3, candidate[0], candidate[1]));
          const answers = voteAnswers(nt, mark, 'n1');
          assert.equal(answers.length, 1);
          assert.equal(answers[0]?.reject, !granted);
          assert.equal(n1.vote, type === 'vote' && granted ? 'n2' : null);
          assert.equal(n1.term, type === 'vote' ? 3 : 2, 'only a real vote request moves the term');
        });
      }
    }
  });
});

// ---- 2. commitment rule (Figure 8) -------------------------------------------------------------

describe('a leader commits an entry of an earlier term only with one of its own term (paper 5.4.2, Figure 8)', () => {
  /**
   * Figure 8 (c), five members. Term 2's leader n1 wrote x at index 6 and reached only n2;
   * term 3's leader n5 wrote y at index 6 and reached nobody. Now n1 leads term 4 and brings x
   * to n3, so x sits on a majority (n1, n2, n3), while the network loses the part of every
   * append that carries term-4 entries (as if each had been split and the second half lost).
   * n4 is cut off from n1 and n5 is down, as in the figure.
   */
  function figure8c(): Network {
    const nt = new Network(5, {
      logs: { n1: [2], n2: [2], n5: [3] },
      terms: { n1: 3, n2: 3, n3: 3, n4: 3, n5: 4 },
      // n5 times out first once the others' leases on n1 have run out.
      rand: { n2: 0.3, n3: 0.6, n4: 0.6 },
    });
    nt.isolate('n5');
    nt.cut('n1', 'n4');
    nt.rewrite((m) =>
      m.type === 'app' ? { ...m, entries: m.entries.filter((e) => e.term < 4) } : m,
    );
    nt.elect('n1');
    return nt;
  }
  const x = '6@2';
  const y = '6@3';

  it('an entry of an earlier term on a majority is not committed by counting replicas', () => {
    const nt = figure8c();
    const n1 = nt.core('n1');
    assert.equal(n1.term, 4);
    assert.deepEqual(nt.log('n1').slice(-2), [
      [6, 2],
      [7, 4],
    ]);
    for (const id of ['n1', 'n2', 'n3']) assert.equal(nt.core(id).log.term(6), 2, `x on ${id}`);
    assert.equal(n1.followerProgress('n2')?.match, 6);
    assert.equal(n1.followerProgress('n3')?.match, 6);
    assert.equal(n1.log.committed, 5, 'x is on a majority but not committed');
    for (const id of nt.ids) assert.ok(!nt.applied(id).includes(x), `${id} did not apply x`);
  });

  it('(d) why: if the leader fails, a member with a later last term can overwrite x everywhere', () => {
    const nt = figure8c();
    nt.recover();
    nt.isolate('n1');
    nt.tickAll(electionTick);
    nt.tick('n5'); // the commit index reaches the last follower repaired with the next heartbeat
    const n5 = nt.core('n5');
    assert.equal(n5.role, 'leader', 'n5 wins with n2, n3 and n4: its last term 3 beats term 2');
    assert.equal(n5.term, 5);
    for (const id of ['n2', 'n3', 'n4', 'n5']) {
      assert.equal(nt.core(id).log.term(6), 3, `y replaced x on ${id}`);
      assert.ok(nt.applied(id).includes(y));
      assert.ok(!nt.applied(id).includes(x));
    }
  });

  it('(e) once an entry of the current term is on a majority, it and x are both committed and survive', () => {
    const nt = figure8c();
    const n1 = nt.core('n1');
    nt.recover();
    nt.isolate('n5');
    nt.cut('n1', 'n4');
    nt.tick('n1'); // a heartbeat round brings the term-4 no-op to n2 and n3
    assert.equal(n1.log.committed, 7);
    for (const id of ['n1', 'n2', 'n3']) {
      assert.equal(nt.appliedIndex(id), 7, `${id} applied x and the no-op`);
      assert.ok(nt.applied(id).includes(x));
    }

    // n5 can no longer win: n2 and n3 hold a later last term. A member with x is elected.
    nt.recover();
    nt.isolate('n1');
    nt.tickAll(2 * electionTick);
    assert.notEqual(nt.core('n5').role, 'leader');
    const [leader, ...others] = nt.leaders().filter((l) => l.id !== 'n1');
    assert.ok(leader !== undefined && others.length === 0);
    assert.notEqual(leader.id, 'n5');
    for (const id of ['n2', 'n3', 'n4', 'n5']) {
      assert.equal(nt.core(id).log.term(6), 2, `x kept on ${id}`);
      assert.ok(nt.applied(id).includes(x), `${id} applied x`);
    }
  });
});

// ---- 3. log replication and repair (Figure 7) ---------------------------------------------------

describe('log replication repairs conflicting follower logs (paper 5.3, Figure 7)', () => {
  it('followers missing entries or holding extra entries of old terms end with the leader’s log', () => {
    // Figure 7's logs for indexes 1..12, after the bootstrap entries (which also have term 1).
    const nt = new Network(7, {
      logs: {
        n1: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6], // the leader for term 8
        n2: [1, 1, 1, 4, 4, 5, 5, 6, 6], // (a) missing one
        n3: [1, 1, 1, 4], // (b) missing many
        n4: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], // (c) an extra uncommitted entry
        n5: [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], // (d) extra entries of term 7
        n6: [1, 1, 1, 4, 4, 4, 4], // (e) missing, and extra of term 4
        n7: [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], // (f) a long suffix of terms 2 and 3
      },
      terms: { n1: 7, n2: 7, n3: 7, n4: 7, n5: 7, n6: 7, n7: 7 },
    });
    const mark = nt.sent.length;
    nt.elect('n1'); // with the votes of (a), (b), (e) and (f)
    // Followers repaired after the commit point moved learn it from the next heartbeat.
    nt.tick('n1');
    const n1 = nt.core('n1');
    assert.equal(n1.term, 8);
    const followers = ['n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
    assertSameLog(nt, 'n1', followers);
    assert.equal(n1.log.lastIndex(), 7 + 10 + 1, 'the leader’s log plus its term-8 no-op');
    assertSameApplied(nt, nt.ids);
    assert.equal(nt.applied('n1').length, 10);
    for (const id of followers) {
      // Fast back-tracking: one rejection at most per follower, whatever its conflict.
      assert.ok(rejections(nt, mark, id) <= 1, `${id} rejected ${rejections(nt, mark, id)}`);
    }
  });

  it('fast back-tracking repairs a long conflicting suffix of one old term in a few round trips', () => {
    const nt = new Network(3, {
      logs: {
        n1: Array(50).fill(3),
        n2: Array(50).fill(3),
        n3: Array(100).fill(2), // a deposed term-2 leader's 100 uncommitted entries
      },
    });
    const mark = nt.sent.length;
    nt.elect('n1');
    assertSameLog(nt, 'n1', ['n2', 'n3']);
    assertSameApplied(nt, nt.ids);
    assert.equal(nt.applied('n3').length, 50);
    const rejected = rejections(nt, mark, 'n3');
    assert.ok(rejected >= 1 && rejected <= 3, `n3 rejected ${rejected} appends`);
    const appsToN3 = nt.sentSince(mark, (m) => isApp(m) && m.to === 'n3').length;
    assert.ok(appsToN3 <= 4, `${appsToN3} appends to n3`);
  });
});

// ---- 4. pipelining and batching ------------------------------------------------------------------

describe('flow control', () => {
  it('pipelining: with maxInflight 4 the leader has at most 4 appends in flight to a silent follower', () => {
    const nt = new Network(3, { config: { maxInflight: 4 } });
    nt.elect('n1');
    const n1 = nt.core('n1');
    assert.equal(n1.followerProgress('n3')?.state, 'replicate');

    nt.drop((m) => m.from === 'n3'); // n3 receives but never answers
    const mark = nt.sent.length;
    for (let i = 0; i < 10; i++) nt.propose('n1', `p${i}`);
    const toN3 = nt.sentSince(mark, (m) => withEntries(m) && m.to === 'n3');
    const toN2 = nt.sentSince(mark, (m) => withEntries(m) && m.to === 'n2');
    assert.equal(toN3.length, 4, 'four appends, then the window is full');
    assert.equal(toN2.length, 10, 'the answering follower is not held back');
    assert.equal(n1.followerProgress('n3')?.inflightCount(), 4);
    assert.equal(n1.followerProgress('n3')?.isPaused(), true);
    assert.equal(nt.applied('n1').length, 10, 'n1 and n2 commit without n3');

    // Once n3 answers again, a heartbeat round unblocks it and it catches up.
    nt.recover();
    nt.tick('n1');
    assertSameApplied(nt, nt.ids);
    assert.equal(n1.followerProgress('n3')?.match, n1.log.lastIndex());
  });

  it('a follower whose acknowledgement arrives after the commit index moved is told the new commit index at once', () => {
    // n2's acknowledgement of the new leader's no-op commits it while n3, still probing, has
    // an append in flight; n3's acknowledgement then gets no answer carrying the commit.
    const nt = new Network(3);
    nt.elect('n1');
    const noop = nt.core('n1').log.lastIndex();
    assert.equal(nt.core('n1').log.committed, noop);
    assert.equal(nt.core('n2').log.committed, noop);
    assert.equal(nt.core('n3').log.committed, noop, 'n3 learned that the no-op committed');
  });

  it('batching: 100 proposals in one propose() travel as one append to each follower', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const mark = nt.sent.length;
    const first = n1.propose(Array.from({ length: 100 }, (_, i) => data(`b${i}`)));
    nt.deliver();
    const apps = nt.sentSince(mark, withEntries);
    assert.deepEqual(apps.map((m) => m.to).sort(), ['n2', 'n3']);
    for (const m of apps) {
      assert.equal(m.entries.length, 100);
      assert.equal(m.entries[0]?.index, first);
    }
    assert.equal(nt.applied('n3').length, 100);
    assertSameApplied(nt, nt.ids);
  });
});

// ---- 5. pre-vote ---------------------------------------------------------------------------------

describe('pre-vote (thesis 9.6)', () => {
  it('an isolated member does not raise its term, and rejoining does not disturb the leader', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n3 = nt.core('n3');
    const term = nt.core('n1').term;
    const mark = nt.sent.length;

    nt.isolate('n3');
    nt.tickAll(5 * electionTick);
    nt.propose('n1', 'while-away');
    nt.tickAll(5 * electionTick);
    assert.ok(
      nt.sentSince(mark, (m) => m.from === 'n3' && m.type === 'preVote').length >= 5,
      'n3 kept campaigning',
    );
    assert.equal(nt.sentSince(mark, (m) => m.from === 'n3' && m.type === 'vote').length, 0);
    assert.equal(n3.term, term, 'failed pre-votes leave the term alone');

    nt.recover();
    nt.tickAll(2 * electionTick);
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term }]);
    assert.equal(n3.leader, 'n1');
    assert.equal(n3.role, 'follower');
    assertSameApplied(nt, nt.ids);
  });
});

describe('pre-vote with the leader lease', () => {
  it('a member cut off from the leader alone cannot take over through a follower that still hears it', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const term = nt.core('n1').term;
    nt.cut('n1', 'n3');
    const mark = nt.sent.length;
    nt.tickAll(5 * electionTick);
    assert.ok(nt.sentSince(mark, (m) => m.from === 'n3' && m.type === 'preVote').length > 0);
    assert.equal(voteAnswers(nt, mark, 'n2').length, 0, 'n2 ignores the pre-votes');
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term }]);
    assert.equal(nt.core('n3').term, term);
  });
});

// ---- 6. check-quorum -----------------------------------------------------------------------------

describe('check-quorum and leader lease (thesis 6.2, 4.2.3)', () => {
  it('a leader that hears from no quorum for a whole election timeout steps down', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    nt.isolate('n1');
    // The check at the end of the first timeout still counts the answers from just before the
    // cut; the one at the end of the second finds nobody.
    nt.tick('n1', 2 * electionTick - 1);
    assert.equal(n1.role, 'leader');
    nt.tick('n1');
    assert.equal(n1.role, 'follower');
    assert.equal(n1.leader, null);
    assert.equal(n1.term, term, 'stepping down does not change the term');
  });

  it('a follower that recently heard from its leader ignores a vote request of a higher term', () => {
    const nt = new Network(3, { rand: { n2: 0.5 } });
    nt.elect('n1');
    const n2 = nt.core('n2');
    const term = n2.term;
    const last = (): [number, number] => [n2.log.lastIndex(), n2.log.lastTerm()];

    for (const type of ['preVote', 'vote'] as const) {
      const mark = nt.sent.length;
      nt.send(voteRequest(type, 'n3', 'n2', term + 1, ...last()));
      assert.equal(voteAnswers(nt, mark, 'n2').length, 0, `${type} ignored, not even refused`);
      assert.equal(n2.term, term);
      assert.equal(n2.leader, 'n1');
    }

    // A campaign started by a leadership transfer (timeoutNow) is not disruptive: it is heard.
    const mark = nt.sent.length;
    nt.send(voteRequest('vote', 'n3', 'n2', term + 1, ...last(), 'transfer'));
    assert.deepEqual(
      voteAnswers(nt, mark, 'n2').map((m) => m.reject),
      [false],
    );
    assert.equal(n2.term, term + 1);
    assert.equal(n2.vote, 'n3');
  });

  it('once the lease has run out (an election timeout without the leader) the request is heard', () => {
    // n2's own timeout is 15 ticks, so it is out of lease at 10 without campaigning itself.
    const nt = new Network(3, { rand: { n2: 0.5 } });
    nt.elect('n1');
    const n2 = nt.core('n2');
    const term = n2.term;
    nt.cut('n1', 'n2');
    nt.tick('n2', electionTick);
    assert.equal(n2.role, 'follower');
    const mark = nt.sent.length;
    nt.send(voteRequest('vote', 'n3', 'n2', term + 1, n2.log.lastIndex(), n2.log.lastTerm()));
    assert.deepEqual(
      voteAnswers(nt, mark, 'n2').map((m) => m.reject),
      [false],
    );
    assert.equal(n2.term, term + 1);
  });
});

// ---- 7. leadership transfer ----------------------------------------------------------------------

describe('leadership transfer (thesis 3.10)', () => {
  it('to an up-to-date follower: it leads the next term at once, without an election timeout', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    const mark = nt.sent.length;
    n1.transferLeader('n2');
    nt.deliver(); // no ticks
    assert.equal(nt.sentSince(mark, (m) => m.type === 'timeoutNow' && m.to === 'n2').length, 1);
    assert.deepEqual(nt.leaders(), [{ id: 'n2', term: term + 1 }]);
    assert.equal(n1.leader, 'n2');
    assert.equal(nt.core('n3').leader, 'n2');
    nt.propose('n2', 'after');
    assertSameApplied(nt, nt.ids);
    assert.deepEqual(nt.applied('n1'), ['after']);
  });

  it('to a lagging follower: it is caught up first, then takes over', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    nt.drop((m) => m.to === 'n3');
    for (let i = 0; i < 5; i++) nt.propose('n1', `e${i}`);
    nt.recover();
    const n3 = nt.core('n3');
    assert.ok(n3.log.lastIndex() < n1.log.lastIndex());

    const mark = nt.sent.length;
    n1.transferLeader('n3');
    nt.deliver();
    const toN3 = nt.sentSince(mark, (m) => m.to === 'n3' && m.from === 'n1');
    const caughtUp = toN3.findIndex(withEntries);
    const timeoutNow = toN3.findIndex((m) => m.type === 'timeoutNow');
    assert.ok(caughtUp >= 0 && timeoutNow > caughtUp, 'entries first, then timeoutNow');
    assert.deepEqual(nt.leaders(), [{ id: 'n3', term: term + 1 }]);
    assertSameApplied(nt, nt.ids);
    assert.equal(nt.applied('n3').length, 5);
  });

  it('proposals are refused while a transfer is in progress', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    nt.isolate('n3');
    n1.transferLeader('n3');
    nt.deliver();
    assert.throws(() => n1.propose([data('x')]), ProposalDroppedError);
    assert.throws(
      () => n1.proposeConfChange({ type: 'addLearner', node: 'n9' }),
      ProposalDroppedError,
    );
  });

  it('a transfer to an unreachable member is abandoned after an election timeout; the leader keeps leading', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    nt.isolate('n3');
    n1.transferLeader('n3');
    nt.tick('n1', electionTick - 1);
    assert.throws(() => n1.propose([data('x')]), ProposalDroppedError);
    nt.tick('n1');
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term }]);
    nt.propose('n1', 'after');
    assert.deepEqual(nt.applied('n2'), ['after']);
  });
});

// ---- 8. ReadIndex --------------------------------------------------------------------------------

describe('linearizable reads with ReadIndex (thesis 6.4)', () => {
  it('on the leader: the read index is the commit index, released only once a quorum answers a heartbeat', () => {
    const nt = new Network(5);
    nt.elect('n1');
    const n1 = nt.core('n1');
    nt.propose('n1', 'a');
    const commit = n1.log.committed;

    // Only n2 answers: with n1 that is 2 of 5, not a quorum.
    nt.drop((m) => m.type === 'heartbeatResp' && m.from !== 'n2');
    n1.readIndex(data('r1'));
    nt.deliver();
    assert.equal(
      nt.sent.filter((m) => m.type === 'heartbeat' && text(m.context) === 'r1').length,
      4,
    );
    assert.deepEqual(readContexts(nt, 'n1'), []);

    nt.recover();
    nt.tick('n1'); // the next heartbeat round carries the pending read
    assert.deepEqual(readContexts(nt, 'n1'), [{ index: commit, context: 'r1' }]);
  });

  it('with every heartbeat answer lost there is no ReadState', () => {
    const nt = new Network(3);
    nt.elect('n1');
    nt.drop((m) => m.type === 'heartbeatResp');
    nt.core('n1').readIndex(data('r'));
    nt.tick('n1', 3);
    assert.deepEqual(readContexts(nt, 'n1'), []);
  });

  it('on a follower: the request is forwarded and answered with the leader’s commit index', () => {
    const nt = new Network(3);
    nt.elect('n1');
    nt.propose('n1', 'a', 'b');
    const mark = nt.sent.length;
    nt.core('n2').readIndex(data('f1'));
    nt.deliver();
    assert.equal(nt.sentSince(mark, (m) => m.type === 'readIndex' && m.to === 'n1').length, 1);
    assert.deepEqual(readContexts(nt, 'n2'), [
      { index: nt.core('n1').log.committed, context: 'f1' },
    ]);
    assert.deepEqual(readContexts(nt, 'n1'), []);
  });

  it('a new leader answers no read before it has committed the first entry of its term', () => {
    const nt = new Network(3);
    nt.elect('n1');
    nt.propose('n1', 'a');
    // n2 takes over, but nobody's acknowledgement of its no-op reaches it.
    nt.drop((m) => m.type === 'appResp' && m.to === 'n2');
    nt.core('n1').transferLeader('n2');
    nt.deliver();
    const n2 = nt.core('n2');
    assert.equal(n2.role, 'leader');
    const noop = n2.log.lastIndex();
    assert.ok(n2.log.committed < noop);

    n2.readIndex(data('own'));
    nt.core('n3').readIndex(data('fwd'));
    nt.deliver();
    assert.deepEqual(readContexts(nt, 'n2'), []);
    assert.deepEqual(readContexts(nt, 'n3'), []);

    nt.recover();
    nt.tick('n2');
    assert.equal(n2.log.committed, noop);
    assert.deepEqual(readContexts(nt, 'n2'), [{ index: noop, context: 'own' }]);
    assert.deepEqual(readContexts(nt, 'n3'), [{ index: noop, context: 'fwd' }]);
  });
});

// ---- 9. snapshots --------------------------------------------------------------------------------

describe('log compaction and InstallSnapshot (paper 7)', () => {
  it('a follower behind the leader’s compacted log receives a snapshot, installs it, then catches up', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const n3 = nt.core('n3');
    nt.propose('n1', 'a');
    nt.isolate('n3');
    nt.propose('n1', 'b');
    nt.propose('n1', 'c', 'd');
    const snap = nt.compact('n1');
    assert.equal(snap.meta.index, n1.log.committed);
    assert.ok(n1.log.firstIndex() > n3.log.lastIndex() + 1, 'n3 needs entries n1 no longer has');

    nt.recover();
    const mark = nt.sent.length;
    nt.propose('n1', 'e');
    nt.tick('n1');
    const snaps = nt.sentSince(mark, (m) => m.type === 'snap');
    assert.deepEqual(
      snaps.map((m) => m.to),
      ['n3'],
    );
    assert.deepEqual(
      nt.snapshots('n3').map((s) => s.meta),
      [snap.meta],
    );
    assert.equal(n3.log.snapshotIndex(), snap.meta.index);
    assert.deepEqual(nt.applied('n3'), ['a', 'b', 'c', 'd', 'e']);
    assertSameApplied(nt, nt.ids);
    assert.equal(n1.followerProgress('n3')?.state, 'replicate');
    nt.propose('n1', 'f');
    assert.deepEqual(nt.applied('n3').slice(-1), ['f']);
  });
});

// ---- 10. membership ------------------------------------------------------------------------------

describe('membership changes, one server at a time (thesis 4)', () => {
  it('a learner receives the log, does not count toward commitment, and never campaigns', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    nt.propose('n1', 'before');
    const n4 = nt.addMember('n4');
    n1.proposeConfChange({ type: 'addLearner', node: 'n4' });
    nt.deliver();
    assert.deepEqual(n1.conf, { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    assert.deepEqual(n4.conf, n1.conf, 'the learner learned the membership from the log');
    assert.deepEqual(nt.applied('n4'), ['before']);

    // The leader and the learner alone are not a majority of the three voters.
    nt.isolate('n2');
    nt.isolate('n3');
    const committed = n1.log.committed;
    nt.propose('n1', 'x');
    assert.equal(n4.log.lastIndex(), n1.log.lastIndex(), 'the learner has the entry');
    assert.equal(n1.log.committed, committed, 'but its acknowledgement does not commit it');
    nt.recover();
    nt.tick('n1');
    assert.deepEqual(nt.applied('n4'), ['before', 'x']);

    const mark = nt.sent.length;
    nt.isolate('n4');
    nt.tick('n4', 5 * electionTick);
    assert.equal(n4.role, 'follower');
    assert.equal(nt.sentSince(mark, (m) => m.from === 'n4').length, 0, 'no (pre-)votes');
  });

  it('a new member cannot join as a voter directly: it must catch up as a learner first', () => {
    const nt = new Network(3);
    nt.elect('n1');
    assert.throws(
      () => nt.core('n1').proposeConfChange({ type: 'addVoter', node: 'n4' }),
      (e: unknown) => e instanceof ConfChangeError && /learner first/.test(e.message),
    );
    assert.deepEqual(nt.core('n1').conf.voters, ['n1', 'n2', 'n3']);
  });

  it('a learner is promoted only once it has caught up', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    nt.addMember('n4');
    n1.proposeConfChange({ type: 'addLearner', node: 'n4' });
    nt.deliver();
    nt.isolate('n4');
    nt.propose('n1', 'a');
    assert.throws(
      () => n1.proposeConfChange({ type: 'addVoter', node: 'n4' }),
      (e: unknown) => e instanceof ConfChangeError && /caught up/.test(e.message),
    );

    nt.recover();
    nt.tick('n1');
    assert.equal(n1.followerProgress('n4')?.match, n1.log.lastIndex());
    n1.proposeConfChange({ type: 'addVoter', node: 'n4' });
    nt.deliver();
    for (const id of nt.ids) {
      assert.deepEqual(
        nt.core(id).conf,
        { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] },
        `${id}'s membership`,
      );
    }
    // Now four voters: n1 and n2 alone (2 of 4) cannot commit.
    nt.isolate('n3');
    nt.isolate('n4');
    const committed = n1.log.committed;
    nt.propose('n1', 'b');
    assert.equal(n1.log.committed, committed);
    nt.recover();
    // One heartbeat round brings b to n3 and n4; the second tells the slower one it committed.
    nt.tick('n1', 2);
    assert.deepEqual(nt.applied('n4'), ['a', 'b']);
  });

  it('a second change is refused while one is pending', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    nt.addMember('n4');
    nt.addMember('n5');
    n1.proposeConfChange({ type: 'addLearner', node: 'n4' });
    assert.throws(() => n1.proposeConfChange({ type: 'addLearner', node: 'n5' }), ConfChangeError);
    nt.deliver();
    n1.proposeConfChange({ type: 'addLearner', node: 'n5' });
    nt.deliver();
    assert.deepEqual(n1.conf.learners, ['n4', 'n5']);
  });

  it('a removed leader steps down and the remaining voters elect a new one', () => {
    const nt = new Network(3, { rand: { n3: 0.5 } });
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    n1.proposeConfChange({ type: 'removeNode', node: 'n1' });
    nt.deliver();
    assert.equal(n1.role, 'follower');
    for (const id of ['n2', 'n3']) {
      assert.deepEqual(nt.core(id).conf, { voters: ['n2', 'n3'], learners: [] });
    }

    const mark = nt.sent.length;
    nt.tickAll(electionTick);
    assert.deepEqual(nt.leaders(), [{ id: 'n2', term: term + 1 }]);
    nt.propose('n2', 'after');
    assert.deepEqual(nt.applied('n3'), ['after']);
    nt.tickAll(5 * electionTick);
    assert.equal(
      nt.sentSince(mark, (m) => m.from === 'n1').length,
      0,
      'the removed member, which knows it, stays silent',
    );
  });

  it('a removed member that never learned of its removal cannot disturb the cluster', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const n1 = nt.core('n1');
    const term = n1.term;
    nt.isolate('n3');
    n1.proposeConfChange({ type: 'removeNode', node: 'n3' });
    nt.deliver();
    assert.deepEqual(n1.conf.voters, ['n1', 'n2']);
    const n3 = nt.core('n3');
    assert.deepEqual(n3.conf.voters, ['n1', 'n2', 'n3'], 'n3 does not know');

    nt.recover();
    const mark = nt.sent.length;
    nt.tickAll(5 * electionTick);
    assert.ok(nt.sentSince(mark, (m) => m.from === 'n3' && m.type === 'preVote').length > 0);
    assert.deepEqual(nt.leaders(), [{ id: 'n1', term }]);
    assert.equal(nt.core('n2').leader, 'n1');
    nt.propose('n1', 'still');
    assert.deepEqual(nt.applied('n2'), ['still']);
  });
});

// ---- 11. client requests on followers ------------------------------------------------------------

describe('proposals on a follower (thesis 6.2)', () => {
  it('are forwarded to the leader and committed', () => {
    const nt = new Network(3);
    nt.elect('n1');
    const mark = nt.sent.length;
    assert.equal(nt.propose('n2', 'via-n2'), null);
    assert.equal(nt.sentSince(mark, (m) => m.type === 'prop' && m.to === 'n1').length, 1);
    for (const id of nt.ids) assert.deepEqual(nt.applied(id), ['via-n2']);
  });

  it('with forwardProposals off they fail with NotLeaderError naming the leader', () => {
    const nt = new Network(3, { config: { forwardProposals: false } });
    nt.elect('n1');
    assert.throws(
      () => nt.core('n2').propose([data('x')]),
      (e: unknown) => e instanceof NotLeaderError && e.leader === 'n1',
    );
  });

  it('with no leader known they fail with NotLeaderError(null)', () => {
    const nt = new Network(3);
    assert.throws(
      () => nt.core('n2').propose([data('x')]),
      (e: unknown) => e instanceof NotLeaderError && e.leader === null,
    );
    assert.throws(
      () => nt.core('n2').proposeConfChange({ type: 'addLearner', node: 'n4' }),
      (e: unknown) => e instanceof NotLeaderError && e.leader === null,
    );
  });
});
