import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service } from '../../../src/api/objects.ts';
import { planUpdate, reconcileReplicated } from '../../../src/manager/orchestrator/index.ts';
import { runsSpec } from '../../../src/manager/orchestrator/task-state.ts';
import {
  apply,
  at,
  makeNode,
  makeService,
  observe,
  replicated,
  runningSlots,
  shutdowns,
} from './builders.ts';

// Networks are part of the task spec: they reach the tasks unchanged, and changing them
// replaces the tasks, as in Swarm (a container cannot change networks in place under orca).

const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

function attached(service: Service, targets: string[], version: number): Service {
  return {
    ...service,
    meta: { ...service.meta, version },
    spec: {
      ...service.spec,
      task: { ...service.spec.task, networks: targets.map((target) => ({ target })) },
    },
    previousSpec: service.spec,
  };
}

describe('orchestrator and networks', () => {
  it('creates tasks with the networks of the service spec', () => {
    const service = attached(makeService(replicated(2)), ['net-a', 'net-b'], 1);
    const plan = reconcileReplicated(service, [], nodes, at(0));
    assert.equal(plan.create.length, 2);
    for (const task of plan.create) {
      assert.deepEqual(task.spec.networks, [{ target: 'net-a' }, { target: 'net-b' }]);
    }
  });

  it('keeps tasks that run the same networks, and replaces them when one is added', () => {
    const before = attached(makeService(replicated(3)), ['net-a'], 1);
    const tasks = runningSlots(before, 3);
    assert.ok(tasks.every((t) => runsSpec(t, before)));
    assert.deepEqual(planUpdate(before, tasks, nodes, at(10)).plan.update, []);

    const after = attached(before, ['net-a', 'net-b'], 2);
    assert.ok(tasks.every((t) => !runsSpec(t, after)));
    const decision = planUpdate(after, tasks, nodes, at(10));
    const stopped = shutdowns(decision.plan);
    assert.equal(stopped.length, 1, 'parallelism 1: one task at a time');
    // Stop-first: once the old task has stopped, its slot is filled with the new spec.
    const next = observe(apply(tasks, decision.plan, at(10)), stopped, 'shutdown', at(11));
    const fill = reconcileReplicated(after, next, nodes, at(12));
    assert.equal(fill.create.length, 1);
    assert.deepEqual(fill.create[0]?.spec.networks, [{ target: 'net-a' }, { target: 'net-b' }]);
  });
});
