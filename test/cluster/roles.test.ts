// Roles change on live nodes, each an orca daemon in its own network namespace: a worker
// promoted becomes a manager (a voter of the Raft group, answering for the cluster), demoted it
// is a worker again; quorum-losing changes are refused; `node rm` refuses managers and nodes
// that are up, and a removed node's certificate opens nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

interface InfoJson {
  isManager: boolean;
  raft: { voters: string[]; learners: string[] } | null;
}

interface NodeJson {
  meta: { id: string };
  spec: { role: string };
  status: { state: string };
}

describe('promote, demote and remove nodes', { skip: netnsSkip() }, () => {
  let cluster: OrcaCluster;
  let manager = '';
  let a = '';
  let b = '';

  const info = (i: number) => cluster.json<InfoJson>(i, 'info');
  const nodes = () => cluster.json<NodeJson[]>(0, 'node', 'ls');

  before(async () => {
    cluster = await OrcaCluster.start({ hosts: 3 });
    manager = await cluster.init();
    a = (await cluster.join(1, 'worker')).id;
    b = (await cluster.join(2, 'worker')).id;
    await waitFor(async () => (await nodes()).every((n) => n.status.state === 'ready'), {
      timeoutMs: 30_000,
      what: 'three ready nodes',
    });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('promotes a worker to a voting manager, warning of the even count, and demotes it back', async () => {
    const promoted = await cluster.orca(0, 'node', 'promote', a);
    assert.equal(promoted.code, 0, promoted.stderr);
    assert.equal(promoted.stdout, `Node ${a} promoted to a manager in the swarm.\n`);
    assert.match(promoted.stderr, /warning: the swarm will have 2 managers: an even number/);
    await waitFor(
      async () => {
        const raft = (await info(0)).raft;
        return raft?.voters.length === 2 && raft.voters.includes(a);
      },
      { timeoutMs: 60_000, what: 'the promoted node a voter' },
    );
    await waitFor(async () => (await info(1)).isManager, {
      timeoutMs: 30_000,
      what: 'the promoted node answering as a manager',
    });
    assert.equal((await cluster.json<NodeJson[]>(1, 'node', 'ls')).length, 3);

    const demoted = await cluster.ok(0, 'node', 'demote', a);
    assert.equal(demoted, `Manager ${a} demoted in the swarm.\n`);
    await waitFor(
      async () => {
        const raft = (await info(0)).raft;
        return raft?.voters.length === 1 && !(await info(1)).isManager;
      },
      { timeoutMs: 60_000, what: 'the demoted node out of the Raft group and a worker' },
    );
    const again = await cluster.orca(1, 'node', 'ls');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not a swarm manager/);
    await waitFor(
      async () => (await nodes()).find((n) => n.meta.id === a)?.status.state === 'ready',
      { timeoutMs: 30_000, what: 'the demoted node ready as a worker' },
    );
  });

  it('refuses to demote the last manager', async () => {
    const r = await cluster.orca(0, 'node', 'demote', manager);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /last manager of the swarm/);
  });

  it('removes only a worker that is down, unless forced; a removed node is shut out', async () => {
    const managerRm = await cluster.orca(0, 'node', 'rm', manager);
    assert.equal(managerRm.code, 1);
    assert.match(managerRm.stderr, /demote it first/);
    const up = await cluster.orca(0, 'node', 'rm', b);
    assert.equal(up.code, 1);
    assert.match(up.stderr, /is not down and can't be removed/);

    await cluster.kill(2);
    await waitFor(
      async () => (await nodes()).find((n) => n.meta.id === b)?.status.state === 'down',
      { timeoutMs: 30_000, what: 'worker B down' },
    );
    assert.equal(await cluster.ok(0, 'node', 'rm', b), `${b}\n`);
    assert.deepEqual((await nodes()).map((n) => n.meta.id).sort(), [manager, a].sort());

    // Back with its old certificate: no session, so it never shows up again.
    await cluster.startDaemon(2);
    const log = () => cluster.node(2).proc?.output() ?? '';
    await waitFor(() => /not part of this swarm/.test(log()), {
      timeoutMs: 30_000,
      what: "the removed node's session refused",
    });
    assert.equal((await nodes()).length, 2);
  });
});
