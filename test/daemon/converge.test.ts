// A one-host swarm converging, end to end: a real `orca daemon` on the real Docker engine,
// driven by the CLI. Services created, a container removed behind orca's back replaced,
// scaled, removed. Containers carry orca.test=1 and this swarm's node id; after() removes them.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Task } from '../../src/api/objects.ts';
import { waitFor } from '../support/wait.ts';
import { cliFor } from './support/cli.ts';
import { initNodeId, removeNodeContainers, TestDaemon } from './support/daemon.ts';

const exec = promisify(execFile);
const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-converge-'));
const daemon = new TestDaemon({ dir: tempRoot });
const { ok } = cliFor(daemon.host);

let nodeId = '';

async function webContainers(all = false): Promise<{ id: string; task: string }[]> {
  const { stdout } = await exec('docker', [
    'ps',
    ...(all ? ['-a'] : []),
    '--filter',
    `label=orca.node.id=${nodeId}`,
    '--filter',
    'label=orca.service.name=web',
    '--format',
    '{{.ID}} {{.Label "orca.task.id"}}',
  ]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', task = ''] = l.split(' ');
      return { id, task };
    });
}

async function ps(): Promise<Task[]> {
  return JSON.parse(await ok('service', 'ps', 'web', '--format', 'json')) as Task[];
}

const runningIds = async (): Promise<string[]> =>
  (await ps())
    .filter((t) => t.status.state === 'running' && t.desiredState === 'running')
    .map((t) => t.meta.id)
    .sort();

describe('a one-host swarm converges (daemon, CLI, Docker)', () => {
  before(async () => {
    await daemon.start();
    nodeId = initNodeId(await ok('swarm', 'init'));
  });

  after(async () => {
    await daemon.stop('SIGTERM');
    await removeNodeContainers(nodeId);
    rmSync(tempRoot, { recursive: true, force: true });
  });

  it('runs, heals, scales and removes a service', async () => {
    await ok(
      'service',
      'create',
      '--detach',
      '--replicas',
      '2',
      '--name',
      'web',
      '--container-label',
      'orca.test=1',
      '--stop-grace-period',
      '1s',
      'orca-test/busybox:1',
      'sleep',
      '300',
    );
    await waitFor(async () => (await webContainers()).length === 2, {
      timeoutMs: 30_000,
      what: '2 web containers running',
    });
    await waitFor(async () => (await runningIds()).length === 2, {
      timeoutMs: 10_000,
      what: 'service ps: 2 running',
    });
    assert.deepEqual(
      (await webContainers()).map((c) => c.task).sort(),
      await runningIds(),
      'each running task has its container',
    );

    // A container removed behind orca's back: its task fails and the slot gets a new one.
    const [victim] = await webContainers();
    assert.ok(victim !== undefined);
    await exec('docker', ['rm', '-f', victim.id]);
    await waitFor(
      async () => {
        const tasks = await ps();
        const old = tasks.find((t) => t.meta.id === victim.task);
        const live = tasks.filter(
          (t) => t.status.state === 'running' && t.desiredState === 'running',
        );
        return old?.status.state === 'failed' && live.length === 2 && !live.includes(old);
      },
      { timeoutMs: 30_000, what: 'old task failed, a replacement running' },
    );
    await waitFor(async () => (await webContainers()).length === 2, {
      timeoutMs: 10_000,
      what: '2 web containers after the replacement',
    });

    await ok('service', 'scale', '--detach', 'web=3');
    await waitFor(async () => (await webContainers()).length === 3, {
      timeoutMs: 30_000,
      what: '3 web containers',
    });
    await waitFor(async () => (await runningIds()).length === 3, { what: 'service ps: 3 running' });

    await ok('service', 'rm', 'web');
    await waitFor(async () => (await webContainers(true)).length === 0, {
      timeoutMs: 30_000,
      what: 'no web container left',
    });
  });
});
