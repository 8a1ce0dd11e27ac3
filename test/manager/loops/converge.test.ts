// The manager's loops and the dispatcher in one process, with a real worker session on the
// real engine: a service written to a local store gets its tasks created, scheduled, sent to
// the worker over gRPC and running as containers; a container removed behind orca's back is
// replaced; scaling and removal reach the engine. Every container carries orca.test=1 and
// this run's node id, and is removed in after() whatever happened.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Service, ServiceSpec, Task } from '../../../src/api/objects.ts';
import { Dispatcher } from '../../../src/manager/dispatcher/index.ts';
import { OrchestratorLoop, SchedulerLoop } from '../../../src/manager/loops/index.ts';
import { Store } from '../../../src/store/index.ts';
import { DockerRuntime } from '../../../src/worker/docker-runtime.ts';
import { WorkerSession } from '../../../src/worker/session.ts';
import { newNode, serviceSpec, taskSpec } from '../../store/fixtures.ts';
import {
  startDispatcherServer,
  type TestDispatcherServer,
} from '../../support/dispatcher-server.ts';
import { waitFor } from '../../support/wait.ts';

const run = promisify(execFile);
const IMAGE = 'orca-test/busybox:1';
const nodeId = `loops-${randomBytes(4).toString('hex')}`;

function spec(name: string, replicas: number): ServiceSpec {
  const base = serviceSpec(name, replicas);
  return {
    ...base,
    task: {
      ...taskSpec,
      container: {
        ...taskSpec.container,
        image: IMAGE,
        args: ['sleep', '300'],
        labels: { 'orca.test': '1' },
        // busybox sleep as PID 1 ignores SIGTERM: do not wait the default 10 s for it.
        stopGracePeriodMs: 500,
      },
      restart: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
    },
  };
}

async function containers(all = false): Promise<{ id: string; state: string; task: string }[]> {
  const { stdout } = await run('docker', [
    'ps',
    ...(all ? ['-a'] : []),
    '--filter',
    `label=orca.node.id=${nodeId}`,
    '--format',
    '{{.ID}} {{.State}} {{.Label "orca.task.id"}}',
  ]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', state = '', task = ''] = l.split(' ');
      return { id, state, task };
    });
}

describe('leader loops + dispatcher + worker session, on the real engine', () => {
  const store = new Store({ proposer: null });
  const leading = new AbortController();
  const dispatcher = new Dispatcher({ store, heartbeatMs: 1_000 });
  const loops = [new OrchestratorLoop({ store }), new SchedulerLoop({ store }), dispatcher];
  let running: Promise<void>[] = [];
  let server: TestDispatcherServer;
  let worker: WorkerSession;

  before(async () => {
    await store.update((tx) => {
      tx.clusters.create({
        spec: { name: 'default', taskHistoryLimit: 5, dispatcherHeartbeatMs: 1_000 },
      });
      // Unknown to the dispatcher until its session opens: it starts down.
      tx.nodes.create(
        { ...newNode('loops-host'), status: { state: 'down', message: '', addr: '127.0.0.1' } },
        { id: nodeId },
      );
    });
    running = loops.map((l) => l.run(leading.signal));
    server = await startDispatcherServer(dispatcher);
    worker = new WorkerSession({
      addr: server.address,
      nodeId,
      runtime: new DockerRuntime(),
      agent: { flushIntervalMs: 50, pollIntervalMs: 500, orphanGraceMs: 500 },
    });
    worker.start();
  });

  after(async () => {
    await worker?.stop();
    leading.abort();
    await Promise.all(running);
    await server?.stop();
    const left = await containers(true).catch(() => []);
    if (left.length > 0) await run('docker', ['rm', '-f', ...left.map((c) => c.id)]);
  });

  const tasksOf = (name: string): Task[] =>
    store.view((tx) => {
      const s = tx.services.byName(name);
      return s === undefined ? [] : [...tx.tasks.byService(s.meta.id)];
    });
  const runningTasks = (name: string) =>
    tasksOf(name).filter((t) => t.status.state === 'running' && t.desiredState === 'running');

  it('marks the node ready once its worker opens a session', async () => {
    await waitFor(() => store.view((tx) => tx.nodes.get(nodeId)?.status.state === 'ready'), {
      what: 'node ready',
    });
    assert.deepEqual(dispatcher.sessions, [nodeId]);
  });

  it('runs a new service: tasks created, assigned to the node and running as containers', async () => {
    await store.update((tx) => {
      tx.services.create({ spec: spec('web', 2), previousSpec: null, updateStatus: null });
    });
    await waitFor(() => runningTasks('web').length === 2, {
      timeoutMs: 30_000,
      what: '2 running tasks',
    });
    for (const t of runningTasks('web')) assert.equal(t.nodeId, nodeId);
    const up = await containers();
    assert.equal(up.length, 2);
    assert.deepEqual(
      up.map((c) => c.task).sort(),
      runningTasks('web')
        .map((t) => t.meta.id)
        .sort(),
    );
  });

  it('replaces a container removed behind its back, and records the old task as failed', async () => {
    const [victim] = runningTasks('web');
    assert.ok(victim?.status.containerId !== undefined);
    await run('docker', ['rm', '-f', victim.status.containerId]);
    await waitFor(
      () => {
        const old = tasksOf('web').find((t) => t.meta.id === victim.meta.id);
        return old?.status.state === 'failed' && runningTasks('web').length === 2;
      },
      { timeoutMs: 30_000, what: 'old task failed and a replacement running' },
    );
    const replacement = runningTasks('web').find((t) => t.slot === victim.slot);
    assert.ok(replacement !== undefined && replacement.meta.id !== victim.meta.id);
    await waitFor(async () => (await containers()).length === 2, { what: '2 containers' });
  });

  it('scales up to 3', async () => {
    await store.update((tx) => {
      const s = tx.services.byName('web') as Service;
      tx.services.update({ ...s, spec: { ...s.spec, mode: { kind: 'replicated', replicas: 3 } } });
    });
    await waitFor(() => runningTasks('web').length === 3, {
      timeoutMs: 30_000,
      what: '3 running tasks',
    });
    await waitFor(async () => (await containers()).length === 3, { what: '3 containers' });
  });

  it('removes every container and task once the service is removed', async () => {
    await store.update((tx) => {
      tx.services.delete((tx.services.byName('web') as Service).meta.id);
    });
    await waitFor(async () => (await containers(true)).length === 0, {
      timeoutMs: 30_000,
      what: 'no containers left',
    });
    await waitFor(() => store.view((tx) => tx.tasks.all().length === 0), {
      what: 'tasks deleted',
    });
  });

  it('marks the node down when the session ends', async () => {
    await worker.stop();
    await waitFor(() => store.view((tx) => tx.nodes.get(nodeId)?.status.state === 'down'), {
      what: 'node down',
    });
  });
});
