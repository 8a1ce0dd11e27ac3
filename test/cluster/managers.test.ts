// Three managers, each an orca daemon in its own network namespace: two join the first with the
// manager token, become voters once caught up, and the cluster survives the loss of its leader
// (kill -9) without losing a write the CLI acknowledged; a manager cut off from the other two
// refuses writes while the majority carries on, and catches up when healed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/wait.ts';
import { netnsSkip } from './netns.ts';
import { OrcaCluster } from './orca-cluster.ts';

const IMAGE = 'orca-test/busybox:1';

interface InfoJson {
  swarm: string;
  nodeId: string;
  raft: { leader: string | null; role: string; voters: string[]; learners: string[] } | null;
}

interface ServiceJson {
  spec: { name: string; task: { container: { env: string[] } } };
}

describe('three managers', { skip: netnsSkip() }, () => {
  let cluster: OrcaCluster;
  const ids: string[] = [];

  const info = (i: number) => cluster.json<InfoJson>(i, 'info');
  /** The host whose daemon leads, as the given live hosts agree on it. */
  const leaderHost = async (live: readonly number[]): Promise<number> => {
    let found = -1;
    await waitFor(
      async () => {
        const views = await Promise.all(live.map(async (i) => (await info(i)).raft?.leader));
        const leader = views[0];
        if (leader === undefined || leader === null || views.some((v) => v !== leader)) {
          throw new Error(`no agreed leader: ${JSON.stringify(views)}`);
        }
        found = ids.indexOf(leader);
        return found >= 0 && live.includes(found);
      },
      { timeoutMs: 30_000, what: `a leader agreed on by hosts ${live.join(', ')}` },
    );
    return found;
  };

  before(async () => {
    // Hosts 0-2 are the managers; host 3 joins later as a worker.
    cluster = await OrcaCluster.start({ hosts: 4 });
    ids.push(await cluster.init());
    for (const i of [1, 2]) {
      const { id, out } = await cluster.join(i, 'manager');
      assert.match(out, /joined a swarm as a manager/);
      ids.push(id);
    }
  });
  after(async () => {
    await cluster?.destroy();
  });

  it('makes the joined managers voters, and every manager answers for the cluster', async () => {
    await waitFor(
      async () => {
        const raft = (await info(0)).raft;
        return raft?.voters.length === 3 && raft.learners.length === 0;
      },
      { timeoutMs: 30_000, what: 'three voters, no learner left' },
    );
    for (const i of [0, 1, 2]) {
      const nodes = await cluster.json<{ spec: { role: string } }[]>(i, 'node', 'ls');
      assert.deepEqual(
        nodes.map((n) => n.spec.role),
        ['manager', 'manager', 'manager'],
        `node ls on host ${i}`,
      );
    }
    // Docker's MANAGER STATUS column: one Leader, the others Reachable.
    await waitFor(
      async () => {
        const table = await cluster.ok(1, 'node', 'ls');
        return (table.match(/Leader/g) ?? []).length === 1 &&
          (table.match(/Reachable/g) ?? []).length === 2
          ? table
          : null;
      },
      { timeoutMs: 30_000, what: 'node ls with one Leader and two Reachable managers' },
    );
  });

  it('loses no acknowledged write when the leader is killed with -9', async () => {
    await cluster.ok(
      0,
      'service',
      'create',
      '--detach',
      '--name',
      'kept',
      '--replicas',
      '2',
      '--init',
      IMAGE,
      'sleep',
      '3600',
    );
    const leader = await leaderHost([0, 1, 2]);
    const others = [0, 1, 2].filter((i) => i !== leader);
    // Writes acknowledged through a follower just before the kill.
    for (let n = 1; n <= 5; n++) {
      await cluster.ok(
        others[0]!,
        'service',
        'update',
        '--detach',
        '--env-add',
        `GEN=${n}`,
        'kept',
      );
    }
    await cluster.kill(leader);
    const next = await leaderHost(others);
    assert.notEqual(next, leader);
    await waitFor(
      async () =>
        (
          await cluster.orca(
            others[1]!,
            'service',
            'update',
            '--detach',
            '--env-add',
            'GEN=6',
            'kept',
          )
        ).code === 0,
      { timeoutMs: 30_000, what: 'an update acknowledged after the failover' },
    );
    for (const i of others) {
      const [svc] = await cluster.json<ServiceJson[]>(i, 'service', 'inspect', 'kept');
      assert.ok(svc?.spec.task.container.env.includes('GEN=6'), `host ${i} has every update`);
    }
    await waitFor(async () => /Unreachable/.test(await cluster.ok(next, 'node', 'ls')), {
      timeoutMs: 30_000,
      what: 'the killed manager shown Unreachable',
    });

    // The old leader comes back as a follower and catches up.
    await cluster.startDaemon(leader);
    await waitFor(
      async () => {
        const [svc] = await cluster.json<ServiceJson[]>(leader, 'service', 'inspect', 'kept');
        return svc?.spec.task.container.env.includes('GEN=6');
      },
      { timeoutMs: 30_000, what: 'the restarted manager caught up' },
    );
    // Its own worker finds the new leader's dispatcher among the managers: ready again.
    await waitFor(
      async () => {
        const nodes = await cluster.json<{ status: { state: string } }[]>(next, 'node', 'ls');
        return nodes.every((n) => n.status.state === 'ready');
      },
      { timeoutMs: 30_000, what: 'every manager ready after the restart' },
    );
  });

  it('keeps every change acknowledged while clients create, scale and update through a leader kill', async () => {
    const leader = await leaderHost([0, 1, 2]);
    const followers = [0, 1, 2].filter((i) => i !== leader);
    const acked = new Map<string, { replicas: number; gen: number }>();
    let stop = false;
    const client = async (host: number, prefix: string) => {
      for (let n = 0; !stop; n++) {
        const name = `${prefix}${n}`;
        const created = await cluster.orca(
          host,
          'service',
          'create',
          '--detach',
          '--name',
          name,
          '--init',
          IMAGE,
          'sleep',
          '3600',
        );
        if (created.code !== 0) continue;
        acked.set(name, { replicas: 1, gen: 0 });
        if ((await cluster.orca(host, 'service', 'scale', '--detach', `${name}=2`)).code === 0) {
          acked.set(name, { replicas: 2, gen: 0 });
        }
        const env = ['service', 'update', '--detach', '--env-add', `GEN=${n}`, name];
        if ((await cluster.orca(host, ...env)).code === 0) {
          acked.set(name, { replicas: acked.get(name)!.replicas, gen: n });
        }
      }
    };
    const clients = followers.map((host, k) => client(host, `c${k}x`));
    await waitFor(() => acked.size >= 2, { timeoutMs: 30_000, what: 'clients under way' });
    await cluster.kill(leader);
    const before = acked.size;
    await waitFor(() => acked.size >= before + 2, {
      timeoutMs: 60_000,
      what: 'clients acknowledged again after the failover',
    });
    stop = true;
    await Promise.all(clients);

    const survivor = followers[0]!;
    for (const [name, want] of acked) {
      const [svc] = await cluster.json<(ServiceJson & { spec: { mode: unknown } })[]>(
        survivor,
        'service',
        'inspect',
        name,
      );
      assert.ok(svc, `acknowledged service ${name} exists`);
      assert.deepEqual(svc.spec.mode, { kind: 'replicated', replicas: want.replicas }, name);
      if (want.gen > 0) assert.ok(svc.spec.task.container.env.includes(`GEN=${want.gen}`), name);
    }
    // No slot runs twice: at most one task per slot is meant to run, whatever the failover did.
    for (const name of acked.keys()) {
      const tasks = await cluster.json<{ slot: number; desiredState: string }[]>(
        survivor,
        'service',
        'ps',
        name,
      );
      const slots = tasks.filter((t) => t.desiredState === 'running').map((t) => t.slot);
      assert.equal(new Set(slots).size, slots.length, `${name}: one running task per slot`);
    }
    await cluster.startDaemon(leader);
  });

  it('refuses writes on a manager cut off from the majority, which carries on', async () => {
    const leader = await leaderHost([0, 1, 2]);
    const cut = [0, 1, 2].find((i) => i !== leader)!;
    const majority = [0, 1, 2].filter((i) => i !== cut);
    await cluster.net.partition([cut], majority);
    try {
      const refused = await cluster.orca(cut, 'service', 'scale', '--detach', 'kept=3');
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /lost quorum/, refused.stderr);
      await cluster.ok(majority[0]!, 'service', 'update', '--detach', '--env-add', 'GEN=7', 'kept');
    } finally {
      await cluster.net.healAll();
    }
    await waitFor(
      async () => {
        const [svc] = await cluster.json<ServiceJson[]>(cut, 'service', 'inspect', 'kept');
        return svc?.spec.task.container.env.includes('GEN=7');
      },
      { timeoutMs: 30_000, what: 'the healed manager caught up' },
    );
  });

  it('lets a restarted worker find the leader when the manager it joined through is gone', async () => {
    const worker = (await cluster.join(3, 'worker')).id;
    const managers = [0, 1, 2].map((i) => cluster.node(i).clusterAddr).sort();
    // Its sessions named every manager, and it wrote them down.
    await waitFor(
      async () => {
        const known = (await cluster.json<{ managerAddresses: string[] }>(3, 'info'))
          .managerAddresses;
        // Thrown, so that a timeout quotes what the worker knew.
        if (JSON.stringify([...known].sort()) !== JSON.stringify(managers)) {
          throw new Error(`the worker knows ${JSON.stringify(known)}`);
        }
        return true;
      },
      { timeoutMs: 30_000, what: 'the worker knowing all three managers' },
    );
    await cluster.stopDaemon(3);
    await cluster.kill(0);
    await cluster.startDaemon(3);
    const live = await leaderHost([1, 2]);
    await waitFor(
      async () =>
        (
          await cluster.json<{ meta: { id: string }; status: { state: string } }[]>(
            live,
            'node',
            'ls',
          )
        ).find((n) => n.meta.id === worker)?.status.state === 'ready',
      { timeoutMs: 30_000, what: 'the worker back in session with the leader' },
    );
    await cluster.startDaemon(0);
  });

  it('brings a swarm that lost two of three managers for good back with --force-new-cluster', async () => {
    const survivor = await leaderHost([0, 1, 2]);
    const gone = [0, 1, 2].filter((i) => i !== survivor);
    for (const i of gone) await cluster.kill(i);
    const stuck = await cluster.orca(survivor, 'service', 'scale', '--detach', 'kept=3');
    assert.notEqual(stuck.code, 0, 'no quorum, no write');

    const out = await cluster.ok(survivor, 'swarm', 'init', '--force-new-cluster');
    assert.match(out, /is now the only manager/);
    const raft = (await info(survivor)).raft;
    assert.deepEqual(raft?.voters, [ids[survivor]]);
    // The state is kept: the service with every update, and it takes writes again.
    const [svc] = await cluster.json<ServiceJson[]>(survivor, 'service', 'inspect', 'kept');
    assert.ok(svc?.spec.task.container.env.includes('GEN=7'));
    await cluster.ok(survivor, 'service', 'scale', '--detach', 'kept=3');
    // Its tasks are placed on the one node left that is up.
    await waitFor(
      async () => {
        const tasks = await cluster.json<{ status: { state: string }; desiredState: string }[]>(
          survivor,
          'service',
          'ps',
          'kept',
        );
        return (
          tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running')
            .length === 3
        );
      },
      { timeoutMs: 60_000, what: 'three replicas running on the survivor' },
    );
  });
});
