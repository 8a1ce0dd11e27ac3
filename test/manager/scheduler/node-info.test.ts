import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildNodeInfos } from '../../../src/manager/scheduler/node-info.ts';
import { GiB, makeNode, makeTask } from './harness.ts';

describe('node accounting', () => {
  const nodes = [makeNode('n2', { cpus: 4, memory: 8 * GiB }), makeNode('n1')];

  it('counts the tasks holding a node, their reservations and tasks per service', () => {
    const tasks = [
      makeTask('web', 1, { nodeId: 'n1', cpus: 1, memory: GiB }),
      makeTask('web', 2, { nodeId: 'n1', cpus: 0.5 }),
      makeTask('db', 1, { nodeId: 'n1', memory: 2 * GiB, state: 'assigned' }),
      makeTask('db', 2, { nodeId: 'n2', memory: GiB }),
      makeTask('db', 3, { nodeId: 'gone' }),
      makeTask('db', 4),
    ];
    const [n1, n2] = buildNodeInfos(nodes, tasks);
    assert.equal(n1?.id, 'n1', 'nodes are in id order');
    assert.deepEqual([...n1!.tasks.keys()], ['web.1', 'web.2', 'db.1']);
    assert.deepEqual(n1!.reserved, { nanoCpus: 1.5e9, memoryBytes: 3 * GiB });
    assert.equal(n1!.fits({ nanoCpus: 2.5e9, memoryBytes: 5 * GiB }), true);
    assert.equal(n1!.fits({ nanoCpus: 2.6e9, memoryBytes: 0 }), false);
    assert.equal(n1!.fits({ nanoCpus: 0, memoryBytes: 5.1 * GiB }), false);
    assert.equal(n1!.tasksOfService('web'), 2);
    assert.equal(n1!.tasksOfService('db'), 1);
    assert.equal(n1!.tasksOfService('cache'), 0);
    assert.equal(n2!.tasksOfService('db'), 1);
  });

  it('leaves out tasks meant to stop and tasks that have stopped', () => {
    const tasks = [
      makeTask('web', 1, { nodeId: 'n1', desiredState: 'shutdown', cpus: 1 }),
      makeTask('web', 2, { nodeId: 'n1', state: 'failed', cpus: 1 }),
      makeTask('web', 3, { nodeId: 'n1', state: 'complete', cpus: 1 }),
      makeTask('web', 4, { nodeId: 'n1', desiredState: 'remove', cpus: 1 }),
      makeTask('web', 5, { nodeId: 'n1', state: 'starting', cpus: 1 }),
    ];
    const n1 = buildNodeInfos(nodes, tasks).find((n) => n.id === 'n1')!;
    assert.deepEqual([...n1.tasks.keys()], ['web.5']);
    assert.equal(n1.reserved.nanoCpus, 1e9);
  });

  it('skips the tasks about to be scheduled and never counts a task twice', () => {
    const task = makeTask('web', 1, { nodeId: 'n1', cpus: 1 });
    const [n1] = buildNodeInfos([makeNode('n1')], [task], new Set(['web.1']));
    assert.equal(n1!.tasks.size, 0);
    n1!.addTask(task);
    n1!.addTask(task);
    assert.equal(n1!.tasksOfService('web'), 1);
    assert.equal(n1!.reserved.nanoCpus, 1e9);
  });
});
