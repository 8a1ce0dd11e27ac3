// Which runtime calls the worker agent makes, on an in-memory runtime: a running task costs no
// engine call when an assignment set merely repeats it, and the poll looks at the node's
// containers in one list, inspecting only the tasks the list cannot vouch for. Every inspect is
// engine work taken from starting containers (agent.test.ts runs the agent on the engine).

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TaskStatus } from '../../src/api/objects.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import type { AssignedTask } from '../../src/worker/task-controller.ts';
import { waitFor } from '../support/wait.ts';
import { assignedTask, FakeRuntime } from './fake-runtime.ts';

const nodeId = 'n1';

const task = (n: number): AssignedTask => assignedTask(n, nodeId);

describe('worker agent runtime calls', () => {
  let agent: WorkerAgent | null = null;
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });

  function start(pollIntervalMs: number) {
    const rt = new FakeRuntime();
    const latest = new Map<string, TaskStatus>();
    agent = new WorkerAgent({
      runtime: rt,
      nodeId,
      onStatus: (id, status) => latest.set(id, status),
      flushIntervalMs: 10,
      pollIntervalMs,
    });
    const running = (ids: string[]) =>
      waitFor(() => ids.every((id) => latest.get(id)?.state === 'running'), {
        what: `${ids.join(', ')} running`,
      });
    return { rt, latest, agent, running };
  }

  it('makes no engine call for a set that repeats what this node reported', async () => {
    const { rt, latest, agent, running } = start(60_000);
    const tasks = [task(1), task(2)];
    agent.setAssignments(tasks);
    await agent.start();
    await running(['t1', 't2']);
    const before = rt.calls.length;

    // As the dispatcher sends them: fresh copies of the stored tasks, one echoing the latest
    // report and one a report behind (the manager had not written the last one yet).
    const echo = (t: AssignedTask, status: TaskStatus): AssignedTask =>
      JSON.parse(JSON.stringify({ ...t, status }));
    const behind: TaskStatus = { ...latest.get('t2')!, state: 'starting', message: 'created' };
    agent.setAssignments([echo(tasks[0]!, latest.get('t1')!), echo(tasks[1]!, behind)]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(rt.calls.length, before, 'no runtime call');
    assert.equal(agent.statuses().get('t2')?.state, 'running', 'the echo does not move it back');

    agent.setAssignments([
      echo({ ...tasks[0]!, desiredState: 'shutdown' }, latest.get('t1')!),
      echo(tasks[1]!, latest.get('t2')!),
    ]);
    await waitFor(() => latest.get('t1')?.state === 'shutdown', { what: 't1 shut down' });
    assert.equal(rt.count('stop'), 1, 'only the task whose desired state changed is stepped');
    assert.equal(rt.count('inspect'), 0);
  });

  it('polls with one list and inspects only what the list does not show running', async () => {
    const { rt, latest, agent, running } = start(50);
    agent.setAssignments([task(1), task(2)]);
    await agent.start();
    await running(['t1', 't2']);
    const [c1, c2] = ['t1', 't2'].map((id) => latest.get(id)!.containerId!);

    // t2's container exits and the event is lost: the poll must find it.
    rt.set(c2!, { state: 'exited', exitCode: 3, finishedAt: new Date().toISOString() });
    const failed = await waitFor(() => (latest.get('t2')?.state === 'failed' ? latest : null), {
      what: 't2 failed',
    });
    assert.match(failed.get('t2')!.message, /non-zero exit \(3\)/);
    const lists = rt.count('list');
    await waitFor(() => rt.count('list') >= lists + 3, { what: 'three more polls' });
    assert.equal(rt.inspected(c1!), 0, 'a running container the list shows is not inspected');
    assert.ok(rt.inspected(c2!) >= 1);
  });

  it('inspects every running task when the list fails', async () => {
    const { rt, agent, running, latest } = start(50);
    agent.setAssignments([task(1)]);
    await agent.start();
    await running(['t1']);
    rt.listFails = true;
    const c1 = latest.get('t1')!.containerId!;
    await waitFor(() => rt.inspected(c1) >= 2, { what: 't1 inspected by the poll' });
  });
});
