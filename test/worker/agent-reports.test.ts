// When the worker agent reports, on an in-memory runtime: a task that now runs or has ended is
// reported at once, because the managers act on it next (a rolling update's next batch, a slot
// to fill); the steps on the way wait for the flush interval and go out with it.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TaskState } from '../../src/api/objects.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import type { AssignedTask } from '../../src/worker/task-controller.ts';
import { waitFor } from '../support/wait.ts';
import { assignedTask, FakeRuntime } from './fake-runtime.ts';

describe('worker agent reports', () => {
  let agent: WorkerAgent | null = null;
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });

  it('sends running and ended tasks at once, and the steps between them with the interval', async () => {
    const reported: [string, TaskState][] = [];
    agent = new WorkerAgent({
      runtime: new FakeRuntime(),
      nodeId: 'n1',
      onStatus: (id, status) => reported.push([id, status.state]),
      // Longer than the test: any report seen came from an immediate flush.
      flushIntervalMs: 600_000,
      pollIntervalMs: 600_000,
    });
    const t1: AssignedTask = assignedTask(1, 'n1');
    agent.setAssignments([t1]);
    await agent.start();
    await waitFor(() => reported.length > 0, { what: 'a first report' });
    // accepted, preparing and starting were never sent by themselves: the first report is the
    // task running.
    assert.deepEqual(reported, [['t1', 'running']]);

    agent.setAssignments([{ ...t1, desiredState: 'shutdown' }]);
    await waitFor(() => reported.some(([, state]) => state === 'shutdown'), {
      what: 't1 reported shut down',
    });
  });
});
