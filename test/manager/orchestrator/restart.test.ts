import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RestartPolicy, Task } from '../../../src/api/objects.ts';
import { reconcileReplicated } from '../../../src/manager/orchestrator/index.ts';
import {
  at,
  createdSlots,
  makeNode,
  makeService,
  makeTask,
  replicated,
  shutdowns,
} from './builders.ts';

const nodes = [makeNode('n1')];

function serviceWith(restart: Partial<RestartPolicy>) {
  return makeService(replicated(1), { restart: { delayMs: 5000, ...restart } });
}

/** Slot 1's earlier tasks, each failed at the given second and already replaced. */
function failedBefore(service: ReturnType<typeof serviceWith>, seconds: readonly number[]): Task[] {
  return seconds.map((s, i) =>
    makeTask(`old${i + 1}`, service, { slot: 1, state: 'failed', desired: 'shutdown', at: s }),
  );
}

describe('restart policy', () => {
  it('condition any: a failed task is replaced once the delay has passed', () => {
    const service = serviceWith({ condition: 'any' });
    const failed = makeTask('t1', service, { slot: 1, state: 'failed', exitCode: 1, at: 100 });

    const early = reconcileReplicated(service, [failed], nodes, at(102));
    assert.deepEqual(early.create, []);
    assert.deepEqual(early.update, []);
    assert.equal(early.wakeAt, at(105), 'asks to be woken when the delay ends');

    const due = reconcileReplicated(service, [failed], nodes, at(105));
    assert.deepEqual(shutdowns(due), ['t1']);
    assert.deepEqual(createdSlots(due), [1]);
    assert.equal(due.wakeAt, null);
  });

  it('a container stopped or removed from outside orca is replaced at once, delay or not', () => {
    const service = serviceWith({ condition: 'any', delayMs: 60_000 });
    const failed = makeTask('t1', service, { slot: 1, state: 'failed', exitCode: 137, at: 100 });
    const outside = { ...failed, status: { ...failed.status, stoppedOutside: true } };

    const plan = reconcileReplicated(service, [outside], nodes, at(100));
    assert.deepEqual(shutdowns(plan), ['t1']);
    assert.deepEqual(createdSlots(plan), [1]);
    // The same failure by the task's own process waits out the delay.
    assert.deepEqual(createdSlots(reconcileReplicated(service, [failed], nodes, at(100))), []);
  });

  it('condition any also replaces a task that exited 0', () => {
    const service = serviceWith({ condition: 'any', delayMs: 0 });
    const exited = makeTask('t1', service, { slot: 1, state: 'complete', exitCode: 0, at: 1 });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [exited], nodes, at(1))), [1]);
  });

  it('condition on-failure: replaced only when the exit code is not 0', () => {
    const service = serviceWith({ condition: 'on-failure', delayMs: 0 });
    const crashed = makeTask('t1', service, { slot: 1, state: 'failed', exitCode: 2, at: 1 });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [crashed], nodes, at(1))), [1]);
    const rejected = makeTask('t1', service, { slot: 1, state: 'rejected', at: 1 });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [rejected], nodes, at(1))), [1]);

    const exited = makeTask('t1', service, { slot: 1, state: 'complete', exitCode: 0, at: 1 });
    const plan = reconcileReplicated(service, [exited], nodes, at(100));
    assert.deepEqual(plan, { create: [], update: [], delete: [], wakeAt: null });
  });

  it('condition none: never replaced, and the slot is not refilled', () => {
    const service = serviceWith({ condition: 'none' });
    const failed = makeTask('t1', service, { slot: 1, state: 'failed', exitCode: 1, at: 1 });
    const plan = reconcileReplicated(service, [failed], nodes, at(1000));
    assert.deepEqual(plan, { create: [], update: [], delete: [], wakeAt: null });
  });

  it('max attempts 3: the fourth failure in the slot is not replaced', () => {
    const service = serviceWith({ maxAttempts: 3, delayMs: 0 });
    const third = makeTask('t3', service, { slot: 1, state: 'failed', at: 30 });
    const afterTwo = [...failedBefore(service, [10, 20]), third];
    assert.deepEqual(createdSlots(reconcileReplicated(service, afterTwo, nodes, at(30))), [1]);

    const fourth = makeTask('t4', service, { slot: 1, state: 'failed', at: 40 });
    const afterThree = [...failedBefore(service, [10, 20, 30]), fourth];
    const plan = reconcileReplicated(service, afterThree, nodes, at(40));
    assert.deepEqual(plan.create, []);
    assert.deepEqual(plan.update, []);
  });

  it('max attempts within a window: attempts older than the window do not count', () => {
    const service = serviceWith({ maxAttempts: 3, windowMs: 60_000, delayMs: 0 });
    const latest = makeTask('t9', service, { slot: 1, state: 'failed', at: 200 });
    // Three failures long ago, two within the last minute: two attempts spent, one left.
    const history = [...failedBefore(service, [10, 20, 30, 150, 180]), latest];
    assert.deepEqual(createdSlots(reconcileReplicated(service, history, nodes, at(200))), [1]);

    const crowded = [...failedBefore(service, [150, 170, 190]), latest];
    assert.deepEqual(createdSlots(reconcileReplicated(service, crowded, nodes, at(200))), []);
  });

  it('a new spec version starts the attempt count afresh', () => {
    const service = makeService(replicated(1), {
      version: 2,
      restart: { maxAttempts: 1, delayMs: 0 },
    });
    const old = makeTask('old', service, {
      slot: 1,
      state: 'failed',
      desired: 'shutdown',
      at: 10,
      version: 1,
    });
    const failed = makeTask('t1', service, { slot: 1, state: 'failed', at: 20 });
    assert.deepEqual(createdSlots(reconcileReplicated(service, [old, failed], nodes, at(20))), [1]);
  });

  it('tasks the orchestrator shut down are not attempts', () => {
    const service = serviceWith({ maxAttempts: 1, delayMs: 0 });
    const scaledAway = makeTask('old', service, {
      slot: 1,
      state: 'shutdown',
      desired: 'shutdown',
      at: 10,
    });
    const failed = makeTask('t1', service, { slot: 1, state: 'failed', at: 20 });
    const plan = reconcileReplicated(service, [scaledAway, failed], nodes, at(20));
    assert.deepEqual(createdSlots(plan), [1]);
  });
});
