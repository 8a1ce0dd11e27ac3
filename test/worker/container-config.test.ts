import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ContainerSpec } from '../../src/api/objects.ts';
import { RuntimeError } from '../../src/errors.ts';
import { containerName, createBody } from '../../src/worker/container-config.ts';
import { dockerOptions, hostPortBindings } from '../../src/worker/docker-runtime.ts';
import type { RuntimeTask } from '../../src/worker/runtime.ts';

const minimal: ContainerSpec = {
  image: 'nginx:1.27',
  env: [],
  labels: {},
  init: false,
  stopGracePeriodMs: 10_000,
  mounts: [],
};

function task(spec: Partial<ContainerSpec> = {}, over: Partial<RuntimeTask> = {}): RuntimeTask {
  return {
    id: 'tsk1',
    serviceId: 'svc1',
    serviceName: 'web',
    slot: 2,
    nodeId: 'node1',
    spec: { ...minimal, ...spec },
    resources: {
      limits: { nanoCpus: 0, memoryBytes: 0 },
      reservations: { nanoCpus: 0, memoryBytes: 0 },
    },
    ...over,
  };
}

const orcaLabels = {
  'orca.service.id': 'svc1',
  'orca.service.name': 'web',
  'orca.task.id': 'tsk1',
  'orca.task.slot': '2',
  'orca.node.id': 'node1',
};

describe('container names', () => {
  it('is <service>.<slot>.<task> for a replicated task', () => {
    assert.equal(containerName(task()), 'web.2.tsk1');
  });

  it('is <service>.<node>.<task> for a global task (slot 0)', () => {
    assert.equal(containerName(task({}, { slot: 0 })), 'web.node1.tsk1');
  });
});

describe('createBody', () => {
  it('maps every field of a full spec', () => {
    const body = createBody(
      task(
        {
          image: 'registry.example/app:2',
          entrypoint: ['/bin/app', '--serve'],
          args: ['--port', '80'],
          env: ['A=1', 'B=2', 'A=3'],
          labels: { team: 'blue', 'orca.task.id': 'spoofed' },
          user: '1000:1000',
          workdir: '/srv',
          hostname: 'app-host',
          init: true,
          stopSignal: 'SIGQUIT',
          stopGracePeriodMs: 2_500,
          mounts: [
            { type: 'bind', source: '/var/data', target: '/data', readOnly: true },
            { type: 'volume', source: 'cache', target: '/cache', readOnly: false },
            { type: 'volume', target: '/scratch', readOnly: false },
            { type: 'tmpfs', target: '/run', readOnly: false },
          ],
          healthcheck: {
            test: ['CMD-SHELL', 'wget -q -O- localhost/health'],
            intervalMs: 200,
            timeoutMs: 1_500,
            retries: 4,
            startPeriodMs: 30_000,
          },
        },
        {
          resources: {
            limits: { nanoCpus: 1_500_000_000, memoryBytes: 256 * 1024 * 1024 },
            reservations: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 },
          },
        },
      ),
    );
    assert.deepEqual(body, {
      Image: 'registry.example/app:2',
      Entrypoint: ['/bin/app', '--serve'],
      Cmd: ['--port', '80'],
      Env: ['A=1', 'B=2', 'A=3'],
      Labels: { team: 'blue', ...orcaLabels },
      User: '1000:1000',
      WorkingDir: '/srv',
      Hostname: 'app-host',
      StopSignal: 'SIGQUIT',
      StopTimeout: 3,
      Healthcheck: {
        Test: ['CMD-SHELL', 'wget -q -O- localhost/health'],
        Interval: 200_000_000,
        Timeout: 1_500_000_000,
        Retries: 4,
        StartPeriod: 30_000_000_000,
      },
      HostConfig: {
        Init: true,
        RestartPolicy: { Name: 'no' },
        Mounts: [
          { Type: 'bind', Source: '/var/data', Target: '/data', ReadOnly: true },
          { Type: 'volume', Source: 'cache', Target: '/cache', ReadOnly: false },
          { Type: 'volume', Target: '/scratch', ReadOnly: false },
          { Type: 'tmpfs', Target: '/run', ReadOnly: false },
        ],
        NanoCpus: 1_500_000_000,
        Memory: 256 * 1024 * 1024,
        MemoryReservation: 64 * 1024 * 1024,
      },
    });
  });

  it('leaves out what the spec leaves to the image or the engine', () => {
    assert.deepEqual(createBody(task()), {
      Image: 'nginx:1.27',
      Env: [],
      Labels: orcaLabels,
      StopTimeout: 10,
      HostConfig: { Init: false, RestartPolicy: { Name: 'no' }, Mounts: [] },
    });
  });

  it('passes an explicitly empty entrypoint and command on, unlike absent ones', () => {
    const body = createBody(task({ entrypoint: [], args: [] }));
    assert.deepEqual(body.Entrypoint, []);
    assert.deepEqual(body.Cmd, []);
  });

  it("sends ['NONE'] alone, disabling the image's health check", () => {
    const body = createBody(
      task({
        healthcheck: {
          test: ['NONE'],
          intervalMs: 1_000,
          timeoutMs: 1_000,
          retries: 3,
          startPeriodMs: 0,
        },
      }),
    );
    assert.deepEqual(body.Healthcheck, { Test: ['NONE'] });
  });

  it('rounds the stop grace period up to whole seconds, and 0 stays 0', () => {
    assert.equal(createBody(task({ stopGracePeriodMs: 1 })).StopTimeout, 1);
    assert.equal(createBody(task({ stopGracePeriodMs: 0 })).StopTimeout, 0);
  });

  it('refuses a bind mount without a source, naming the mount', () => {
    assert.throws(
      () => createBody(task({ mounts: [{ type: 'bind', target: '/data', readOnly: false }] })),
      (err: unknown) =>
        err instanceof RuntimeError && !err.temporary && /mounts\[0\].*\/data/.test(err.message),
    );
  });
});

describe('dockerOptions', () => {
  it('reads unix and tcp hosts, and refuses others', () => {
    assert.deepEqual(dockerOptions('unix:///var/run/docker.sock'), {
      socketPath: '/var/run/docker.sock',
    });
    assert.deepEqual(dockerOptions('tcp://10.0.0.5:2376'), {
      host: '10.0.0.5',
      port: '2376',
      protocol: 'http',
    });
    assert.throws(() => dockerOptions('ssh://box'), /unsupported docker host/);
  });
});

describe('published ports', () => {
  it('binds host-mode ports by number and ingress ports where the engine chooses', () => {
    const body = createBody(
      task(
        {},
        {
          ports: [
            { protocol: 'tcp', targetPort: 80, publishedPort: 0, publishMode: 'ingress' },
            { protocol: 'udp', targetPort: 53, publishedPort: 5353, publishMode: 'host' },
          ],
        },
      ),
    );
    assert.deepEqual(body.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
    assert.deepEqual(body.HostConfig.PortBindings, {
      '80/tcp': [{ HostIp: '', HostPort: '' }],
      '53/udp': [{ HostIp: '', HostPort: '5353' }],
    });
    assert.equal(createBody(task()).HostConfig.PortBindings, undefined);
  });

  it("reads the engine's IPv4 bindings back", () => {
    assert.deepEqual(
      hostPortBindings({
        '80/tcp': [
          { HostIp: '0.0.0.0', HostPort: '32768' },
          { HostIp: '::', HostPort: '32768' },
        ],
        '53/udp': null,
      }),
      [{ protocol: 'tcp', targetPort: 80, hostPort: 32768 }],
    );
  });
});
