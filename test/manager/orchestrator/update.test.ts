import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Service, Task, UpdateConfig } from '../../../src/api/objects.ts';
import { planUpdate, reconcileReplicated } from '../../../src/manager/orchestrator/index.ts';
import {
  apply,
  at,
  global,
  iso,
  makeNode,
  makeService,
  makeTask,
  replicated,
  runningSlots,
  type ServiceOptions,
  t0,
} from './builders.ts';

const nodes = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

/** Six replicas running nginx:1, the service just updated to `image` (version 2). */
function updatedService(update: Partial<UpdateConfig>, o: ServiceOptions = {}) {
  const before = makeService(replicated(6), { version: 1 });
  const service = makeService(replicated(6), {
    version: 2,
    image: 'nginx:2',
    previousImage: 'nginx:1',
    update: { parallelism: 2, delayMs: 10_000, monitorMs: 5000, ...update },
    restart: { delayMs: 5000 },
    ...o,
  });
  return { service, tasks: runningSlots(before, 6) };
}

interface Pass {
  readonly second: number;
  /** Slots whose old task this pass shut down (by the update, not the restart policy). */
  readonly stopped: number[];
  readonly created: number[];
  readonly state: string | undefined;
}

/**
 * Runs the loop once a second: the replicated and update decisions on the same snapshot, both
 * plans applied, then the worker moves every task one step (stops what should stop, starts
 * what was created, failing those `fails` picks). A rollback swaps the specs as the loop will.
 */
function simulate(
  start: { service: Service; tasks: Task[] },
  seconds: number,
  fails: (task: Task) => boolean = () => false,
): { passes: Pass[]; service: Service; tasks: Task[] } {
  let { service, tasks } = start;
  const passes: Pass[] = [];
  for (let second = 100; second < 100 + seconds; second++) {
    const now = at(second);
    const decision = planUpdate(service, tasks, nodes, now);
    const fill = reconcileReplicated(service, tasks, nodes, now);
    tasks = apply(tasks, fill, now, `s${second}r`);
    tasks = apply(tasks, decision.plan, now, `s${second}u`);
    passes.push({
      second,
      stopped: decision.plan.update
        .filter((u) => u.reason === 'updating to the new spec')
        .map((u) => u.task.slot),
      created: [...fill.create, ...decision.plan.create].map((t) => t.slot),
      state: decision.updateStatus?.state,
    });
    service = { ...service, updateStatus: decision.updateStatus };
    if (decision.rollBack) {
      service = {
        ...service,
        meta: { ...service.meta, version: service.meta.version + 1 },
        spec: service.previousSpec!,
        previousSpec: service.spec,
      };
    }
    tasks = work(tasks, now, fails);
  }
  return { passes, service, tasks };
}

function work(tasks: readonly Task[], now: number, fails: (task: Task) => boolean): Task[] {
  const timestamp = new Date(now).toISOString();
  return tasks.map((task): Task => {
    const move = (state: Task['status']['state']): Task => ({
      ...task,
      nodeId: task.nodeId === '' ? 'n1' : task.nodeId,
      status: { ...task.status, state, timestamp },
    });
    if (task.desiredState === 'shutdown' && task.status.state === 'running')
      return move('shutdown');
    if (task.desiredState === 'running' && task.status.state === 'pending') {
      return move(fails(task) ? 'failed' : 'running');
    }
    return task;
  });
}

const wanted = (tasks: readonly Task[]) => tasks.filter((t) => t.desiredState === 'running');
const images = (tasks: readonly Task[]) =>
  wanted(tasks)
    .map((t) => `${t.slot}:${t.spec.container.image}:${t.status.state}`)
    .sort();
const allOn = (image: string) =>
  [1, 2, 3, 4, 5, 6].map((slot) => `${slot}:${image}:running`).sort();
const newImage = (task: Task) => task.spec.container.image === 'nginx:2';

describe('rolling update', () => {
  it('stop-first, parallelism 2: batches of 2, each after the last is running plus the delay', () => {
    const run = simulate(updatedService({ order: 'stop-first' }), 40);
    const batches = run.passes.filter((p) => p.stopped.length > 0);
    assert.deepEqual(
      batches.map((p) => [p.second, p.stopped]),
      [
        // Stopped at 100, refilled at 101, running at 101: the next batch waits until 111.
        [100, [1, 2]],
        [111, [3, 4]],
        [122, [5, 6]],
      ],
    );
    // Each old task was stopped before its slot got a new one.
    assert.deepEqual(
      run.passes.filter((p) => p.created.length > 0).map((p) => [p.second, p.created]),
      [
        [101, [1, 2]],
        [112, [3, 4]],
        [123, [5, 6]],
      ],
    );
    // The last batch ran at 123; the monitor period ends at 128.
    const done = run.passes.find((p) => p.state === 'completed')!;
    assert.equal(done.second, 128);
    assert.equal(run.service.updateStatus?.completedAt, iso(128));
    assert.deepEqual(images(run.tasks), allOn('nginx:2'));
  });

  it('starts the update with status updating on the first pass', () => {
    const { service, tasks } = updatedService({});
    const decision = planUpdate(service, tasks, nodes, at(100));
    assert.deepEqual(decision.updateStatus, {
      state: 'updating',
      startedAt: iso(100),
      message: 'update in progress',
    });
  });

  it('waits for the delay with a wakeAt, not a busy loop', () => {
    const run = simulate(updatedService({}), 3);
    const decision = planUpdate(run.service, run.tasks, nodes, at(103));
    assert.deepEqual(decision.plan.update, []);
    assert.equal(decision.plan.wakeAt, at(111));
  });

  it('start-first: the new task starts before the old one stops', () => {
    const start = updatedService({ order: 'start-first', delayMs: 0 });
    const first = simulate(start, 1);
    assert.deepEqual(first.passes[0]!.created, [1, 2], 'new tasks created while the old ones run');
    assert.deepEqual(first.passes[0]!.stopped, []);
    const slot1 = wanted(first.tasks).filter((t) => t.slot === 1);
    assert.deepEqual(
      slot1.map((t) => `${t.spec.container.image}:${t.status.state}`).sort(),
      ['nginx:1:running', 'nginx:2:running'],
      'for a moment both run side by side',
    );

    const second = planUpdate(first.service, first.tasks, nodes, at(101));
    assert.deepEqual(
      second.plan.update.map((u) => [u.task.slot, u.task.spec.container.image, u.reason]),
      [
        [1, 'nginx:1', 'updated: replaced by a running task'],
        [2, 'nginx:1', 'updated: replaced by a running task'],
      ],
    );
    assert.deepEqual(
      second.plan.create.map((t) => t.slot),
      [3, 4],
      'with no delay the next batch starts as the old ones go',
    );

    const done = simulate(start, 20);
    assert.deepEqual(images(done.tasks), allOn('nginx:2'));
    assert.equal(done.service.updateStatus?.state, 'completed');
  });

  it('failure action pause: a failing new task pauses the update with a message', () => {
    const run = simulate(updatedService({ failureAction: 'pause' }), 30, newImage);
    const paused = run.service.updateStatus!;
    assert.equal(paused.state, 'paused');
    assert.match(
      paused.message,
      /^update paused due to failure or early termination of task s101r/,
    );
    // Only the first batch was touched: slots 3..6 still run nginx:1.
    const untouched = wanted(run.tasks).filter((t) => t.slot > 2);
    assert.ok(untouched.every((t) => t.spec.container.image === 'nginx:1'));
    const later = planUpdate(run.service, run.tasks, nodes, at(500));
    assert.deepEqual(later.plan.update, []);
    assert.equal(later.updateStatus, paused);
  });

  it("failure action rollback: rollback_started, then the previous spec's tasks everywhere", () => {
    const start = updatedService(
      { failureAction: 'rollback' },
      { rollback: { parallelism: 0, delayMs: 0, monitorMs: 1000 } },
    );
    const failing = simulate(start, 3, newImage);
    const rolled = failing.passes.find((p) => p.state === 'rollback_started')!;
    assert.equal(rolled.second, 102);
    assert.equal(failing.service.spec.task.container.image, 'nginx:1');
    assert.match(failing.service.updateStatus!.message, /^update rolled back due to failure/);

    const run = simulate(start, 40, newImage);
    assert.equal(run.service.updateStatus?.state, 'rollback_completed');
    assert.deepEqual(images(run.tasks), allOn('nginx:1'));
  });

  it('failure action continue: carries on past a failure', () => {
    let failures = 0;
    const failOnce = (task: Task) => newImage(task) && failures++ === 0;
    const run = simulate(updatedService({ failureAction: 'continue', delayMs: 0 }), 40, failOnce);
    assert.equal(run.service.updateStatus?.state, 'completed');
    assert.deepEqual(images(run.tasks), allOn('nginx:2'));
  });

  it('max failure ratio 0.5 tolerates one failure in 6', () => {
    let failures = 0;
    const failOnce = (task: Task) => newImage(task) && failures++ === 0;
    const start = updatedService({ failureAction: 'pause', maxFailureRatio: 0.5, delayMs: 0 });
    const run = simulate(start, 40, failOnce);
    assert.equal(run.service.updateStatus?.state, 'completed');
    assert.deepEqual(images(run.tasks), allOn('nginx:2'));

    const strict = simulate(
      updatedService({ failureAction: 'pause', maxFailureRatio: 0, delayMs: 0 }),
      40,
      (task) => newImage(task) && task.meta.id === 's101r1',
    );
    assert.equal(strict.service.updateStatus?.state, 'paused');
  });

  it('forceUpdate counts as a change', () => {
    const base = makeService(replicated(2), { version: 1 });
    const forced = {
      ...base,
      meta: { ...base.meta, version: 2 },
      spec: { ...base.spec, task: { ...base.spec.task, forceUpdate: 1 } },
    };
    const decision = planUpdate(forced, runningSlots(base, 2), nodes, at(0));
    assert.equal(decision.updateStatus?.state, 'updating');
    assert.deepEqual(
      decision.plan.update.map((u) => u.task.slot),
      [1],
    );
  });

  it('a service whose tasks all run its spec has nothing to update', () => {
    const service = makeService(replicated(3));
    const decision = planUpdate(service, runningSlots(service, 3), nodes, t0);
    assert.equal(decision.updateStatus, null);
    assert.deepEqual(decision.plan.update, []);
  });

  it('a global service updates node by node, start-first on the same node', () => {
    const before = makeService(global, { version: 1 });
    const service = makeService(global, {
      version: 2,
      image: 'nginx:2',
      update: { parallelism: 1, order: 'start-first' },
    });
    const tasks = ['n1', 'n2'].map((n) => makeTask(`t-${n}`, before, { node: n }));
    const decision = planUpdate(service, tasks, nodes, at(0));
    assert.deepEqual(
      decision.plan.create.map((t) => [t.nodeId, t.slot, t.spec.container.image]),
      [['n1', 0, 'nginx:2']],
    );
    assert.deepEqual(decision.plan.update, []);
  });

  it('jobs are not rolled', () => {
    const job = makeService({ kind: 'global-job' }, { version: 2, image: 'nginx:2' });
    const old = makeService({ kind: 'global-job' });
    const decision = planUpdate(job, [makeTask('a', old, { node: 'n1' })], nodes, at(0));
    assert.equal(decision.updateStatus, null);
    assert.deepEqual(decision.plan.create, []);
  });
});
