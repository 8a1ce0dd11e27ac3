// A service's life on a one-host swarm, end to end on the real Docker engine: global services
// and jobs, health checks gating "running", both update orders, an update that fails and rolls
// back, and the daemon killed with -9 while its service runs. After each step the containers
// on the engine must match what `orca service ps` says.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { TaskView } from '../../src/api/control-wire.ts';
import type { Service } from '../../src/api/objects.ts';
import { waitFor } from '../support/wait.ts';
import { cliFor } from './support/cli.ts';
import { initNodeId, removeNodeContainers, TestDaemon } from './support/daemon.ts';

const exec = promisify(execFile);
const tempRoot = mkdtempSync(path.join(tmpdir(), 'orca-lifecycle-'));
const daemon = new TestDaemon({ dir: tempRoot });
const { orca, ok } = cliFor(daemon.host);
const image = 'orca-test/busybox:1';
let nodeId = '';

interface Container {
  readonly id: string;
  readonly task: string;
  readonly running: boolean;
}

/** The engine's view: this node's containers of one service. */
async function containers(service: string): Promise<Container[]> {
  const { stdout } = await exec('docker', [
    'ps',
    '-a',
    '--filter',
    `label=orca.node.id=${nodeId}`,
    '--filter',
    `label=orca.service.name=${service}`,
    '--format',
    '{{.ID}} {{.Label "orca.task.id"}} {{.State}}',
  ]);
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [id = '', task = '', state = ''] = l.split(' ');
      return { id, task, running: state === 'running' };
    });
}

async function ps(service: string): Promise<TaskView[]> {
  return JSON.parse(await ok('service', 'ps', service, '--format', 'json')) as TaskView[];
}

async function inspect(service: string): Promise<Service> {
  const [svc] = JSON.parse(await ok('service', 'inspect', service)) as Service[];
  assert.ok(svc !== undefined);
  return svc;
}

const live = (tasks: readonly TaskView[]) =>
  tasks.filter((t) => t.desiredState === 'running' && t.status.state === 'running');

/** Waits until `n` tasks run and exactly their containers run on the engine. */
async function waitRunningMatches(service: string, n: number): Promise<TaskView[]> {
  let tasks: TaskView[] = [];
  await waitFor(
    async () => {
      tasks = live(await ps(service));
      const running = (await containers(service)).filter((c) => c.running);
      return (
        tasks.length === n &&
        running.length === n &&
        running
          .map((c) => c.task)
          .sort()
          .join() ===
          tasks
            .map((t) => t.meta.id)
            .sort()
            .join()
      );
    },
    { timeoutMs: 60_000, what: `${service}: ${n} running tasks, each with its running container` },
  );
  return tasks;
}

async function removeService(service: string): Promise<void> {
  await ok('service', 'rm', service);
  await waitFor(async () => (await containers(service)).length === 0, {
    timeoutMs: 30_000,
    what: `${service}: no container left`,
  });
}

before(async () => {
  await daemon.start();
  nodeId = initNodeId(await ok('swarm', 'init'));
});

after(async () => {
  await daemon.stop('SIGKILL');
  await removeNodeContainers(nodeId);
  rmSync(tempRoot, { recursive: true, force: true });
});

const common = ['--container-label', 'orca.test=1', '--stop-grace-period', '1s'];

describe('service lifecycle on a one-host swarm (daemon, CLI, Docker)', () => {
  it('runs a global service: one task on the node', async () => {
    const out = await ok(
      'service',
      'create',
      '--name',
      'everywhere',
      '--mode',
      'global',
      ...common,
      image,
      'sleep',
      '300',
    );
    assert.match(out, /verify: Service converged/);
    const [t] = await waitRunningMatches('everywhere', 1);
    assert.equal(t?.nodeId, nodeId);
    assert.equal(t?.slot, 0);
    await removeService('everywhere');
  });

  it('runs jobs to completion and does not restart them', async () => {
    const out = await ok(
      'service',
      'create',
      '--name',
      'batch',
      '--mode',
      'replicated-job',
      '--replicas',
      '3',
      '--max-concurrent',
      '2',
      ...common,
      image,
      'sh',
      '-c',
      'echo done',
    );
    assert.match(out, /3 out of 3 tasks completed/);
    const tasks = await ps('batch');
    assert.equal(tasks.filter((t) => t.status.state === 'complete').length, 3);
    assert.equal(tasks.length, 3, 'no task was started again after it completed');
    const exited = await containers('batch');
    assert.equal(exited.length, 3);
    assert.ok(exited.every((c) => !c.running));

    const global = await ok(
      'service',
      'create',
      '--name',
      'once',
      '--mode',
      'global-job',
      ...common,
      image,
      'true',
    );
    assert.match(global, /1 out of 1 task completed/);
    await removeService('batch');
    await removeService('once');
  });

  it('keeps a health-checked task starting until it is healthy', async () => {
    await ok(
      'service',
      'create',
      '--detach',
      '--name',
      'checked',
      '--health-cmd',
      'test -f /tmp/ready',
      '--health-interval',
      '200ms',
      '--health-retries',
      '1000',
      ...common,
      image,
      'sleep',
      '300',
    );
    let container: Container | undefined;
    await waitFor(
      async () => {
        [container] = (await containers('checked')).filter((c) => c.running);
        return container !== undefined;
      },
      { timeoutMs: 30_000, what: 'the checked container running' },
    );
    // The container runs but is not healthy: the task is not running yet.
    await waitFor(async () => (await ps('checked'))[0]?.status.health === 'starting', {
      timeoutMs: 10_000,
      what: 'the task waiting for health',
    });
    assert.equal((await ps('checked'))[0]?.status.state, 'starting');
    assert.ok(container !== undefined);
    await exec('docker', ['exec', container.id, 'touch', '/tmp/ready']);
    const [t] = await waitRunningMatches('checked', 1);
    assert.equal(t?.status.health, 'healthy');
    await removeService('checked');
  });

  for (const order of ['stop-first', 'start-first'] as const) {
    it(`rolls an update ${order}`, async () => {
      const name = `roll-${order}`;
      await ok(
        'service',
        'create',
        '--name',
        name,
        '--replicas',
        '2',
        '--update-order',
        order,
        '--update-monitor',
        '500ms',
        ...common,
        image,
        'sleep',
        '300',
      );
      const before = await waitRunningMatches(name, 2);
      const out = await ok('service', 'update', '--env-add', 'V=2', name);
      assert.match(out, /verify: Service converged/);
      const after = await waitRunningMatches(name, 2);
      assert.ok(after.every((t) => t.spec.container.env.includes('V=2')));
      // Start-first: the last old task may still be stopping when the new one counts.
      let history: TaskView[] = [];
      await waitFor(
        async () => {
          history = await ps(name);
          return before.every(
            (b) => history.find((t) => t.meta.id === b.meta.id)?.status.state === 'shutdown',
          );
        },
        { timeoutMs: 15_000, what: 'the old tasks reported shut down' },
      );
      for (const slot of [1, 2]) {
        const old = history.find(
          (t) => t.slot === slot && before.some((b) => b.meta.id === t.meta.id),
        );
        const now = after.find((t) => t.slot === slot);
        assert.ok(old !== undefined && now !== undefined);
        // The order is visible in the times: start-first starts the new task before the old
        // one stops; stop-first the other way round.
        const stoppedAt = Date.parse(old.status.timestamp);
        const startedAt = Date.parse(now.status.timestamp);
        if (order === 'start-first') assert.ok(startedAt <= stoppedAt, `slot ${slot}`);
        else assert.ok(stoppedAt <= startedAt, `slot ${slot}`);
      }
      await removeService(name);
    });
  }

  it('rolls back an update whose tasks fail, and says so', async () => {
    await ok(
      'service',
      'create',
      '--name',
      'fragile',
      '--replicas',
      '2',
      '--update-failure-action',
      'rollback',
      '--update-monitor',
      '2s',
      '--rollback-monitor',
      '500ms',
      ...common,
      image,
      'sleep',
      '300',
    );
    await waitRunningMatches('fragile', 2);
    const update = await orca('service', 'update', '--args', 'sh -c "exit 3"', 'fragile');
    assert.equal(update.code, 1, update.stdout + update.stderr);
    assert.match(update.stderr, /service rolled back: update rolled back due to failure/);
    const svc = await inspect('fragile');
    assert.equal(svc.updateStatus?.state, 'rollback_completed');
    assert.deepEqual(svc.spec.task.container.args, ['sleep', '300']);
    const after = await waitRunningMatches('fragile', 2);
    assert.ok(after.every((t) => t.spec.container.args?.join(' ') === 'sleep 300'));
    const failed = (await ps('fragile')).filter((t) => t.status.state === 'failed');
    assert.ok(failed.length >= 1, 'service ps shows the failed task of the update');
    assert.match(failed[0]?.status.err ?? '', /non-zero exit \(3\)/);
    await removeService('fragile');
  });

  it('replaces a container killed, stopped or removed behind its back at once, and says why', async () => {
    // A restart delay far beyond the wait below: these stops are not crash loops, so it must
    // not hold the replacements back.
    await ok(
      'service',
      'create',
      '--name',
      'crashy',
      '--restart-delay',
      '2m',
      ...common,
      image,
      'sleep',
      '300',
    );
    const [first] = await waitRunningMatches('crashy', 1);
    const [killed] = (await containers('crashy')).filter((c) => c.running);
    assert.ok(first !== undefined && killed !== undefined);
    await exec('docker', ['kill', killed.id]);
    const [second] = await waitRunningMatches('crashy', 1);
    assert.notEqual(second?.meta.id, first.meta.id);
    const crashed = (await ps('crashy')).find((t) => t.meta.id === first.meta.id);
    assert.equal(crashed?.status.state, 'failed');
    assert.equal(
      crashed?.status.err,
      'task: non-zero exit (137): stopped from outside orca (signal 9)',
    );

    const [stopped] = (await containers('crashy')).filter((c) => c.running);
    assert.ok(stopped !== undefined && second !== undefined);
    await exec('docker', ['stop', '-t', '1', stopped.id]);
    const [third] = await waitRunningMatches('crashy', 1);
    assert.notEqual(third?.meta.id, second.meta.id);

    const [removed] = (await containers('crashy')).filter((c) => c.running);
    assert.ok(removed !== undefined && third !== undefined);
    await exec('docker', ['rm', '-f', removed.id]);
    const [fourth] = await waitRunningMatches('crashy', 1);
    assert.notEqual(fourth?.meta.id, third.meta.id);

    const table = await ok('service', 'ps', '--no-trunc', 'crashy');
    // docker stop -t 1 of a sleep that ignores SIGTERM as PID 1: the engine's SIGKILL ended it.
    const outside = table.match(
      /Failed .*task: non-zero exit \(137\): stopped from outside orca \(signal 9\)/g,
    );
    assert.equal(outside?.length, 2, table);
    assert.match(table, /Failed .*"task: container removed"/);
    await removeService('crashy');

    // --restart-condition none: a crash is final, and service ps says so.
    await ok(
      'service',
      'create',
      '--name',
      'once-only',
      '--restart-condition',
      'none',
      ...common,
      image,
      'sleep',
      '300',
    );
    const [only] = await waitRunningMatches('once-only', 1);
    const [c] = (await containers('once-only')).filter((x) => x.running);
    assert.ok(only !== undefined && c !== undefined);
    await exec('docker', ['kill', c.id]);
    await waitFor(
      async () =>
        (await ps('once-only')).find((t) => t.meta.id === only.meta.id)?.status.state === 'failed',
      { timeoutMs: 15_000, what: 'the task failed' },
    );
    assert.equal((await ps('once-only')).length, 1, 'no replacement under restart-condition none');
    await removeService('once-only');
  });

  it('survives kill -9 of the daemon: containers adopted, none duplicated or lost', async () => {
    await ok(
      'service',
      'create',
      '--name',
      'steady',
      '--replicas',
      '3',
      ...common,
      image,
      'sleep',
      '300',
    );
    const before = await waitRunningMatches('steady', 3);
    const containersBefore = (await containers('steady')).map((c) => c.id).sort();

    const exit = await daemon.stop('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');
    const down = await orca('service', 'ls');
    assert.notEqual(down.code, 0, 'the CLI says the daemon is gone');
    // The containers do not depend on the daemon.
    assert.equal((await containers('steady')).filter((c) => c.running).length, 3);

    await daemon.start();
    const after = await waitRunningMatches('steady', 3);
    assert.deepEqual(
      after.map((t) => t.meta.id).sort(),
      before.map((t) => t.meta.id).sort(),
      'the same tasks run after the restart',
    );
    assert.deepEqual(
      (await containers('steady')).map((c) => c.id).sort(),
      containersBefore,
      'the same containers, adopted: none added, none lost',
    );

    // And the restarted daemon still drives them.
    await ok('service', 'scale', 'steady=1');
    await waitRunningMatches('steady', 1);
    await removeService('steady');
  });
});
