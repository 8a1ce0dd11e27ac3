// One manager and two workers, each an orca daemon in its own network namespace, sharing the
// machine's Docker engine (each worker owns the containers labelled with its node id). Workers
// join with a token; replicas spread over them; drain and pause move and hold placements; a
// worker killed with -9 or cut off from the manager loses its tasks to the other worker, and
// when it comes back its stale containers are removed, not duplicated.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { waitFor } from '../support/wait.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

const exec = promisify(execFile);
const IMAGE = 'orca-test/busybox:1';

interface NodeJson {
  meta: { id: string };
  spec: { role: string; availability: string };
  status: { state: string };
}

interface ServiceJson {
  updateStatus: { state: string; startedAt: string } | null;
}

/** Running containers of a service on the engine, counted by the node that owns them. */
async function runningByNode(service: string): Promise<Map<string, number>> {
  const { stdout } = await exec('docker', [
    'ps',
    '--filter',
    `label=orca.service.name=${service}`,
    '--filter',
    'status=running',
    '--format',
    '{{.Label "orca.node.id"}}',
  ]);
  const counts = new Map<string, number>();
  for (const node of stdout.split('\n').filter(Boolean)) {
    counts.set(node, (counts.get(node) ?? 0) + 1);
  }
  return counts;
}

const describeCounts = (m: Map<string, number>) => JSON.stringify(Object.fromEntries(m));

describe('workers joined over the network', { skip: netnsSkip() }, () => {
  let cluster: OrcaCluster;
  let manager = '';
  let workerA = '';
  let workerB = '';

  const placedAs = async (service: string, want: Record<string, number>, what: string) => {
    const wanted = describeCounts(new Map(Object.entries(want).sort()));
    await waitFor(
      async () => {
        const seen = describeCounts(new Map([...(await runningByNode(service))].sort()));
        // Thrown, so that a timeout quotes the last placement seen.
        if (seen !== wanted) throw new Error(`running by node: ${seen}, wanted ${wanted}`);
        return true;
      },
      { timeoutMs: 60_000, what },
    );
  };

  /**
   * `service update --force` and its placement, once the update has completed: the spread it
   * ends with is also reached halfway through (a slot moved to A, the next not yet stopped on
   * B), and a node killed then would be killed in the middle of the update.
   */
  const forceSpread = async () => {
    const before = (await cluster.json<ServiceJson[]>(0, 'service', 'inspect', 'spread'))[0];
    await cluster.ok(0, 'service', 'update', '--detach', '--force', 'spread');
    await waitFor(
      async () => {
        const [svc] = await cluster.json<ServiceJson[]>(0, 'service', 'inspect', 'spread');
        const status = svc?.updateStatus;
        return (
          status?.state === 'completed' && status.startedAt !== before?.updateStatus?.startedAt
        );
      },
      { timeoutMs: 60_000, what: 'the forced update of spread completed' },
    );
    await placedAs('spread', { [workerA]: 2, [workerB]: 2 }, 'spread again after --force');
  };

  const nodeState = async (id: string) =>
    (await cluster.json<NodeJson[]>(0, 'node', 'ls')).find((n) => n.meta.id === id)?.status.state;

  before(async () => {
    cluster = await OrcaCluster.start({ hosts: 3 });
    // The default heartbeat (2 s): a lost worker is down after 3 silent periods.
    manager = await cluster.init();
    workerA = (await cluster.join(1, 'worker')).id;
    workerB = (await cluster.join(2, 'worker')).id;
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('lists the workers as ready workers beside the manager', async () => {
    await waitFor(
      async () => {
        const nodes = await cluster.json<NodeJson[]>(0, 'node', 'ls');
        return nodes.length === 3 && nodes.every((n) => n.status.state === 'ready');
      },
      { timeoutMs: 30_000, what: 'three ready nodes' },
    );
    const nodes = await cluster.json<NodeJson[]>(0, 'node', 'ls');
    const roles = Object.fromEntries(nodes.map((n) => [n.meta.id, n.spec.role]));
    assert.deepEqual(roles, { [manager]: 'manager', [workerA]: 'worker', [workerB]: 'worker' });
  });

  it('spreads replicas over the workers; drain empties one, pause holds new ones off', async () => {
    await cluster.ok(
      0,
      'service',
      'create',
      '--detach',
      '--name',
      'spread',
      '--replicas',
      '4',
      '--constraint',
      'node.role==worker',
      '--init',
      '--stop-grace-period',
      '1s',
      IMAGE,
      'sleep',
      '3600',
    );
    await placedAs('spread', { [workerA]: 2, [workerB]: 2 }, 'two replicas on each worker');

    await cluster.ok(0, 'node', 'update', '--availability', 'drain', workerA);
    await placedAs('spread', { [workerB]: 4 }, 'all four on worker B after draining A');

    await cluster.ok(0, 'node', 'update', '--availability', 'pause', workerA);
    await cluster.ok(0, 'service', 'scale', '--detach', 'spread=6');
    await placedAs('spread', { [workerB]: 6 }, 'the two new replicas on B, A being paused');

    await cluster.ok(0, 'node', 'update', '--availability', 'active', workerA);
    await cluster.ok(0, 'service', 'scale', '--detach', 'spread=4');
    await placedAs('spread', { [workerB]: 4 }, 'scaled back to four');
  });

  it('moves the tasks of a worker killed with -9, and removes its stale ones when it returns', async () => {
    // Worker A is active again and empty: force a fresh spread over both.
    await forceSpread();

    await cluster.kill(2);
    // B's containers live on in the shared engine, as they would with B's dockerd still up.
    await waitFor(async () => (await nodeState(workerB)) === 'down', {
      timeoutMs: 30_000,
      what: 'worker B down',
    });
    await placedAs('spread', { [workerA]: 4, [workerB]: 2 }, "B's two replaced on A");

    await cluster.startDaemon(2);
    await placedAs('spread', { [workerA]: 4 }, "B's stale containers removed once it is back");
    await waitFor(async () => (await nodeState(workerB)) === 'ready', {
      timeoutMs: 30_000,
      what: 'worker B ready again',
    });
  });

  it('moves the tasks of a worker cut off from the manager, and cleans up when it is healed', async () => {
    await forceSpread();

    await cluster.net.cut(0, 1);
    await waitFor(async () => (await nodeState(workerA)) === 'down', {
      timeoutMs: 30_000,
      what: 'worker A down after missing its heartbeats',
    });
    await placedAs('spread', { [workerA]: 2, [workerB]: 4 }, "A's two replaced on B");

    await cluster.net.heal(0, 1);
    await placedAs('spread', { [workerB]: 4 }, "A's stale containers removed once it is back");
    await waitFor(async () => (await nodeState(workerA)) === 'ready', {
      timeoutMs: 30_000,
      what: 'worker A ready again',
    });
  });
});
