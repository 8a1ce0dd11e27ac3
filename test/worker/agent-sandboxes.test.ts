// The worker agent and task namespaces, on an in-memory runtime: a task on orca networks gets
// its container's namespace set up (once) when it starts running, through the container's own
// process, and let go when it stops or is unassigned; a task without networks costs nothing.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { TaskStatus } from '../../src/api/objects.ts';
import { WorkerAgent } from '../../src/worker/agent.ts';
import { NamespaceSandboxes, type SandboxHost } from '../../src/worker/sandboxes.ts';
import type { AssignedTask } from '../../src/worker/task-controller.ts';
import { waitFor } from '../support/wait.ts';
import { assignedTask, FakeRuntime } from './fake-runtime.ts';

function task(n: number, networks: string[]): AssignedTask {
  const attachments = networks.map((network, i) => ({
    network,
    name: network,
    subnet: `10.0.${i}.0/24`,
    gateway: `10.0.${i}.1`,
    internal: false,
    addr: `10.0.${i}.${n + 1}`,
  }));
  return { ...assignedTask(n), ...(attachments.length === 0 ? {} : { attachments }) };
}

class RecordingHost implements SandboxHost {
  readonly attached = new Map<string, { pid: number; networks: readonly string[] }>();
  attaches = 0;
  /** The next attaches that fail. */
  failures = 0;
  async attach(key: string, pid: number, networks: readonly string[]): Promise<void> {
    this.attaches++;
    if (this.failures > 0) {
      this.failures--;
      throw new Error('nsenter: cannot open /proc/PID/ns/net');
    }
    this.attached.set(key, { pid, networks });
  }
  detach(key: string): void {
    this.attached.delete(key);
  }
}

describe('worker agent and task namespaces', () => {
  let agent: WorkerAgent | null = null;
  afterEach(async () => {
    await agent?.stop();
    agent = null;
  });

  function start() {
    const rt = new FakeRuntime();
    const host = new RecordingHost();
    const latest = new Map<string, TaskStatus>();
    agent = new WorkerAgent({
      runtime: rt,
      nodeId: 'n1',
      onStatus: (id, status) => latest.set(id, status),
      flushIntervalMs: 10,
      pollIntervalMs: 50,
      sandboxes: new NamespaceSandboxes(rt, host, { warn() {} }, 20),
    });
    return { rt, host, latest, agent };
  }

  it("sets up a running task's namespace once, by its container's process, and lets it go when it stops", async () => {
    const { rt, host, latest, agent } = start();
    // A health check keeps the task stepping (inspected on every poll) while it starts.
    rt.imageHealthcheck = true;
    rt.healthOnStart = 'starting';
    const t1 = task(1, ['net-a', 'net-b']);
    agent.setAssignments([t1, task(2, [])]);
    await agent.start();
    const attached = await waitFor(() => host.attached.get('t1'), {
      what: 't1 attached while its health check is still starting',
    });
    const containerId = latest.get('t1')?.containerId ?? '';
    const info = await rt.inspect(containerId);
    assert.ok(!info.gone);
    assert.deepEqual(attached, { pid: info.pid, networks: ['net-a', 'net-b'] });
    assert.ok(!host.attached.has('t2'), 'a task without networks has nothing set up');

    await waitFor(() => rt.inspected(containerId) >= 4, { what: 'a few polls' });
    rt.setHealth(containerId, 'healthy');
    await waitFor(() => latest.get('t1')?.state === 'running', { what: 't1 running' });
    assert.equal(host.attaches, 1, 'set up once, however often the task is stepped');

    agent.setAssignments([{ ...t1, desiredState: 'shutdown' }, task(2, [])]);
    await waitFor(() => !host.attached.has('t1'), { what: 't1 released once stopped' });
    await waitFor(() => latest.get('t1')?.state === 'shutdown', { what: 't1 reported shut down' });
  });

  it('lets go of an unassigned task, and of one whose container died', async () => {
    const { rt, host, latest, agent } = start();
    agent.setAssignments([task(3, ['net-a']), task(4, ['net-a'])]);
    await agent.start();
    await waitFor(() => host.attached.size === 2, { what: 'both attached' });
    rt.exit(latest.get('t3')?.containerId ?? '', 1);
    await waitFor(() => !host.attached.has('t3'), { what: 't3 released after its exit' });
    agent.setAssignments([]);
    await waitFor(() => host.attached.size === 0, { what: 't4 released once unassigned' });
  });

  it('tries again, on its own, a set-up that failed for a task nothing else steps', async () => {
    const { host, agent } = start();
    host.failures = 2;
    agent.setAssignments([task(5, ['net-a'])]);
    await agent.start();
    await waitFor(() => host.attached.has('t5'), { what: 't5 attached after two failures' });
    assert.equal(host.attaches, 3);
  });
});
