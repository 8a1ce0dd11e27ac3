import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconcileReplicated } from '../../../src/manager/orchestrator/index.ts';
import {
  at,
  createdSlots,
  global,
  makeNode,
  makeService,
  makeTask,
  replicated,
  runningSlots,
  shutdowns,
} from './builders.ts';

const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

describe('replicated orchestrator', () => {
  it('scales up from 0 to 3 by creating slots 1..3, pending and unassigned', () => {
    const service = makeService(replicated(3), { version: 4 });
    const plan = reconcileReplicated(service, [], nodes, at(0));
    assert.deepEqual(createdSlots(plan), [1, 2, 3]);
    for (const task of plan.create) {
      assert.equal(task.desiredState, 'running');
      assert.equal(task.status.state, 'pending');
      assert.equal(task.nodeId, '');
      assert.equal(task.serviceVersion, 4);
      assert.deepEqual(task.spec, service.spec.task);
    }
    assert.deepEqual(plan.update, []);
    assert.equal(plan.wakeAt, null);
  });

  it('leaves a converged service alone', () => {
    const service = makeService(replicated(3));
    const plan = reconcileReplicated(service, runningSlots(service, 3), nodes, at(10));
    assert.deepEqual(plan, { create: [], update: [], delete: [], wakeAt: null });
  });

  it('scales 5 down to 2 by shutting down slots 5, 4 and 3, highest first', () => {
    const service = makeService(replicated(2));
    const plan = reconcileReplicated(service, runningSlots(service, 5), nodes, at(10));
    assert.deepEqual(shutdowns(plan), ['t5', 't4', 't3']);
    assert.ok(
      plan.update.every((u) => u.desiredState === 'shutdown' && u.reason === 'scaled down'),
    );
    assert.deepEqual(plan.create, []);
  });

  it('fills a slot again only once its old task has stopped', () => {
    const service = makeService(replicated(1));
    const stopping = makeTask('old', service, { slot: 1, desired: 'shutdown' });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [stopping], nodes, at(1))), []);
    const stopped = makeTask('old', service, { slot: 1, desired: 'shutdown', state: 'shutdown' });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [stopped], nodes, at(2))), [1]);
  });

  it('replaces a task on a down node at once, without waiting for it to stop', () => {
    const service = makeService(replicated(3));
    const down = [makeNode('n1', { state: 'down' }), makeNode('n2'), makeNode('n3')];
    const plan = reconcileReplicated(service, runningSlots(service, 3), down, at(10));
    assert.deepEqual(shutdowns(plan), ['t1']);
    assert.equal(plan.update[0]!.reason, 'node is down');
    assert.deepEqual(createdSlots(plan), [1]);
  });

  it('replaces the tasks of a drained node, and of a removed one', () => {
    const service = makeService(replicated(3));
    const drained = [makeNode('n1'), makeNode('n2', { availability: 'drain' })];
    const plan = reconcileReplicated(service, runningSlots(service, 3), drained, at(10));
    assert.deepEqual(shutdowns(plan), ['t2', 't3']);
    assert.deepEqual(
      plan.update.map((u) => u.reason),
      ['node is drained', 'node removed from the cluster'],
    );
    assert.deepEqual(createdSlots(plan), [2, 3]);
  });

  it('keeps the tasks of a paused node', () => {
    const service = makeService(replicated(3));
    const paused = [makeNode('n1', { availability: 'pause' }), makeNode('n2'), makeNode('n3')];
    const plan = reconcileReplicated(service, runningSlots(service, 3), paused, at(10));
    assert.deepEqual(plan.update, []);
    assert.deepEqual(plan.create, []);
  });

  it('refuses a service of another mode', () => {
    assert.throws(() => reconcileReplicated(makeService(global), [], nodes, at(0)), {
      name: 'ServiceModeError',
    });
  });
});
