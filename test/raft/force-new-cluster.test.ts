// Quorum lost for good: two of three members gone, the survivor forced into a cluster of its
// own keeps every write the old cluster acknowledged and takes new ones. The pure rewrite of the
// log first, then three real members on loopback.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfChangeError } from '../../src/errors.ts';
import { bootstrapLog, decodeConfChange, encodeConfChange } from '../../src/raft/conf.ts';
import { confAtEnd, forceNewClusterLog } from '../../src/raft/force-new-cluster.ts';
import { encodeKvCommand, KvMachine } from '../../src/raft/kv.ts';
import { RaftNode } from '../../src/raft/node.ts';
import type { Entry } from '../../src/raft/types.ts';
import { freePort } from '../daemon/support/cli.ts';
import { waitFor } from '../support/wait.ts';

const silent = { info() {}, warn() {}, debug() {} };

describe('force new cluster: the log rewrite', () => {
  const boot = bootstrapLog([{ id: 'a' }, { id: 'b' }, { id: 'c' }]);
  const put = (index: number, term: number): Entry => ({
    index,
    term,
    type: 'normal',
    data: encodeKvCommand({ op: 'put', key: `k${index}`, value: 'v' }),
  });

  it('removes every other member after the last entry, uncommitted ones kept, and commits', () => {
    const learner: Entry = {
      index: 6,
      term: 3,
      type: 'conf',
      data: encodeConfChange({ type: 'addLearner', node: 'd' }),
    };
    const stored = {
      hardState: { term: 4, vote: 'a', commit: 5 },
      snapshot: null,
      entries: [...boot.entries, put(4, 2), put(5, 3), learner, put(7, 3)],
    };
    const forced = forceNewClusterLog(stored, 'a');
    assert.ok(forced !== null);
    assert.deepEqual(
      forced.entries.map((e) => [e.index, e.term, decodeConfChange(e.data)]),
      [
        [8, 4, { type: 'removeNode', node: 'b' }],
        [9, 4, { type: 'removeNode', node: 'c' }],
        [10, 4, { type: 'removeNode', node: 'd' }],
      ],
    );
    assert.deepEqual(forced.hardState, { term: 4, vote: 'a', commit: 10 });
    assert.deepEqual(confAtEnd({ ...stored, entries: [...stored.entries, ...forced.entries] }), {
      voters: ['a'],
      learners: [],
    });
  });

  it('changes nothing for a member that is alone already, and refuses a non-voter', () => {
    const alone = bootstrapLog([{ id: 'a' }]);
    const stored = { hardState: alone.hardState, snapshot: null, entries: alone.entries };
    assert.equal(forceNewClusterLog(stored, 'a'), null);
    assert.throws(
      () => forceNewClusterLog({ ...stored }, 'z'),
      (err: unknown) => err instanceof ConfChangeError && /z: it is not a voter/.test(err.message),
    );
  });
});

describe('force new cluster: three members, two gone for good', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'orca-force-new-'));
  const nodes: RaftNode[] = [];
  after(async () => {
    for (const n of nodes) await n.stop().catch(() => {});
    fs.rmSync(root, { recursive: true, force: true });
  });

  const start = (
    id: string,
    addr: string,
    extra: Partial<Parameters<typeof RaftNode.start>[0]>,
  ) => {
    const machine = new KvMachine();
    return RaftNode.start({
      id,
      clusterId: 'c',
      dataDir: path.join(root, id),
      listenAddr: addr,
      tickMs: 10,
      machine,
      logger: silent,
      ...extra,
    }).then((node) => {
      nodes.push(node);
      return { node, machine };
    });
  };

  it('the survivor keeps every acknowledged write and takes new ones alone', async () => {
    const members = await Promise.all(
      ['a', 'b', 'c'].map(async (id) => ({ id, addr: `127.0.0.1:${await freePort()}` })),
    );
    const started = await Promise.all(
      members.map((m) => start(m.id, m.addr, { initialCluster: members })),
    );
    const leaderOf = () => started.find((s) => s.node.status().role === 'leader');
    await waitFor(() => leaderOf() !== undefined, { what: 'a leader' });
    for (let i = 0; i < 20; i++) {
      await leaderOf()!.node.propose(encodeKvCommand({ op: 'put', key: `k${i}`, value: `${i}` }));
    }
    // The survivor is a follower, so the forced log must carry what it had not applied yet.
    const survivor = started.find((s) => s !== leaderOf())!;
    const survivorId = members[started.indexOf(survivor)]!;
    for (const s of started) await s.node.stop();
    nodes.length = 0;

    // Alone without the flag it cannot elect itself: two of three votes are gone.
    const stuck = await start(survivorId.id, survivorId.addr, {});
    await assert.rejects(
      stuck.node.propose(encodeKvCommand({ op: 'put', key: 'x', value: 'x' })),
      /no leader/,
    );
    await stuck.node.stop();
    nodes.length = 0;

    const forced = await start(survivorId.id, survivorId.addr, { forceNewCluster: true });
    await waitFor(() => forced.node.status().role === 'leader', { what: 'the survivor leads' });
    await forced.node.linearizableBarrier();
    for (let i = 0; i < 20; i++) assert.equal(forced.machine.get(`k${i}`), `${i}`);
    await forced.node.propose(encodeKvCommand({ op: 'put', key: 'after', value: 'yes' }));
    assert.equal(forced.machine.get('after'), 'yes');
    assert.deepEqual(forced.node.status().voters, [survivorId.id]);
    assert.deepEqual(Object.keys(forced.node.status().members), [survivorId.id]);
  });
});
