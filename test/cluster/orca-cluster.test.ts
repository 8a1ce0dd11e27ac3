// The orca layer of the namespace harness: daemons in their own network namespaces, a swarm
// initialised on one of them at its own address, a daemon killed with -9 and started again on
// its data dir. The multi-host tests of joining and failures build on this.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

interface NodeJson {
  meta: { id: string };
  status: { state: string };
  managerStatus?: { addr: string };
}

describe('orca daemons on namespace hosts', { skip: netnsSkip() }, () => {
  let cluster: OrcaCluster;
  before(async () => {
    cluster = await OrcaCluster.start({ hosts: 2 });
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('initialises a swarm at the host address and survives kill -9 of its daemon', async () => {
    const manager = cluster.node(0);
    await cluster.ok(0, 'swarm', 'init', '--advertise-addr', manager.host.ip);
    const id = await cluster.nodeId(0);
    const nodes = await cluster.json<NodeJson[]>(0, 'node', 'ls');
    assert.equal(nodes.length, 1);
    assert.equal(nodes[0]?.meta.id, id);
    assert.equal(nodes[0]?.managerStatus?.addr, manager.clusterAddr);

    // The second host's daemon is up and outside any swarm.
    const info = await cluster.json<{ swarm: string }>(1, 'info');
    assert.equal(info.swarm, 'inactive');

    await cluster.kill(0);
    await cluster.startDaemon(0);
    assert.equal(await cluster.nodeId(0), id);
    await waitFor(
      async () => (await cluster.json<NodeJson[]>(0, 'node', 'ls'))[0]?.status.state === 'ready',
      { timeoutMs: 30_000, what: 'the manager ready again after its restart' },
    );
  });
});
