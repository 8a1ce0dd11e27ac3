// The task controller without an engine: a small in-memory Runtime records the calls and
// answers what each test sets up, so every transition and error path is exercised in
// milliseconds. The same controller runs against Docker in agent.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskState, TaskStatus } from '../../src/api/objects.ts';
import { RuntimeError } from '../../src/errors.ts';
import {
  type AssignedTask,
  decide,
  forward,
  observe,
  recover,
  TaskController,
} from '../../src/worker/task-controller.ts';
import { FakeRuntime, containerInfo as info } from './fake-runtime.ts';

function task(
  over: { desiredState?: TaskState; image?: string; stopSignal?: string } = {},
): AssignedTask {
  return {
    meta: { id: 't1', version: 1, createdAt: '', updatedAt: '' },
    serviceId: 's1',
    serviceName: 'web',
    slot: 1,
    nodeId: 'n1',
    serviceVersion: 1,
    desiredState: over.desiredState ?? 'running',
    status: status('assigned'),
    spec: {
      container: {
        image: over.image ?? 'busybox',
        env: [],
        labels: {},
        init: true,
        stopGracePeriodMs: 3_000,
        mounts: [],
        ...(over.stopSignal === undefined ? {} : { stopSignal: over.stopSignal }),
      },
      resources: {
        limits: { nanoCpus: 0, memoryBytes: 0 },
        reservations: { nanoCpus: 0, memoryBytes: 0 },
      },
      restart: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], maxReplicasPerNode: 0 },
      forceUpdate: 0,
    },
  };
}

function status(state: TaskState, over: Partial<TaskStatus> = {}): TaskStatus {
  return { state, message: state, timestamp: '2020-01-01T00:00:00.000Z', ...over };
}

/** A clock that moves one second per reading, so each new status has its own timestamp. */
function ticking(): () => Date {
  let t = Date.parse('2030-01-01T00:00:00Z');
  return () => {
    t += 1_000;
    return new Date(t);
  };
}

function setup(opts: { maxTemporaryFailures?: number } = {}) {
  const rt = new FakeRuntime();
  const ctl = new TaskController({ runtime: rt, clock: ticking(), ...opts });
  return { rt, ctl };
}

/** Steps until the status stops changing (or `max` steps), returning every status seen. */
async function drive(
  ctl: TaskController,
  t: AssignedTask,
  from: TaskStatus,
  max = 20,
): Promise<TaskStatus[]> {
  const seen = [from];
  let current = from;
  for (let i = 0; i < max; i++) {
    const next = await ctl.step(t, current);
    if (next === current) break;
    seen.push(next);
    current = next;
  }
  return seen;
}

const states = (seen: TaskStatus[]): TaskState[] => seen.map((s) => s.state);
const last = (seen: TaskStatus[]): TaskStatus => seen.at(-1)!;

describe('task controller', () => {
  it('moves a new task to running, one state and at most one runtime call per step', async () => {
    const { rt, ctl } = setup();
    const t = task();
    let s = status('new');
    const trail: [TaskState, string, number][] = [];
    for (let i = 0; i < 6; i++) {
      const before = rt.calls.length;
      s = await ctl.step(t, s);
      trail.push([s.state, s.message, rt.calls.length - before]);
    }
    assert.deepEqual(trail, [
      ['accepted', 'accepted', 0],
      ['preparing', 'preparing', 0],
      ['starting', 'starting', 1],
      ['starting', 'created', 1],
      ['running', 'started', 1],
      ['running', 'started', 1],
    ]);
    assert.deepEqual(
      rt.calls.map((c) => c[0]),
      ['ensureImage', 'create', 'start', 'inspect'],
    );
    assert.equal(s.containerId, 'c1');
    assert.equal(rt.containers.get('c1')?.state, 'running');
  });

  it('gives every new state its own timestamp from the clock', async () => {
    const { ctl } = setup();
    const seen = await drive(ctl, task(), status('pending'));
    assert.deepEqual(states(seen), [
      'pending',
      'accepted',
      'preparing',
      'starting',
      'starting',
      'running',
    ]);
    const stamps = seen.map((s) => s.timestamp);
    assert.equal(stamps[1], '2030-01-01T00:00:01.000Z');
    // 'created' stays in starting: the time the task entered the state is kept.
    assert.equal(stamps[4], stamps[3]);
    assert.equal(new Set(stamps).size, 5);
  });

  it('keeps a health-checked task starting until it is healthy, as Swarm', async () => {
    const { rt, ctl } = setup();
    rt.imageHealthcheck = true;
    rt.healthOnStart = 'starting';
    const t = task();
    const seen = await drive(ctl, t, status('preparing'));
    const waiting = last(seen);
    assert.equal(waiting.state, 'starting');
    assert.equal(waiting.health, 'starting');
    assert.equal(ctl.next(t, waiting).kind, 'watch');
    // Still starting on the next look: nothing moves.
    assert.equal(await ctl.step(t, waiting), waiting);
    rt.setHealth('c1', 'healthy');
    const running = await ctl.step(t, waiting);
    assert.equal(running.state, 'running');
    assert.equal(running.health, 'healthy');
  });

  it("learns of a health check from the image, unless the spec's NONE turns it off", async () => {
    const { rt, ctl } = setup();
    rt.imageHealthcheck = true;
    rt.healthOnStart = 'starting';
    const off = task();
    const none = {
      ...off,
      spec: {
        ...off.spec,
        container: {
          ...off.spec.container,
          healthcheck: {
            test: ['NONE'],
            intervalMs: 0,
            timeoutMs: 0,
            retries: 0,
            startPeriodMs: 0,
          },
        },
      },
    };
    const end = last(await drive(ctl, none, status('preparing')));
    assert.equal(end.state, 'running');
  });

  it('looks at the container it starts when it did not prepare the task (a restart)', async () => {
    const { rt, ctl } = setup();
    rt.healthOnStart = 'starting';
    rt.containers.set('c7', info('c7', { state: 'created' }));
    const waiting = await ctl.step(task(), status('starting', { containerId: 'c7' }));
    assert.equal(waiting.state, 'starting');
    assert.equal(waiting.health, 'starting');
    assert.deepEqual(
      rt.calls.map((c) => c[0]),
      ['start', 'inspect'],
    );
  });

  it('fails a task whose container turns unhealthy before it was ever healthy', async () => {
    const { rt, ctl } = setup();
    rt.imageHealthcheck = true;
    rt.healthOnStart = 'starting';
    const t = task();
    const waiting = last(await drive(ctl, t, status('preparing')));
    rt.setHealth('c1', 'unhealthy');
    const failed = await ctl.step(t, waiting);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.message, 'task: unhealthy container');
    assert.equal(rt.containers.get('c1')?.state, 'exited', 'the unhealthy container is stopped');
  });

  it('rejects a task whose image is missing, with the message', async () => {
    const { ctl } = setup();
    const seen = await drive(ctl, task({ image: 'nope:1' }), status('assigned'));
    const end = last(seen);
    assert.equal(end.state, 'rejected');
    assert.match(end.message, /image nope:1 is not on this node.*manifest unknown/);
    assert.equal(end.err, end.message);
    // Terminal: nothing more happens.
    assert.equal(await ctl.step(task({ image: 'nope:1' }), end), end);
  });

  it('retries a temporary error on the same step, status unchanged', async () => {
    const { rt, ctl } = setup();
    const t = task();
    const starting = status('starting');
    rt.fail('create', new RuntimeError('engine unreachable', { temporary: true }));
    await assert.rejects(ctl.step(t, starting), { name: 'RuntimeError', temporary: true });
    const created = await ctl.step(t, starting);
    assert.equal(created.message, 'created');
    assert.deepEqual(
      rt.calls.map((c) => c[0]),
      ['create', 'create'],
    );
  });

  it('turns a temporary error that keeps repeating into rejected', async () => {
    const { rt, ctl } = setup({ maxTemporaryFailures: 2 });
    const t = task();
    const s = status('starting', { containerId: 'c9' });
    rt.containers.set('c9', info('c9', { state: 'created' }));
    const err = () =>
      new RuntimeError('start container c9: unable to find user nobody', {
        temporary: true,
        status: 500,
      });
    rt.fail('start', err(), err(), err());
    await assert.rejects(ctl.step(t, s));
    await assert.rejects(ctl.step(t, s));
    const end = await ctl.step(t, s);
    assert.equal(end.state, 'rejected');
    assert.match(end.message, /unable to find user/);
  });

  it('rejects on a fatal error while starting', async () => {
    const { rt, ctl } = setup();
    rt.fail(
      'start',
      new RuntimeError('start container c1: exec: "nope": not found', {
        temporary: false,
        status: 400,
      }),
    );
    const seen = await drive(ctl, task(), status('preparing'));
    assert.deepEqual(states(seen), ['preparing', 'starting', 'starting', 'rejected']);
    assert.match(last(seen).message, /exec: "nope": not found/);
    assert.equal(last(seen).containerId, 'c1');
  });

  it('completes on exit 0 and fails with the code otherwise', async () => {
    for (const [code, state, message] of [
      [0, 'complete', 'finished'],
      [1, 'failed', 'task: non-zero exit (1)'],
    ] as const) {
      const { rt, ctl } = setup();
      const t = task();
      const running = last(await drive(ctl, t, status('accepted')));
      assert.equal(running.state, 'running');
      rt.exit(running.containerId!, code);
      const end = await ctl.step(t, running);
      assert.equal(end.state, state);
      assert.equal(end.message, message);
      assert.equal(end.exitCode, code);
      assert.equal(end.containerId, running.containerId);
    }
  });

  it('says when a stop came from outside orca, unless the signal does not stop by default', async () => {
    for (const [signal, stopSignal, outside] of [
      ['15', undefined, true],
      ['9', undefined, true],
      ['1', undefined, false],
      ['1', 'SIGHUP', true],
      ['10', 'USR1', true],
    ] as const) {
      const { rt, ctl } = setup();
      const t = task(stopSignal === undefined ? {} : { stopSignal });
      const running = last(await drive(ctl, t, status('accepted')));
      ctl.noteKill(t, running, signal);
      rt.exit(running.containerId!, 143);
      const end = await ctl.step(t, running);
      assert.equal(end.state, 'failed');
      assert.equal(end.stoppedOutside, outside ? true : undefined, `signal ${signal}`);
      assert.equal(
        end.message,
        outside
          ? `task: non-zero exit (143): stopped from outside orca (signal ${signal})`
          : 'task: non-zero exit (143)',
      );
      assert.equal(end.err, end.message);
    }
  });

  it('takes no signal for a task it is stopping itself as a stop from outside', async () => {
    const { rt, ctl } = setup();
    const t = task();
    const running = last(await drive(ctl, t, status('accepted')));
    const stopping = { ...t, desiredState: 'shutdown' as const };
    ctl.noteKill(stopping, running, '15');
    rt.exit(running.containerId!, 143);
    const end = await ctl.step(t, running);
    assert.equal(end.stoppedOutside, undefined);
  });

  it('fails an unhealthy container and stops it', async () => {
    const { rt, ctl } = setup();
    const t = task({ stopSignal: 'SIGINT' });
    rt.containers.set('c7', info('c7', { health: 'starting' }));
    const running = status('running', { containerId: 'c7' });
    const starting = await ctl.step(t, running);
    assert.equal(starting.health, 'starting');
    assert.equal(starting.timestamp, running.timestamp);
    rt.containers.set('c7', info('c7', { health: 'unhealthy' }));
    const end = await ctl.step(t, starting);
    assert.equal(end.state, 'failed');
    assert.equal(end.message, 'task: unhealthy container');
    assert.deepEqual(rt.calls.at(-1), ['stop', 'c7', 3_000, 'SIGINT']);
  });

  it('fails a task whose container was removed behind its back', async () => {
    const { rt, ctl } = setup();
    const t = task();
    const running = last(await drive(ctl, t, status('new')));
    rt.containers.clear();
    const end = await ctl.step(t, running);
    assert.equal(end.state, 'failed');
    assert.equal(end.message, 'task: container removed');
    assert.equal(end.stoppedOutside, true);
  });

  it('stops on desired shutdown with the grace and signal, and removes on desired remove', async () => {
    const { rt, ctl } = setup();
    const t = task();
    const running = last(await drive(ctl, t, status('new')));
    const id = running.containerId!;
    const down = task({ desiredState: 'shutdown', stopSignal: 'SIGQUIT' });
    const seen = await drive(ctl, down, running);
    assert.deepEqual(states(seen), ['running', 'shutdown']);
    assert.equal(last(seen).message, 'shutdown');
    assert.deepEqual(rt.calls.at(-1), ['stop', id, 3_000, 'SIGQUIT']);
    assert.equal(rt.containers.get(id)?.state, 'exited', 'stopped, kept for its logs');

    const gone = task({ desiredState: 'remove' });
    const after = await drive(ctl, gone, last(seen));
    assert.deepEqual(states(after), ['shutdown'], 'removing changes no status');
    assert.deepEqual(rt.calls.at(-1), ['remove', id]);
    assert.equal(rt.containers.has(id), false);
    assert.deepEqual(ctl.next(gone, last(seen)), { kind: 'idle' });
  });

  it('shuts down a task that has no container yet without a runtime call', async () => {
    const { rt, ctl } = setup();
    const end = await ctl.step(task({ desiredState: 'remove' }), status('preparing'));
    assert.equal(end.state, 'shutdown');
    assert.deepEqual(rt.calls, []);
  });

  it('leaves a finished task alone on desired shutdown, but removes it on desired remove', () => {
    const failed = status('failed', { containerId: 'c1' });
    assert.deepEqual(decide(task({ desiredState: 'shutdown' }), failed), { kind: 'idle' });
    assert.deepEqual(decide(task({ desiredState: 'remove' }), failed), {
      kind: 'remove',
      containerId: 'c1',
    });
    assert.deepEqual(decide(task({ desiredState: 'remove' }), failed, true), { kind: 'idle' });
  });

  it('never moves a status backwards', async () => {
    const running = status('running', { containerId: 'c1' });
    assert.equal(forward(running, status('starting')), running);
    const failed = status('failed');
    assert.equal(forward(running, failed), failed);
    // A failure while stopping does not undo a completed task.
    const { rt, ctl } = setup();
    const complete = status('complete', { containerId: 'c1' });
    rt.containers.set('c1', info('c1', { state: 'exited', exitCode: 0 }));
    assert.equal(await ctl.step(task({ desiredState: 'shutdown' }), complete), complete);
    // A recovered container never drags a later status back.
    assert.equal(recover(complete, info('c1'), new Date()), complete);
  });

  it('recovers the status of an adopted container', () => {
    const now = new Date('2030-01-01T00:00:00Z');
    assert.deepEqual(recover(status('assigned'), info('c3'), now), {
      state: 'running',
      message: 'started',
      timestamp: now.toISOString(),
      containerId: 'c3',
    });
    const created = recover(status('preparing'), info('c4', { state: 'created' }), now);
    assert.equal(created.state, 'starting');
    assert.equal(created.containerId, 'c4');
    const known = recover(status('running'), info('c5'), now);
    assert.equal(known.containerId, 'c5');
  });

  it('observes exits with the engine error or an OOM kill in the message', () => {
    const now = new Date();
    const s = status('running', { containerId: 'c1' });
    const oom = observe(s, info('c1', { state: 'exited', exitCode: 137, oomKilled: true }), now);
    assert.equal(oom.message, 'task: non-zero exit (137): out of memory');
    const dead = observe(s, info('c1', { state: 'dead', exitCode: 127, error: 'boom' }), now);
    assert.equal(dead.message, 'task: non-zero exit (127): boom');
    assert.equal(observe(s, info('c1'), now), s, 'still running: no change');
  });
});

describe('draining before a stop', () => {
  const attachment = {
    network: 'net1',
    name: 'appnet',
    subnet: '10.0.0.0/24',
    gateway: '10.0.0.1',
    internal: false,
    addr: '10.0.0.2',
  };

  async function running(rt: FakeRuntime): Promise<TaskStatus> {
    const id = await rt.create({ id: 't1', nodeId: 'n1' } as never);
    await rt.start(id);
    return status('running', { containerId: id });
  }

  it('keeps a task on an orca network serving a while after it is told to stop', async () => {
    const rt = new FakeRuntime();
    const ctl = new TaskController({ runtime: rt, clock: ticking(), meshDrainMs: 400 });
    const stopping = ctl.step(
      { ...task({ desiredState: 'shutdown' }), attachments: [attachment] },
      await running(rt),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(rt.count('stop'), 0, 'still serving: it may still be in other nodes’ VIP rules');
    assert.equal((await stopping).state, 'shutdown');
    assert.equal(rt.count('stop'), 1);
  });

  it('stops a task no one else reaches at once', async () => {
    const rt = new FakeRuntime();
    // A drain this long would time the test out.
    const ctl = new TaskController({ runtime: rt, clock: ticking(), meshDrainMs: 600_000 });
    const stopped = await ctl.step(task({ desiredState: 'shutdown' }), await running(rt));
    assert.equal(stopped.state, 'shutdown');
  });
});
