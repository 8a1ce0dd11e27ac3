// What the service commands print and how they wait, without a daemon.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceListItem, TaskView } from '../../src/api/control-wire.ts';
import type { Service, TaskState } from '../../src/api/objects.ts';
import { defaultServiceSpec } from '../../src/api/service-defaults.ts';
import { goDuration } from '../../src/cli/output.ts';
import { parseScaleArgs } from '../../src/cli/service.ts';
import {
  formatServiceTable,
  formatTasks,
  formatTaskTable,
  humanDuration,
} from '../../src/cli/service-format.ts';
import { formatServicePretty } from '../../src/cli/service-pretty.ts';
import { convergence, waitForConvergence } from '../../src/cli/service-progress.ts';
import { OrcaError } from '../../src/errors.ts';

const now = Date.parse('2026-01-01T12:00:00.000Z');
const spec = { ...defaultServiceSpec('busybox:1'), name: 'web' };

function service(replicas = 2, s = spec): Service {
  return {
    meta: {
      id: 'svc000000000aaaaaaaaaaaaa',
      version: 7,
      createdAt: '2026-01-01T11:00:00.000Z',
      updatedAt: '2026-01-01T11:00:00.000Z',
    },
    spec: { ...s, mode: { kind: 'replicated', replicas } },
    previousSpec: null,
    updateStatus: null,
  };
}

let seq = 0;
function task(
  slot: number,
  state: TaskState,
  extra: { message?: string; err?: string; desired?: TaskState; ageMs?: number } = {},
): TaskView {
  seq++;
  return {
    meta: {
      id: `task${String(seq).padStart(8, '0')}zzzzzzzzzzzzz`,
      version: 1,
      createdAt: new Date(now - 60_000 + seq).toISOString(),
      updatedAt: new Date(now).toISOString(),
    },
    serviceId: 'svc000000000aaaaaaaaaaaaa',
    slot,
    nodeId: state === 'pending' ? '' : 'node1',
    spec: spec.task,
    serviceVersion: 7,
    desiredState: extra.desired ?? 'running',
    status: {
      state,
      timestamp: new Date(now - (extra.ageMs ?? 5_000)).toISOString(),
      message: extra.message ?? state,
      ...(extra.err === undefined ? {} : { err: extra.err }),
    },
    serviceName: 'web',
    nodeHostname: state === 'pending' ? '' : 'host-a',
  };
}

describe('service output', () => {
  it('says durations as Docker does', () => {
    assert.equal(humanDuration(400), 'Less than a second');
    assert.equal(humanDuration(1_000), '1 second');
    assert.equal(humanDuration(5_500), '5 seconds');
    assert.equal(humanDuration(61_000), 'About a minute');
    assert.equal(humanDuration(10 * 60_000), '10 minutes');
    assert.equal(humanDuration(3_600_000), 'About an hour');
    assert.equal(humanDuration(5 * 3_600_000), '5 hours');
    assert.equal(humanDuration(3 * 86_400_000), '3 days');
  });

  it('lists services with running/desired replicas', () => {
    const item: ServiceListItem = {
      ...service(3),
      serviceStatus: { runningTasks: 2, desiredTasks: 3, completedTasks: 0 },
    };
    assert.equal(
      formatServiceTable([item]),
      'ID             NAME   MODE         REPLICAS   IMAGE       PORTS\n' +
        'svc000000000   web    replicated   2/3        busybox:1\n',
    );
  });

  it("shows each slot's current task, its history under it, and why a task is stuck", () => {
    const current = task(1, 'running');
    const old = task(1, 'failed', { desired: 'shutdown', err: 'task: non-zero exit (1)' });
    const pending = task(2, 'pending', { message: 'no suitable node (1 node not available)' });
    const out = formatTaskTable([current, old, pending], now).split('\n');
    assert.match(
      out[0] ?? '',
      /^ID\s+NAME\s+IMAGE\s+NODE\s+DESIRED STATE\s+CURRENT STATE\s+ERROR$/,
    );
    assert.match(
      out[1] ?? '',
      /^task\d{8}\s+web\.1\s+busybox:1\s+host-a\s+Running\s+Running 5 seconds ago$/,
    );
    assert.match(
      out[2] ?? '',
      /\s\\_ web\.1\s+busybox:1\s+host-a\s+Shutdown\s+Failed 5 seconds ago\s+"task: non-zero exit \(1\)"$/,
    );
    assert.match(
      out[3] ?? '',
      /web\.2\s+busybox:1\s+Running\s+Pending 5 seconds ago\s+"no suitable node/,
    );
  });

  it('prints task ids short, in full with --no-trunc, alone with -q (service ps, node ps)', () => {
    const t = task(1, 'running');
    const short = t.meta.id.slice(0, 12);
    assert.equal(formatTasks([t], { format: 'table', quiet: true }), `${short}\n`);
    assert.equal(
      formatTasks([t], { format: 'table', quiet: true, trunc: false }),
      `${t.meta.id}\n`,
    );
    const table = formatTasks([t], { format: 'table', trunc: false }, now).split('\n');
    assert.match(table[1] ?? '', new RegExp(`^${t.meta.id}\\s+web\\.1\\s`));
    assert.match(
      formatTasks([t], { format: 'table' }, now).split('\n')[1] ?? '',
      new RegExp(`^${short}\\s`),
    );
    assert.deepEqual(JSON.parse(formatTasks([t], { format: 'json' })), [t]);
  });

  it('parses SERVICE=REPLICAS, every bad one at once', () => {
    assert.deepEqual(parseScaleArgs(['web=3', 'a=b=0']), [
      { service: 'web', replicas: 3 },
      { service: 'a=b', replicas: 0 },
    ]);
    assert.throws(
      () => parseScaleArgs(['web', 'api=-1']),
      (err: unknown) =>
        err instanceof OrcaError &&
        err.code === 'ORCA_BAD_REQUEST' &&
        /2 problems/.test(err.message) &&
        /"api=-1"/.test(err.message),
    );
  });
});

describe('waiting for a service to converge', () => {
  it('is converged when every slot runs the current spec, and only then', () => {
    assert.equal(
      convergence(service(2), [task(1, 'running'), task(2, 'running')]).state,
      'converged',
    );
    const c = convergence(service(2), [task(1, 'running'), task(2, 'starting')]);
    assert.equal(c.state, 'waiting');
    assert.deepEqual(c.lines, [
      '1/2: running',
      '2/2: starting',
      'overall progress: 1 out of 2 tasks',
    ]);
    // A task of an older spec does not count, though it runs.
    const updated = service(1, {
      ...spec,
      task: { ...spec.task, container: { ...spec.task.container, env: ['A=1'] } },
    });
    assert.equal(convergence(updated, [task(1, 'running')]).state, 'waiting');
    // After a scale down, the tasks above the count must be gone.
    assert.equal(
      convergence(service(1), [task(1, 'running'), task(2, 'running')]).state,
      'waiting',
    );
  });

  it('says why it is waiting: pending tasks and their reason, tasks not created', () => {
    const c = convergence(service(3), [
      task(1, 'running'),
      task(2, 'pending', { message: 'no suitable node (1 node not available)' }),
    ]);
    assert.equal(
      c.why,
      '1 task pending: no suitable node (1 node not available); 1 task not created yet (is the orchestrator running on the leader?)',
    );
  });

  it('stops on a failed task, and at the deadline with the reason', async () => {
    const failed = convergence(service(1), [task(1, 'rejected', { err: 'image not found' })]);
    assert.equal(failed.state, 'failed');
    assert.match(failed.why, /1 task rejected: image not found/);

    const out: string[] = [];
    await assert.rejects(
      waitForConvergence({
        fetch: async () => ({
          service: service(1),
          tasks: [task(1, 'pending', { message: 'no suitable node (no nodes in the cluster)' })],
        }),
        write: (t) => out.push(t),
        timeoutMs: 0,
      }),
      /the service did not converge within 0 s: 1 task pending: no suitable node \(no nodes in the cluster\)/,
    );
    assert.deepEqual(out, ['1/1: pending\noverall progress: 0 out of 1 task\n']);
  });

  it('waits out an update, and fails when the update paused or rolled back', async () => {
    const withStatus = (state: NonNullable<Service['updateStatus']>['state'], message: string) => ({
      ...service(1),
      updateStatus: { state, startedAt: new Date(now).toISOString(), message },
    });
    // A failed task while the update runs is the update's business: its failure action decides.
    const rolled: [Service, TaskState][] = [
      [withStatus('updating', 'update in progress'), 'failed'],
      [withStatus('rollback_started', 'update rolled back due to failure of task x'), 'starting'],
      [withStatus('rollback_started', 'update rolled back due to failure of task x'), 'running'],
      [withStatus('rollback_completed', 'rollback completed'), 'running'],
    ];
    const out: string[] = [];
    const fetchFrom = (steps: [Service, TaskState][]) => async () => {
      const [svc, state] = steps.length > 1 ? steps.shift()! : steps[0]!;
      return { service: svc, tasks: [task(1, state)] };
    };
    await assert.rejects(
      waitForConvergence({
        waitingFor: 'update',
        fetch: fetchFrom(rolled),
        write: (t) => out.push(t),
        intervalMs: 0,
      }),
      /service rolled back: update rolled back due to failure of task x/,
    );
    assert.ok(
      out.includes('rollback: update rolled back due to failure of task x\n'),
      out.join(''),
    );

    await assert.rejects(
      waitForConvergence({
        waitingFor: 'update',
        fetch: fetchFrom([
          [withStatus('paused', 'update paused due to failure of task y'), 'failed'],
        ]),
        write: () => {},
        intervalMs: 0,
      }),
      /service update paused: update paused due to failure of task y/,
    );

    // A rollback the user asked for converges like anything else.
    await waitForConvergence({
      waitingFor: 'rollback',
      fetch: fetchFrom([
        [withStatus('rollback_started', 'manually requested rollback'), 'starting'],
        [withStatus('rollback_completed', 'rollback completed'), 'running'],
      ]),
      write: () => {},
      intervalMs: 0,
    });
  });

  it('prints progress as it changes, then that the service converged', async () => {
    const states: TaskState[][] = [['pending'], ['pending'], ['starting'], ['running']];
    const out: string[] = [];
    await waitForConvergence({
      fetch: async () => ({
        service: service(1),
        tasks: (states.shift() ?? ['running']).map((s) => task(1, s)),
      }),
      write: (t) => out.push(t),
      intervalMs: 0,
    });
    assert.deepEqual(out, [
      '1/1: pending\noverall progress: 0 out of 1 task\n',
      '1/1: starting\noverall progress: 0 out of 1 task\n',
      '1/1: running\noverall progress: 1 out of 1 task\n',
      'verify: Service converged\n',
    ]);
  });
});

describe('service inspect --pretty', () => {
  it("prints Docker's layout: mode, placement, update and container spec, restart policy", () => {
    const svc: Service = {
      ...service(3),
      spec: {
        ...service(3).spec,
        labels: { team: 'web' },
        task: {
          ...spec.task,
          container: { ...spec.task.container, args: ['httpd', '-f'], env: ['A=1'], init: true },
          placement: { ...spec.task.placement, constraints: ['node.role==manager'] },
          resources: {
            limits: { nanoCpus: 0, memoryBytes: 0 },
            reservations: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 },
          },
        },
      },
    };
    const out = formatServicePretty(svc);
    assert.match(out, /^ID: +svc000000000aaaaaaaaaaaaa$/m);
    assert.match(out, /^Name: +web$/m);
    assert.match(out, /^Labels:\n - team=web$/m);
    assert.match(out, /^Service Mode: +Replicated\n Replicas: +3$/m);
    assert.match(out, /^ Constraints: +\[node\.role==manager\]$/m);
    assert.match(out, /^UpdateConfig:\n Parallelism: +1$/m);
    assert.match(out, /^ Monitoring Period: +5s$/m);
    assert.match(out, /^ Args: +httpd -f$/m);
    assert.match(out, /^ Init: +true$/m);
    assert.match(out, /^Resources:\n Reservations:\n {2}CPU: +0\.5\n {2}Memory: +64MiB$/m);
    assert.match(out, /^Restart Policy:\n Condition: +any\n Delay: +5s$/m);
  });

  it('prints the allocated ports, as Docker does', () => {
    const svc: Service = {
      ...service(3),
      endpoint: {
        ports: [
          {
            protocol: 'tcp',
            targetPort: 80,
            publishedPort: 30000,
            publishMode: 'ingress',
            lb: 'p2c',
          },
        ],
      },
    };
    assert.match(
      formatServicePretty(svc),
      /^Ports:\n PublishedPort: +30000\n {2}Protocol: +tcp\n {2}TargetPort: +80\n {2}PublishMode: +ingress\n {2}LoadBalancing: +p2c$/m,
    );
  });

  it('prints durations as Go does', () => {
    assert.deepEqual([0, 300, 5000, 90_000, 3_600_000, 5_400_500].map(goDuration), [
      '0s',
      '300ms',
      '5s',
      '1m30s',
      '1h0m0s',
      '1h30m0.5s',
    ]);
  });
});
