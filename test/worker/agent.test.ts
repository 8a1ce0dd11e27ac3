// The worker agent on the real engine with orca-test/busybox:1: tasks brought up, containers
// killed or removed behind the agent's back, a daemon restart simulated by a second agent on the
// same node. The poll is set to a minute so that what is noticed within a few seconds was
// noticed through events. Every container carries orca.test=1 and this run's label, removed in
// after() whatever happened.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type TaskState, type TaskStatus, taskStates } from '../../src/api/objects.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { DockerRuntime } from '../../src/worker/docker-runtime.ts';
import type { AssignedTask } from '../../src/worker/task-controller.ts';
import { waitFor } from '../support/wait.ts';

const IMAGE = 'orca-test/busybox:1';
const run = randomBytes(4).toString('hex');
const nodeId = `node-${run}`;
/** Long enough for the engine, short enough that a missed event would show. */
const NOTICE_MS = 5_000;

function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
}

/** Ids of this run's containers for a task (all states). */
async function containersOf(taskId: string): Promise<string[]> {
  const out = await docker([
    'ps',
    '-aq',
    '--no-trunc',
    '--filter',
    `label=orca.test.run=${run}`,
    '--filter',
    `label=orca.task.id=${taskId}`,
  ]);
  return out.stdout.split('\n').filter(Boolean);
}

let seq = 0;
function task(args: string[], over: Partial<AssignedTask> = {}): AssignedTask {
  seq += 1;
  return {
    meta: { id: `t${run}${seq}`, version: 1, createdAt: '', updatedAt: '' },
    serviceId: `s${run}`,
    serviceName: 'agent',
    slot: seq,
    nodeId,
    serviceVersion: 1,
    desiredState: 'running',
    status: { state: 'assigned', message: 'assigned', timestamp: new Date().toISOString() },
    spec: {
      container: {
        image: IMAGE,
        args,
        env: [],
        labels: { 'orca.test': '1', 'orca.test.run': run },
        // init: SIGTERM reaches sleep (PID 1 without a handler would ignore it), stops are quick.
        init: true,
        stopGracePeriodMs: 2_000,
        mounts: [],
      },
      resources: {
        limits: { nanoCpus: 0, memoryBytes: 0 },
        reservations: { nanoCpus: 0, memoryBytes: 0 },
      },
      restart: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], maxReplicasPerNode: 0 },
      forceUpdate: 0,
    },
    ...over,
  };
}

const sleeper = () => task(['sleep', '300']);
const crasher = () => task(['sh', '-c', 'sleep 1; exit 3']);
/** Exits 0 on SIGTERM; touches /tmp/up once the trap is set. */
const polite = () => task(['sh', '-c', 'trap "exit 0" TERM; touch /tmp/up; sleep 300 & wait']);

/** An agent (of this run's node, unless told) and everything it reported. */
function agent(node = nodeId, orphanGraceMs?: number) {
  const reports: [string, TaskStatus][] = [];
  const latest = new Map<string, TaskStatus>();
  const a = new WorkerAgent({
    runtime: new DockerRuntime(),
    nodeId: node,
    onStatus: (id, status) => {
      reports.push([id, status]);
      latest.set(id, status);
    },
    flushIntervalMs: 50,
    pollIntervalMs: 60_000,
    retryDelayMs: 100,
    ...(orphanGraceMs === undefined ? {} : { orphanGraceMs }),
  });
  const reached = (t: AssignedTask, state: TaskState, timeoutMs = 10_000) =>
    waitFor(
      () => {
        const s = latest.get(t.meta.id);
        return s?.state === state ? s : null;
      },
      {
        timeoutMs,
        what: `task ${t.meta.id} reported ${state} (latest: ${latest.get(t.meta.id)?.state})`,
      },
    );
  return { agent: a, reports, latest, reached };
}

describe('worker agent on a real engine', () => {
  const agents: WorkerAgent[] = [];
  function track<T extends { agent: WorkerAgent }>(x: T): T {
    agents.push(x.agent);
    return x;
  }

  before(async () => {
    const image = await docker(['image', 'inspect', IMAGE]);
    if (image.code !== 0) assert.fail(`image ${IMAGE} is missing: run test/images/build.sh`);
  });

  after(async () => {
    await Promise.allSettled(agents.map((a) => a.stop()));
    const ids = await docker(['ps', '-aq', '--filter', `label=orca.test.run=${run}`]);
    const list = ids.stdout.split('\n').filter(Boolean);
    if (list.length > 0) await docker(['rm', '-f', '-v', ...list]);
  });

  it('runs its tasks and notices a container removed or stopped behind its back', async () => {
    const { agent: a, reports, reached } = track(agent());
    const [removed, stopped, killed, crashing] = [sleeper(), polite(), sleeper(), crasher()];
    a.setAssignments([removed, stopped, killed, crashing]);
    await a.start();
    const running = await Promise.all([removed, stopped, killed].map((t) => reached(t, 'running')));
    for (const s of running) assert.ok(s.containerId);
    // Reported one state at a time, in order (some may be batched away, none out of order).
    const trail = reports.filter(([id]) => id === removed.meta.id).map(([, s]) => s.state);
    assert.deepEqual(
      trail,
      [...trail].sort((x, y) => taskStates.indexOf(x) - taskStates.indexOf(y)),
    );

    await docker(['rm', '-f', running[0]!.containerId!]);
    const gone = await reached(removed, 'failed', NOTICE_MS);
    assert.equal(gone.message, 'task: container removed');
    assert.equal(gone.stoppedOutside, true);

    await waitFor(
      async () =>
        (await docker(['exec', running[1]!.containerId!, 'test', '-f', '/tmp/up'])).code === 0,
      { what: 'the trap set' },
    );
    await docker(['stop', running[1]!.containerId!]);
    const done = await reached(stopped, 'complete', NOTICE_MS);
    assert.equal(done.exitCode, 0);
    assert.equal(done.message, 'finished: stopped from outside orca (signal 15)');
    assert.equal(done.stoppedOutside, true);

    await docker(['kill', running[2]!.containerId!]);
    const dead = await reached(killed, 'failed', NOTICE_MS);
    assert.equal(dead.message, 'task: non-zero exit (137): stopped from outside orca (signal 9)');
    assert.equal(dead.exitCode, 137);
    assert.equal(dead.stoppedOutside, true);

    // Its own process failing is a crash: the restart delay applies to it.
    const crashed = await reached(crashing, 'failed');
    assert.equal(crashed.message, 'task: non-zero exit (3)');
    assert.equal(crashed.stoppedOutside, undefined);
  });

  it('adopts its containers after a restart and removes those no task owns', async () => {
    const first = track(agent());
    const [kept, dropped] = [sleeper(), sleeper()];
    first.agent.setAssignments([kept, dropped]);
    await first.agent.start();
    const was = await first.reached(kept, 'running');
    await first.reached(dropped, 'running');
    // As a kill -9 of the daemon: containers stay, nothing is reported any more.
    await first.agent.stop();

    const second = track(agent());
    // The manager's copy may lag: it still says assigned, so the container must be found.
    second.agent.setAssignments([kept]);
    await second.agent.start();
    const now = await second.reached(kept, 'running');
    assert.equal(now.containerId, was.containerId);
    await waitFor(async () => (await containersOf(dropped.meta.id)).length === 0, {
      what: 'the unowned container removed',
    });
    assert.deepEqual(await containersOf(kept.meta.id), [was.containerId]);
    assert.equal(second.latest.has(dropped.meta.id), false, 'nothing reported for it');
  });

  it("adopts only its own node's containers: another node's on the same engine stay", async () => {
    // Two daemons on one engine (tests, or a host running two nodes): each owns the
    // containers labelled with its node id and no other.
    const neighbour = track(agent());
    const theirs = sleeper();
    neighbour.agent.setAssignments([theirs]);
    await neighbour.agent.start();
    const was = await neighbour.reached(theirs, 'running');

    const otherNode = `other-${run}`;
    const stubborn = task(['sleep', '300'], { nodeId: otherNode });
    // Without init, sleep ignores SIGTERM: its removal waits out the whole grace. The
    // neighbour's container (with init) would go at once if it were taken for an orphan too,
    // so by the time this one is gone, that would be seen.
    const mine = {
      ...stubborn,
      spec: { ...stubborn.spec, container: { ...stubborn.spec.container, init: false } },
    };
    const before = track(agent(otherNode));
    before.agent.setAssignments([mine]);
    await before.agent.start();
    await before.reached(mine, 'running');
    await before.agent.stop();
    // Restarted with nothing assigned: its own container is an orphan, the neighbour's is not.
    const after = track(agent(otherNode, 1_000));
    after.agent.setAssignments([]);
    await after.agent.start();
    await waitFor(async () => (await containersOf(mine.meta.id)).length === 0, {
      what: 'its own unowned container removed: adoption ran',
    });
    assert.deepEqual(await containersOf(theirs.meta.id), [was.containerId]);
    assert.equal(neighbour.latest.get(theirs.meta.id)?.state, 'running');
  });

  it('waits for the assignments before adopting', async () => {
    const first = track(agent());
    const [t, dropped] = [sleeper(), sleeper()];
    first.agent.setAssignments([t, dropped]);
    await first.agent.start();
    const was = await first.reached(t, 'running');
    await first.reached(dropped, 'running');
    await first.agent.stop();

    // Started before the session delivered anything: nothing may be taken for an orphan.
    const second = track(agent());
    await second.agent.start();
    second.agent.setAssignments([{ ...t, status: was }]);
    // The unowned one going shows that adoption ran, and ran with the assignments.
    await waitFor(async () => (await containersOf(dropped.meta.id)).length === 0, {
      what: 'the unowned container removed',
    });
    assert.deepEqual(await containersOf(t.meta.id), [was.containerId]);
    // Nothing to report (the manager has this status already), but the container is watched.
    await docker(['rm', '-f', was.containerId!]);
    const gone = await second.reached(t, 'failed', NOTICE_MS);
    assert.equal(gone.message, 'task: container removed');
    assert.equal(gone.containerId, was.containerId);
  });

  it('stops a task set to desired shutdown, and removes it on desired remove or unassignment', async () => {
    const { agent: a, reached } = track(agent());
    const [down, dropped] = [sleeper(), sleeper()];
    a.setAssignments([down, dropped]);
    await a.start();
    const running = await reached(down, 'running');
    await reached(dropped, 'running');

    a.setAssignments([{ ...down, desiredState: 'shutdown' }, dropped]);
    const shut = await reached(down, 'shutdown');
    assert.equal(shut.message, 'shutdown');
    assert.equal(shut.stoppedOutside, undefined, "orca's own stop is not from outside");
    const inspect = await docker(['inspect', '-f', '{{.State.Status}}', running.containerId!]);
    assert.equal(inspect.stdout.trim(), 'exited', 'stopped, kept for its logs');

    a.setAssignments([{ ...down, desiredState: 'remove' }]);
    await waitFor(async () => (await containersOf(down.meta.id)).length === 0, {
      what: 'the container of the task set to remove removed',
    });
    await waitFor(async () => (await containersOf(dropped.meta.id)).length === 0, {
      what: 'the container of the unassigned task removed',
    });
  });
});
