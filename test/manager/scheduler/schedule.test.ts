import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { schedule } from '../../../src/manager/scheduler/index.ts';
import { Cluster, GiB, makeNode, makeTask } from './harness.ts';

describe('spreading a service', () => {
  it('10 replicas over 3 equal nodes go 4/3/3', () => {
    const c = new Cluster().node('n1').node('n2').node('n3');
    c.replicas('web', 10);
    const plan = c.schedule();
    assert.equal(plan.assignments.length, 10);
    assert.deepEqual(c.perNode('web'), { n1: 4, n2: 3, n3: 3 });
  });

  it('tasks already running count: new replicas go where the service is thinnest', () => {
    const c = new Cluster().node('n1').node('n2').node('n3');
    c.running('web', 'n1');
    c.running('web', 'n1');
    c.replicas('web', 4);
    c.schedule();
    assert.deepEqual(c.perNode('web'), { n1: 2, n2: 2, n3: 2 });
  });

  it('a later pass sees the earlier one', () => {
    const c = new Cluster().node('n1').node('n2').node('n3');
    c.replicas('web', 2);
    c.schedule();
    c.replicas('web', 2);
    c.schedule();
    assert.deepEqual(c.perNode('web'), { n1: 2, n2: 1, n3: 1 });
    assert.equal(c.plans.length, 2);
  });

  it('--replicas-max-per-node 2: 10 replicas over 3 nodes place 6, the other 4 say why', () => {
    const c = new Cluster().node('n1').node('n2').node('n3');
    c.replicas('web', 10, { maxPerNode: 2 });
    const plan = c.schedule();
    assert.equal(plan.assignments.length, 6);
    assert.deepEqual(c.perNode('web'), { n1: 2, n2: 2, n3: 2 });
    assert.deepEqual(
      plan.unschedulable.map((u) => u.taskId),
      ['web.7', 'web.8', 'web.9', 'web.10'],
    );
    assert.deepEqual(c.reasons(), {
      'no suitable node (max replicas per node reached on 3 nodes)': 4,
    });
  });

  it('one-replica services spread over nodes too', () => {
    const c = new Cluster().node('n1').node('n2').node('n3');
    for (const svc of ['a', 'b', 'c']) c.replicas(svc, 1);
    c.schedule();
    assert.deepEqual(c.placements(), { 'a.1': 'n1', 'b.1': 'n2', 'c.1': 'n3' });
  });
});

describe('placement preferences', () => {
  it('spread=node.labels.zone splits replicas evenly over zones before nodes', () => {
    const c = new Cluster()
      .node('a1', { labels: { zone: 'a' } })
      .node('b1', { labels: { zone: 'b' } })
      .node('b2', { labels: { zone: 'b' } })
      .node('b3', { labels: { zone: 'b' } });
    c.replicas('web', 10, { spread: ['node.labels.zone'] });
    c.schedule();
    assert.deepEqual(c.perNode('web'), { a1: 5, b1: 2, b2: 2, b3: 1 });
  });

  it('nodes without the label form a group of their own', () => {
    const c = new Cluster()
      .node('a1', { labels: { zone: 'a' } })
      .node('a2', { labels: { zone: 'a' } })
      .node('x1')
      .node('x2');
    c.replicas('web', 4, { spread: ['node.labels.zone'] });
    c.schedule();
    assert.deepEqual(c.perNode('web'), { a1: 1, a2: 1, x1: 1, x2: 1 });
    c.replicas('web', 2, { spread: ['node.labels.zone'] });
    c.schedule();
    // Unlabelled nodes are one group (2 tasks), as zone a is: a 3-group split would put both
    // new tasks on the unlabelled side.
    assert.deepEqual(c.perNode('web'), { a1: 2, a2: 1, x1: 2, x2: 1 });
  });

  it('a second preference spreads within the groups of the first', () => {
    const c = new Cluster()
      .node('a1', { labels: { zone: 'a', rack: 'r1' } })
      .node('a2', { labels: { zone: 'a', rack: 'r2' } })
      .node('b1', { labels: { zone: 'b', rack: 'r1' } });
    const spread = ['node.labels.zone', 'node.labels.rack'];
    c.running('web', 'a1', { spread });
    c.running('web', 'a2', { spread });
    c.running('web', 'a2', { spread });
    for (let i = 0; i < 3; i++) c.running('web', 'b1', { spread });
    c.replicas('web', 1, { spread });
    c.schedule();
    // Zones tie at 3. Within zone a, rack r1 has 1 task to r2's 2; counted across zones r1 would
    // have 4, and the task would go to the fuller rack.
    assert.deepEqual(c.placements(), { 'web.7': 'a1' });
  });

  it('a zone whose nodes cannot take the task does not hold the others back', () => {
    const c = new Cluster()
      .node('a1', { labels: { zone: 'a' }, availability: 'drain' })
      .node('b1', { labels: { zone: 'b' } })
      .node('c1', { labels: { zone: 'c' } });
    c.replicas('web', 4, { spread: ['node.labels.zone'] });
    c.schedule();
    assert.deepEqual(c.perNode('web'), { a1: 0, b1: 2, c1: 2 });
  });
});

describe('resources', () => {
  it('reservations that fit only the bigger node all go there, until it is full', () => {
    const c = new Cluster()
      .node('small', { cpus: 2, memory: 4 * GiB })
      .node('big', { cpus: 8, memory: 16 * GiB });
    c.replicas('db', 3, { cpus: 3, memory: 2 * GiB });
    const plan = c.schedule();
    assert.deepEqual(c.perNode('db'), { small: 0, big: 2 });
    assert.deepEqual(c.reasons(), { 'no suitable node (insufficient resources on 2 nodes)': 1 });
    assert.equal(plan.unschedulable[0]?.taskId, 'db.3');
  });

  it('among nodes that fit, the one with the smaller share reserved wins', () => {
    const c = new Cluster()
      .node('n1', { cpus: 4 })
      .node('n2', { cpus: 4 })
      .node('n3', { cpus: 16 });
    c.running('batch', 'n1', { cpus: 2 });
    c.running('batch', 'n2', { cpus: 1 });
    c.running('batch', 'n3', { cpus: 8 });
    c.replicas('web', 1, { cpus: 1 });
    c.schedule();
    // After placing: n1 3/4, n2 2/4, n3 9/16 (0.5625): n2 is least reserved.
    assert.deepEqual(c.placements(), { 'web.1': 'n2' });
  });

  it('between two empty nodes, the bigger one (the task takes a smaller share of it)', () => {
    const c = new Cluster().node('n1', { cpus: 2 }).node('n2', { cpus: 8 });
    c.replicas('web', 1, { cpus: 1 });
    c.schedule();
    assert.deepEqual(c.placements(), { 'web.1': 'n2' });
  });
});

describe('nodes that take nothing', () => {
  it('a drained and a paused node get nothing', () => {
    const c = new Cluster()
      .node('n1', { availability: 'drain' })
      .node('n2', { availability: 'pause' })
      .node('n3');
    c.replicas('web', 5);
    c.schedule();
    assert.deepEqual(c.perNode('web'), { n1: 0, n2: 0, n3: 5 });
  });

  it('a down node gets nothing, and when nothing is left the reason says what is wrong', () => {
    const c = new Cluster()
      .node('n1', { state: 'down' })
      .node('n2', { state: 'disconnected' })
      .node('n3');
    c.replicas('web', 2);
    c.schedule();
    assert.deepEqual(c.perNode('web'), { n1: 0, n2: 0, n3: 2 });

    const gone = new Cluster().node('n1', { state: 'down' }).node('n2', { availability: 'drain' });
    gone.replicas('web', 1);
    gone.schedule();
    assert.deepEqual(gone.reasons(), {
      'no suitable node (1 node not ready; 1 node not available for new tasks)': 1,
    });
  });

  it('the reason counts each node under the first filter that refused it, most first', () => {
    const c = new Cluster()
      .node('n1', { labels: { zone: 'west' } })
      .node('n2', { labels: { zone: 'west' } })
      .node('n3', { labels: { zone: 'east' }, cpus: 1 })
      .node('n4', { labels: { zone: 'east' }, availability: 'drain' });
    c.replicas('web', 1, { constraints: ['node.labels.zone==east'], cpus: 2 });
    c.schedule();
    const reason =
      'no suitable node (scheduling constraints not satisfied on 2 nodes; ' +
      '1 node not available for new tasks; insufficient resources on 1 node)';
    assert.deepEqual(c.reasons(), { [reason]: 1 });
  });

  it('with no nodes at all', () => {
    const c = new Cluster();
    c.replicas('web', 1);
    c.schedule();
    assert.deepEqual(c.reasons(), { 'no suitable node (no nodes in the cluster)': 1 });
  });
});

describe('constraints', () => {
  it('only matching nodes get the service', () => {
    const c = new Cluster()
      .node('m1', { role: 'manager' })
      .node('w1', { labels: { disk: 'ssd' } })
      .node('w2', { labels: { disk: 'hdd' } })
      .node('w3');
    c.replicas('db', 4, { constraints: ['node.role==worker', 'node.labels.disk!=hdd'] });
    c.schedule();
    assert.deepEqual(c.perNode('db'), { m1: 0, w1: 2, w2: 0, w3: 2 });
  });

  it('a spec with a malformed constraint leaves its task pending with the parse error', () => {
    const c = new Cluster().node('n1');
    c.replicas('web', 1, { constraints: ['node.labels.zone=east'] });
    c.replicas('db', 1, { spread: ['node.hostname'] });
    c.schedule();
    assert.deepEqual(Object.keys(c.reasons()), [
      'invalid placement preference "spread=node.hostname": only node and engine labels can be ' +
        'spread over; expected spread=node.labels.<key> or spread=engine.labels.<key>',
      'invalid constraint "node.labels.zone=east": no operator (== or !=); expected ' +
        '<field>==<value> or <field>!=<value> with field one of node.id, node.hostname, ' +
        'node.role, node.platform.os, node.platform.arch, node.labels.<key>, engine.labels.<key>',
    ]);
  });

  it('a global-service-style call: one task pinned per node by node.id', () => {
    const c = new Cluster().node('n1').node('n2').node('n3', { state: 'down' });
    const pinned = ['n1', 'n2', 'n3'].map((id) =>
      makeTask('agent', 0, { id: `agent.${id}`, constraints: [`node.id==${id}`] }),
    );
    c.tasks.push(...pinned);
    c.schedule();
    assert.deepEqual(c.placements(), { 'agent.n1': 'n1', 'agent.n2': 'n2' });
    assert.deepEqual(c.reasons(), {
      'no suitable node (scheduling constraints not satisfied on 2 nodes; 1 node not ready)': 1,
    });
  });
});

describe('tie-breaking', () => {
  it('live usage breaks a tie between otherwise equal nodes', () => {
    const c = new Cluster()
      .node('n1', { usage: { cpuPercent: 85, memoryBytes: GiB } })
      .node('n2', { usage: { cpuPercent: 5, memoryBytes: GiB } })
      .node('n3', { usage: { cpuPercent: 10, memoryBytes: 7 * GiB } });
    c.replicas('web', 1);
    c.schedule();
    assert.deepEqual(c.placements(), { 'web.1': 'n2' });
  });

  it('usage only breaks ties: spread still comes first', () => {
    const c = new Cluster()
      .node('n1', { usage: { cpuPercent: 90, memoryBytes: 0 } })
      .node('n2', { usage: { cpuPercent: 1, memoryBytes: 0 } });
    c.replicas('web', 2);
    c.schedule();
    assert.deepEqual(c.perNode('web'), { n1: 1, n2: 1 });
  });

  it('the same input in any order gives the same plan', () => {
    const nodes = ['n3', 'n1', 'n2', 'n4'].map((id, i) =>
      makeNode(id, { labels: { zone: i % 2 === 0 ? 'a' : 'b' } }),
    );
    const pending = [
      ...Array.from({ length: 7 }, (_, i) =>
        makeTask('web', i + 1, { spread: ['node.labels.zone'] }),
      ),
      ...Array.from({ length: 3 }, (_, i) => makeTask('api', i + 1)),
    ];
    const first = schedule({ nodes, tasks: pending }, pending);
    const second = schedule(
      { nodes: [...nodes].reverse(), tasks: [...pending].reverse() },
      [...pending].reverse(),
    );
    assert.deepEqual(second, first);
    assert.deepEqual(
      first.assignments.slice(0, 3).map((a) => a.taskId),
      ['api.1', 'api.2', 'api.3'],
      'services in id order, each in slot order',
    );
  });

  it('does not modify the snapshot or the pending tasks', () => {
    const nodes = [makeNode('n1')];
    const pending = [makeTask('web', 1)];
    const before = structuredClone({ nodes, pending });
    schedule({ nodes, tasks: pending }, pending);
    assert.deepEqual({ nodes, pending }, before);
  });
});
