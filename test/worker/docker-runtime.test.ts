// DockerRuntime against the machine's real engine and the local image orca-test/busybox:1 (no
// registry is reachable). Every container carries orca.test=1 and this run's own label, and the
// after() hook removes them whatever happened.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { ContainerSpec, Resources } from '../../src/api/objects.ts';
import { ImageUnavailableError, RuntimeError } from '../../src/errors.ts';
import { DockerRuntime } from '../../src/worker/docker-runtime.ts';
import type {
  ContainerInfo,
  EventSubscription,
  LogLine,
  RuntimeEvent,
  RuntimeTask,
} from '../../src/worker/runtime.ts';
import { waitFor } from '../support/wait.ts';

const IMAGE = 'orca-test/busybox:1';
const run = randomBytes(4).toString('hex');
const nodeId = `node-${run}`;

function docker(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('docker', args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = (err as { code?: unknown } | null)?.code;
      resolve({ code: err ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
    });
  });
}

const noResources: Resources = {
  limits: { nanoCpus: 0, memoryBytes: 0 },
  reservations: { nanoCpus: 0, memoryBytes: 0 },
};

let seq = 0;
function task(
  spec: Partial<ContainerSpec>,
  over: Partial<Omit<RuntimeTask, 'spec'>> = {},
): RuntimeTask {
  seq += 1;
  return {
    id: `t${run}${seq}`,
    serviceId: `s${run}`,
    serviceName: 'rt',
    slot: seq,
    nodeId,
    resources: noResources,
    ...over,
    spec: {
      image: IMAGE,
      env: [],
      init: false,
      stopGracePeriodMs: 1_000,
      mounts: [],
      ...spec,
      labels: { 'orca.test': '1', 'orca.test.run': run, ...spec.labels },
    },
  };
}

describe('DockerRuntime on a real engine', () => {
  const rt = new DockerRuntime();
  const events: RuntimeEvent[] = [];
  let sub: EventSubscription | undefined;

  async function launch(spec: Partial<ContainerSpec>, over = {}): Promise<string> {
    const id = await rt.create(task(spec, over));
    await rt.start(id);
    return id;
  }

  async function until(id: string, ok: (c: ContainerInfo) => boolean, what: string) {
    return waitFor(
      async () => {
        const c = await rt.inspect(id);
        return !c.gone && ok(c) ? c : null;
      },
      { timeoutMs: 10_000, what },
    );
  }

  async function lines(id: string, opts = {}): Promise<LogLine[]> {
    const out: LogLine[] = [];
    for await (const line of await rt.logs(id, opts)) out.push(line as LogLine);
    return out;
  }

  /**
   * Until init has started its child, a signal to PID 1 without a handler is dropped: wait for
   * the child to say it runs.
   */
  async function started(id: string): Promise<void> {
    await waitFor(async () => (await docker(['exec', id, 'test', '-f', '/tmp/up'])).code === 0, {
      what: 'the child of init running',
    });
  }

  /** The engine's log copier may lag the container's exit: wait until all n lines are in. */
  function logLines(id: string, n: number): Promise<LogLine[]> {
    return waitFor(
      async () => {
        const got = await lines(id);
        return got.length >= n ? got : null;
      },
      { what: `${n} log lines` },
    );
  }

  before(async () => {
    const image = await docker(['image', 'inspect', IMAGE]);
    if (image.code !== 0) assert.fail(`image ${IMAGE} is missing: run test/images/build.sh`);
    sub = rt.events((e) => events.push(e));
    await waitFor(() => sub?.ready.then(() => true), { what: 'event stream connected' });
  });

  after(async () => {
    sub?.close();
    const ids = await docker(['ps', '-aq', '--filter', `label=orca.test.run=${run}`]);
    const list = ids.stdout.split('\n').filter(Boolean);
    if (list.length) await docker(['rm', '-f', '-v', ...list]);
  });

  it('creates and starts a task with all orca labels, its name and its limits', async () => {
    const t = task(
      { args: ['sleep', '300'] },
      {
        resources: {
          limits: { nanoCpus: 500_000_000, memoryBytes: 64 * 1024 * 1024 },
          reservations: { nanoCpus: 100_000_000, memoryBytes: 32 * 1024 * 1024 },
        },
      },
    );
    const id = await rt.create(t);
    const created = await rt.inspect(id);
    assert.equal(created.gone, false);
    assert.equal(!created.gone && created.state, 'created');
    await rt.start(id);
    await rt.start(id); // already started: not an error

    const c = await until(id, (c) => c.state === 'running', 'running');
    assert.equal(c.name, `rt.${t.slot}.${t.id}`);
    assert.equal(c.exitCode, null);
    assert.equal(c.health, null);
    assert.ok(c.startedAt && !Number.isNaN(Date.parse(c.startedAt)));
    assert.equal(c.finishedAt, null);
    assert.deepEqual(
      {
        service: c.labels['orca.service.id'],
        serviceName: c.labels['orca.service.name'],
        task: c.labels['orca.task.id'],
        slot: c.labels['orca.task.slot'],
        node: c.labels['orca.node.id'],
        test: c.labels['orca.test'],
      },
      {
        service: t.serviceId,
        serviceName: 'rt',
        task: t.id,
        slot: String(t.slot),
        node: nodeId,
        test: '1',
      },
    );

    const host = await docker(['inspect', '-f', '{{json .HostConfig}}', id]);
    const hc = JSON.parse(host.stdout) as Record<string, unknown>;
    assert.equal(hc.NanoCpus, 500_000_000);
    assert.equal(hc.Memory, 64 * 1024 * 1024);
    assert.equal(hc.MemoryReservation, 32 * 1024 * 1024);
    assert.equal(hc.CpuShares, 0);
    assert.deepEqual(hc.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  });

  it('applies env, workdir and user', async () => {
    const id = await launch({
      args: ['sh', '-c', 'echo $FOO; pwd; id -u'],
      env: ['FOO=first', 'FOO=bar'],
      workdir: '/tmp',
      user: '65534',
    });
    await until(id, (c) => c.state === 'exited', 'exited');
    assert.deepEqual(
      (await logLines(id, 3)).map((l) => l.text),
      ['bar', '/tmp', '65534'],
    );
  });

  it('reports an exit code, and stderr as stderr', async () => {
    const id = await launch({ args: ['sh', '-c', 'echo oops >&2; exit 3'] });
    const c = await until(id, (c) => c.state === 'exited', 'exited');
    assert.equal(c.exitCode, 3);
    assert.ok(c.finishedAt);
    assert.deepEqual(await logLines(id, 1), [{ stream: 'stderr', text: 'oops', timestamp: null }]);
    await waitFor(
      () => events.some((e) => e.containerId === id && e.action === 'die' && e.exitCode === 3),
      { what: 'die event with exit code 3' },
    );
  });

  it('runs the health check: unhealthy, then healthy once its file exists', async () => {
    const id = await launch({
      args: ['sleep', '300'],
      healthcheck: {
        test: ['CMD-SHELL', 'test -f /tmp/ok'],
        intervalMs: 200,
        timeoutMs: 2_000,
        retries: 1,
        startPeriodMs: 0,
      },
    });
    await until(id, (c) => c.health === 'unhealthy', 'unhealthy');
    const exec = await docker(['exec', id, 'touch', '/tmp/ok']);
    assert.equal(exec.code, 0, exec.stderr);
    await until(id, (c) => c.health === 'healthy', 'healthy');
    await waitFor(
      () =>
        events.some(
          (e) => e.containerId === id && e.action === 'health_status' && e.health === 'healthy',
        ),
      { what: 'health_status healthy event' },
    );
  });

  it('stops a process that ignores SIGTERM by killing it after the grace period', async () => {
    // busybox sleep as PID 1 has no SIGTERM handler, and the kernel ignores it for PID 1.
    const id = await launch({ args: ['sleep', '300'] });
    await until(id, (c) => c.state === 'running', 'running');
    await rt.stop(id, 1_000);
    const c = await rt.inspect(id);
    assert.equal(!c.gone && c.state, 'exited');
    assert.equal(!c.gone && c.exitCode, 137); // SIGKILL
    await rt.stop(id, 1_000); // already stopped: not an error
  });

  it('with init, SIGTERM reaches the process and it ends at once', async () => {
    const id = await launch({ args: ['sh', '-c', 'touch /tmp/up; exec sleep 300'], init: true });
    await started(id);
    await rt.stop(id, 10_000);
    const c = await rt.inspect(id);
    assert.equal(!c.gone && c.state, 'exited');
    assert.equal(!c.gone && c.exitCode, 143); // SIGTERM, not the SIGKILL after the grace
  });

  it('stops with an explicit signal', async () => {
    const id = await launch({ args: ['sh', '-c', 'touch /tmp/up; exec sleep 300'], init: true });
    await started(id);
    await rt.stop(id, 10_000, 'SIGINT');
    const c = await rt.inspect(id);
    assert.equal(!c.gone && c.state, 'exited');
    assert.equal(!c.gone && c.exitCode, 130);
  });

  it('notices `docker rm -f` behind its back', async () => {
    const id = await launch({ args: ['sleep', '300'] });
    await until(id, (c) => c.state === 'running', 'running');
    const rm = await docker(['rm', '-f', id]);
    assert.equal(rm.code, 0, rm.stderr);
    await waitFor(
      () =>
        events.some((e) => e.containerId === id && e.action === 'destroy') &&
        events.some((e) => e.containerId === id && e.action === 'die'),
      { timeoutMs: 1_500, intervalMs: 20, what: 'die and destroy events' },
    );
    const destroyed = events.find((e) => e.containerId === id && e.action === 'destroy');
    assert.equal(destroyed?.labels['orca.node.id'], nodeId);
    assert.deepEqual(await rt.inspect(id), { gone: true, id });
    // Stopping or removing what is gone already is not an error.
    await rt.stop(id, 1_000);
    await rt.remove(id);
  });

  it('removes a container', async () => {
    const id = await launch({ args: ['sleep', '300'] });
    await rt.remove(id);
    assert.deepEqual(await rt.inspect(id), { gone: true, id });
  });

  it("lists a node's orca containers and no others", async () => {
    const otherNode = `other-${run}`;
    const mine = [await rt.create(task({ args: ['true'] })), await launch({ args: ['true'] })];
    await rt.create(task({ args: ['true'] }, { nodeId: otherNode }));
    // Carries the node label but no task label: not orca's.
    const stray = await docker([
      'create',
      '--label',
      'orca.test=1',
      '--label',
      `orca.test.run=${run}`,
      '--label',
      `orca.node.id=${nodeId}`,
      IMAGE,
      'true',
    ]);
    assert.equal(stray.code, 0, stray.stderr);

    const listed = await rt.list({ 'orca.node.id': nodeId, 'orca.task.slot': '' });
    const ids = new Set(listed.map((c) => c.id));
    for (const id of mine) assert.ok(ids.has(id), `${id} listed`);
    assert.ok(!ids.has(stray.stdout.trim()), 'the unlabelled container is not listed');
    assert.ok(listed.every((c) => c.labels['orca.node.id'] === nodeId));
    const other = await rt.list({ 'orca.node.id': otherNode });
    assert.equal(other.length, 1);
    assert.equal(other[0]?.state, 'created');
  });

  it('uses an image the node has without pulling it, and tells whether it has a HEALTHCHECK', async () => {
    // No registry is reachable here, so a pull would fail: resolving proves there was none.
    assert.deepEqual(await rt.ensureImage(IMAGE), { healthcheck: false });
    // The same image with a HEALTHCHECK of its own, committed from a container of it.
    const withCheck = `orca-test/health-${run}:1`;
    const base = await docker(['create', '--label', `orca.test.run=${run}`, IMAGE, 'true']);
    const id = base.stdout.trim();
    const commit = await docker([
      'commit',
      '--change',
      'HEALTHCHECK --interval=1s CMD true',
      id,
      withCheck,
    ]);
    assert.equal(commit.code, 0, commit.stderr);
    try {
      assert.deepEqual(await rt.ensureImage(withCheck), { healthcheck: true });
    } finally {
      await docker(['rmi', '-f', withCheck]);
    }
  });

  it('says what to do about an image that is missing and cannot be pulled', async () => {
    await assert.rejects(rt.ensureImage('orca-test/nope:1'), (err: unknown) => {
      assert.ok(err instanceof ImageUnavailableError);
      assert.equal(err.code, 'ORCA_IMAGE_UNAVAILABLE');
      assert.match(err.message, /orca-test\/nope:1 is not on this node and could not be pulled/);
      assert.match(err.message, /docker load/);
      return true;
    });
  });

  it('reads logs with tail and timestamps, and follows them', async () => {
    const id = await launch({ args: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done'] });
    await until(id, (c) => c.state === 'exited', 'exited');
    await logLines(id, 5);
    const tail = await lines(id, { tail: 2, timestamps: true });
    assert.deepEqual(
      tail.map((l) => [l.stream, l.text]),
      [
        ['stdout', 'line4'],
        ['stdout', 'line5'],
      ],
    );
    for (const l of tail) assert.match(l.timestamp ?? '', /^\d{4}-\d\d-\d\dT[\d:.]+Z$/);

    const live = await launch({
      args: ['sh', '-c', 'echo a; while [ ! -f /tmp/go ]; do sleep 0.1; done; echo b'],
    });
    const followed: string[] = [];
    const stream = await rt.logs(live, { follow: true });
    stream.on('data', (l: LogLine) => followed.push(l.text));
    const ended = new Promise((resolve) => stream.on('end', resolve));
    await waitFor(() => followed.includes('a'), { what: 'first followed line' });
    await docker(['exec', live, 'touch', '/tmp/go']);
    await ended; // the container exits, so the stream ends
    assert.deepEqual(followed, ['a', 'b']);
  });

  it('tells fatal (bad request) from temporary (engine unreachable) errors', async () => {
    await assert.rejects(
      rt.create(task({ mounts: [{ type: 'tmpfs', target: 'relative', readOnly: false }] })),
      (err: unknown) =>
        err instanceof RuntimeError &&
        !err.temporary &&
        err.status === 400 &&
        /relative/.test(err.message),
    );
    await assert.rejects(
      rt.create(task({ image: 'orca-test/nope:1' })),
      (err: unknown) => err instanceof RuntimeError && !err.temporary && err.status === 404,
    );
    const down = new DockerRuntime({ host: `unix:///tmp/orca-no-engine-${run}.sock` });
    await assert.rejects(
      down.inspect('x'),
      (err: unknown) => err instanceof RuntimeError && err.temporary && err.status === null,
    );
    await assert.rejects(
      down.ensureImage(IMAGE),
      (err: unknown) => err instanceof RuntimeError && err.temporary,
    );
  });
});
