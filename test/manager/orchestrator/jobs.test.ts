import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../../../src/api/objects.ts';
import {
  reconcileGlobalJob,
  reconcileReplicatedJob,
} from '../../../src/manager/orchestrator/index.ts';
import {
  apply,
  at,
  createdNodes,
  createdSlots,
  makeNode,
  makeService,
  makeTask,
  observe,
  taskSpec,
} from './builders.ts';

const nodes = [makeNode('n1'), makeNode('n2')];

describe('replicated job', () => {
  const job = makeService(
    { kind: 'replicated-job', totalCompletions: 5, maxConcurrent: 2 },
    { restart: { condition: 'on-failure', delayMs: 0 } },
  );

  it('runs 5 completions 2 at a time, never rerunning a completed task, and finishes at 5', () => {
    let tasks: Task[] = [];
    let now = 0;
    const batches: number[][] = [];
    for (let round = 1; round <= 4; round++) {
      const plan = reconcileReplicatedJob(job, tasks, nodes, at(now));
      assert.ok(plan.create.length <= 2, 'never more than maxConcurrent at once');
      batches.push(createdSlots(plan));
      tasks = apply(tasks, plan, at(now), `r${round}-`);
      const started = plan.create.map((_, i) => `r${round}-${i + 1}`);
      tasks = observe(tasks, started, 'running', at(++now));
      assert.deepEqual(createdSlots(reconcileReplicatedJob(job, tasks, nodes, at(now))), []);
      tasks = observe(tasks, started, 'complete', at(++now));
    }
    assert.deepEqual(batches, [[1, 2], [3, 4], [5], []]);
    const done = reconcileReplicatedJob(job, tasks, nodes, at(now));
    assert.equal(done.completed, 5);
    assert.equal(done.finished, true);
    assert.deepEqual(done.create, []);
    assert.deepEqual(done.update, []);
  });

  it('retries a failed task by the restart policy, ahead of slots not yet started', () => {
    const tasks = [
      makeTask('a', job, { slot: 1, state: 'failed', exitCode: 1, at: 3 }),
      makeTask('b', job, { slot: 2, state: 'running' }),
    ];
    const plan = reconcileReplicatedJob(job, tasks, nodes, at(3));
    assert.deepEqual(
      plan.update.map((u) => u.task.meta.id),
      ['a'],
    );
    assert.deepEqual(createdSlots(plan), [1]);
    assert.equal(plan.finished, false);
  });

  it('a new run (forceUpdate) shuts down the old run and starts over', () => {
    const rerun = {
      ...job,
      spec: { ...job.spec, task: { ...job.spec.task, forceUpdate: 1 } },
    };
    const tasks = [
      makeTask('a', job, { slot: 1, state: 'complete' }),
      makeTask('b', job, { slot: 2, state: 'running' }),
    ];
    const plan = reconcileReplicatedJob(rerun, tasks, nodes, at(5));
    assert.deepEqual(
      plan.update.map((u) => u.task.meta.id),
      ['b'],
    );
    assert.deepEqual(createdSlots(plan), [1, 2]);
    assert.equal(plan.completed, 0);
  });
});

describe('global job', () => {
  const job = makeService({ kind: 'global-job' }, { restart: { condition: 'on-failure' } });

  it('runs once per node and never again once completed', () => {
    const first = reconcileGlobalJob(job, [], nodes, at(0));
    assert.deepEqual(createdNodes(first), ['n1', 'n2']);

    const tasks = [
      makeTask('a', job, { node: 'n1', state: 'complete', exitCode: 0 }),
      makeTask('b', job, { node: 'n2', state: 'complete', exitCode: 0 }),
    ];
    const later = reconcileGlobalJob(job, tasks, nodes, at(100));
    assert.deepEqual(later.create, []);
    assert.equal(later.completed, 2);
    assert.equal(later.finished, true);
  });

  it('runs on a node that joins after the others finished', () => {
    const tasks = [
      makeTask('a', job, { node: 'n1', state: 'complete' }),
      makeTask('b', job, { node: 'n2', state: 'complete' }),
    ];
    const plan = reconcileGlobalJob(job, tasks, [...nodes, makeNode('n3')], at(100));
    assert.deepEqual(createdNodes(plan), ['n3']);
    assert.equal(plan.finished, false);
  });

  it('an old run on another spec is not counted', () => {
    const old = makeTask('a', job, { node: 'n1', state: 'complete', spec: taskSpec('old:1') });
    assert.deepEqual(createdNodes(reconcileGlobalJob(job, [old], nodes, at(1))), ['n1', 'n2']);
  });
});
