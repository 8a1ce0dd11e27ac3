import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceSpec } from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import { OrcaError } from '../../../src/errors.ts';
import { ServiceApi, serviceControl } from '../../../src/manager/controlapi/index.ts';
import { Store } from '../../../src/store/index.ts';
import { newTask } from '../../store/fixtures.ts';

function spec(name: string, replicas = 2): ServiceSpec {
  return {
    ...defaultServiceSpec('orca-test/busybox:1'),
    name,
    mode: { kind: 'replicated', replicas },
  };
}

function setup(opts: { random?: () => number; maxChangesPerCommand?: number } = {}) {
  const store = new Store({
    proposer: null,
    ...(opts.maxChangesPerCommand === undefined
      ? {}
      : { maxChangesPerCommand: opts.maxChangesPerCommand }),
  });
  const api = new ServiceApi({
    store: async () => store,
    ...(opts.random === undefined ? {} : { random: opts.random }),
  });
  return { store, api };
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OrcaError, `not an OrcaError: ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

describe('controlapi services', () => {
  it('creates a service and stores its spec as given', async () => {
    const { api, store } = setup();
    const svc = await api.create(spec('web'));
    assert.equal(svc.spec.name, 'web');
    assert.ok(svc.meta.version > 0);
    assert.equal(svc.previousSpec, null);
    assert.deepEqual(svc.spec, spec('web'));
    assert.equal(store.view((tx) => tx.services.byName('web'))?.meta.id, svc.meta.id);
  });

  it('generates a name when none is given, and another one when it is taken', async () => {
    const { api } = setup({ random: () => 0 });
    const a = await api.create(spec(''));
    assert.match(a.spec.name, /^[a-z]+_[a-z]+$/);
    // The same draw again: the first choice is taken, so a digit is appended.
    const b = await api.create(spec(''));
    assert.equal(b.spec.name, `${a.spec.name}0`);
    // Every draw taken: the id prefix, which cannot collide.
    const c = await api.create(spec(''));
    assert.equal(c.spec.name, `svc-${c.meta.id.slice(0, 12)}`);
  });

  it('refuses a name in use with a clear message, and stores nothing', async () => {
    const { api, store } = setup();
    await api.create(spec('web'));
    await rejectsWith(
      api.create(spec('web', 5)),
      'ORCA_NAME_TAKEN',
      /service name web is already in use/,
    );
    assert.equal(store.view((tx) => tx.services.all()).length, 1);
  });

  it('re-checks the spec: every problem named by its field', async () => {
    const { api, store } = setup();
    const bad = {
      ...spec('web'),
      mode: { kind: 'replicated', replicas: -1 },
      task: { ...spec('web').task, container: { ...spec('web').task.container, image: '' } },
    };
    await assert.rejects(api.create(bad), (err: unknown) => {
      assert.ok(err instanceof OrcaError);
      assert.equal(err.code, 'ORCA_BAD_REQUEST');
      assert.match(err.message, /spec\.mode\.replicas: -1 is not a whole number from 0/);
      assert.match(err.message, /spec\.task\.container\.image: "" is not an image reference/);
      return true;
    });
    await rejectsWith(api.create({ ...spec('-x') }), 'ORCA_BAD_REQUEST', /spec\.name: "-x"/);
    await rejectsWith(api.create('nope'), 'ORCA_BAD_REQUEST', /spec: must be an object/);
    await rejectsWith(
      api.create({
        ...spec('web'),
        task: {
          ...spec('web').task,
          placement: { ...spec('web').task.placement, constraints: ['node.colour'] },
        },
      }),
      'ORCA_BAD_REQUEST',
      /invalid constraint "node.colour"/,
    );
    assert.equal(store.view((tx) => tx.services.all()).length, 0);
  });

  it('finds a service by id, name and unique id prefix; an ambiguous prefix is refused', async () => {
    let n = 0;
    // Ids that share their first characters, so that a short prefix is ambiguous.
    const ids = ['abc1xxxxxxxxxxxxxxxxxxxxx', 'abc2xxxxxxxxxxxxxxxxxxxxx'];
    const store = new Store({ proposer: null, newId: () => ids[n++] ?? `z${n}` });
    const api = new ServiceApi({ store: async () => store });
    await store.update((tx) => {
      tx.services.create(
        { spec: spec('one'), previousSpec: null, updateStatus: null },
        { id: ids[0] as string },
      );
      tx.services.create(
        { spec: spec('two'), previousSpec: null, updateStatus: null },
        { id: ids[1] as string },
      );
    });
    assert.equal((await api.inspect('one')).meta.id, ids[0]);
    assert.equal((await api.inspect(ids[1])).spec.name, 'two');
    assert.equal((await api.inspect('abc2')).spec.name, 'two');
    await rejectsWith(
      api.inspect('abc'),
      'ORCA_BAD_REQUEST',
      /service abc is ambiguous \(2 services/,
    );
    await rejectsWith(api.inspect('nope'), 'ORCA_NOT_FOUND', /service nope not found/);
  });

  it('scales replicated services and keeps the old spec; refuses a global one', async () => {
    const { api } = setup();
    await api.create(spec('web'));
    const scaled = await api.scale('web', 3);
    assert.deepEqual(scaled.spec.mode, { kind: 'replicated', replicas: 3 });
    assert.deepEqual(scaled.previousSpec?.mode, { kind: 'replicated', replicas: 2 });
    await rejectsWith(api.scale('web', -1), 'ORCA_BAD_REQUEST', /replicas: -1/);

    await api.create({ ...spec('agent'), mode: { kind: 'global' } });
    await rejectsWith(
      api.scale('agent', 2),
      'ORCA_SERVICE_MODE',
      /scale can only be used with replicated or replicated-job mode/,
    );
    await api.create({
      ...spec('job'),
      mode: { kind: 'replicated-job', maxConcurrent: 1, totalCompletions: 1 },
    });
    assert.deepEqual((await api.scale('job', 4)).spec.mode, {
      kind: 'replicated-job',
      maxConcurrent: 1,
      totalCompletions: 4,
    });
  });

  it('updates with the version read; a stale version is refused and changes nothing', async () => {
    const { api } = setup();
    const v1 = await api.create(spec('web'));
    const newSpec = { ...v1.spec, labels: { tier: 'front' } };
    const v2 = await api.update('web', newSpec, v1.meta.version);
    assert.deepEqual(v2.spec.labels, { tier: 'front' });
    assert.deepEqual(v2.previousSpec, v1.spec);
    await rejectsWith(
      api.update('web', { ...v1.spec, labels: { tier: 'back' } }, v1.meta.version),
      'ORCA_CONFLICT',
      /changed meanwhile/,
    );
    assert.deepEqual((await api.inspect('web')).spec.labels, { tier: 'front' });
    await rejectsWith(
      api.update('web', { ...v2.spec, name: 'other' }, v2.meta.version),
      'ORCA_BAD_REQUEST',
      /cannot be renamed/,
    );
    await rejectsWith(
      api.update('web', { ...v2.spec, mode: { kind: 'global' } }, v2.meta.version),
      'ORCA_BAD_REQUEST',
      /mode cannot change/,
    );
  });

  it('rolls back by swapping spec and previous spec; refuses when there is none', async () => {
    const { api } = setup();
    const v1 = await api.create(spec('web'));
    await rejectsWith(
      api.rollback('web'),
      'ORCA_NO_PREVIOUS_SPEC',
      /does not have a previous spec/,
    );
    const v2 = await api.update(
      'web',
      {
        ...v1.spec,
        task: { ...v1.spec.task, container: { ...v1.spec.task.container, env: ['A=1'] } },
      },
      v1.meta.version,
    );
    const back = await api.rollback('web');
    assert.deepEqual(back.spec, v1.spec);
    assert.deepEqual(back.previousSpec, v2.spec);
    assert.equal(back.updateStatus?.state, 'rollback_started');
    // A second rollback undoes the first, as in Swarm.
    assert.deepEqual((await api.rollback('web')).spec, v2.spec);
  });

  it('removes a service and marks its tasks desired remove in the same transaction', async () => {
    const { api, store } = setup();
    const web = await api.create(spec('web'));
    const other = await api.create(spec('other'));
    await store.update((tx) => {
      tx.tasks.create(newTask(web.meta.id, 1));
      tx.tasks.create(newTask(web.meta.id, 2, '', 'shutdown'));
      tx.tasks.create(newTask(other.meta.id, 1));
    });
    const before = store.index;
    assert.deepEqual(await api.remove(web.meta.id.slice(0, 6)), { id: web.meta.id });
    assert.equal(store.index, before + 1, 'one transaction');
    store.view((tx) => {
      assert.equal(tx.services.get(web.meta.id), undefined);
      assert.deepEqual(
        tx.tasks.byService(web.meta.id).map((t) => t.desiredState),
        ['remove', 'remove'],
      );
      assert.equal(tx.tasks.byService(other.meta.id)[0]?.desiredState, 'running');
    });
    await rejectsWith(api.remove('web'), 'ORCA_NOT_FOUND', /service web not found/);
  });

  it('removes a service with more tasks than one transaction holds', async () => {
    const { api, store } = setup({ maxChangesPerCommand: 5 });
    const web = await api.create(spec('web'));
    await store.batch((tx) => {
      for (let slot = 1; slot <= 12; slot++) tx.tasks.create(newTask(web.meta.id, slot));
    });
    await api.remove('web');
    const tasks = store.view((tx) => tx.tasks.byService(web.meta.id));
    assert.equal(tasks.length, 12);
    assert.ok(tasks.every((t) => t.desiredState === 'remove'));
  });

  it('lists services with running/desired counts, and tasks by service and node', async () => {
    const { api, store } = setup();
    const web = await api.create(spec('web', 3));
    await store.update((tx) => {
      tx.nodes.create(
        {
          spec: { role: 'manager', availability: 'active', labels: {} },
          description: {
            hostname: 'host-a',
            platform: { os: 'linux', arch: 'amd64' },
            resources: { nanoCpus: 1e9, memoryBytes: 1e9 },
            engine: { version: '', labels: {} },
            usage: null,
          },
          status: { state: 'ready', message: '', addr: '127.0.0.1' },
        },
        { id: 'node1xxxxxxxxxxxxxxxxxxxx' },
      );
      const running = newTask(web.meta.id, 1, 'node1xxxxxxxxxxxxxxxxxxxx');
      tx.tasks.create({ ...running, status: { ...running.status, state: 'running' } });
      tx.tasks.create(newTask(web.meta.id, 2));
    });
    const [item] = await api.list();
    assert.deepEqual(item?.serviceStatus, { runningTasks: 1, desiredTasks: 3, completedTasks: 0 });

    const all = await api.tasks({ service: 'web' });
    assert.deepEqual(
      all.map((t) => [t.serviceName, t.slot, t.nodeHostname]),
      [
        ['web', 1, 'host-a'],
        ['web', 2, ''],
      ],
    );
    assert.deepEqual(
      (await api.tasks({ node: 'host-a' })).map((t) => t.slot),
      [1],
    );
    await rejectsWith(api.tasks({ service: 'nope' }), 'ORCA_NOT_FOUND', /service nope not found/);

    // `node ps`: the node answering is `self`, where the API knows which one that is.
    const answering = new ServiceApi({
      store: async () => store,
      self: () => 'node1xxxxxxxxxxxxxxxxxxxx',
    });
    for (const node of ['self', 'node1xxxxxxxxxxxxxxxxxxxx', 'node1x']) {
      assert.deepEqual(
        (await answering.tasks({ node })).map((t) => t.slot),
        [1],
        node,
      );
    }
    await rejectsWith(api.tasks({ node: 'self' }), 'ORCA_NOT_FOUND', /node self not found/);
    await rejectsWith(answering.tasks({ node: 'nope' }), 'ORCA_NOT_FOUND', /^node nope not found$/);
  });

  it('serves the control methods over the same rules', async () => {
    const store = new Store({ proposer: null });
    const control = serviceControl(async () => store);
    const created = await control.ServiceCreate({ spec: spec('web') });
    assert.equal((await control.ServiceInspect({ service: 'web' })).meta.id, created.meta.id);
    assert.equal((await control.ServiceList({})).services.length, 1);
    assert.equal(
      (await control.ServiceScale({ service: 'web', replicas: 0 })).spec.mode.kind,
      'replicated',
    );
    assert.deepEqual(await control.TaskList({ service: 'web' }), { tasks: [] });
    assert.deepEqual(await control.ServiceRemove({ service: 'web' }), { id: created.meta.id });
  });

  it('allocates published ports: a taken one is refused and nothing is created', async () => {
    const { api, store } = setup();
    const publish = (name: string, published: number, target = 80): ServiceSpec => ({
      ...spec(name),
      endpoint: {
        mode: 'vip',
        ports: [
          { protocol: 'tcp', targetPort: target, publishedPort: published, publishMode: 'ingress' },
        ],
      },
    });
    const web = await api.create(publish('web', 8080));
    assert.equal(web.endpoint?.ports[0]?.publishedPort, 8080);
    await rejectsWith(
      api.create(publish('api', 8080)),
      'ORCA_PORT_IN_USE',
      /port 8080\/tcp is already published by service web/,
    );
    assert.equal(
      store.view((tx) => tx.services.byName('api')),
      undefined,
    );

    const api2 = await api.create(publish('api', 0, 9000));
    const given = api2.endpoint?.ports[0]?.publishedPort;
    assert.ok(given !== undefined && given >= 30000 && given <= 32767);
    // An update that keeps the port unnumbered keeps its number.
    const updated = await api.update(
      'api',
      { ...publish('api', 0, 9000), labels: { a: 'b' } },
      api2.meta.version,
    );
    assert.equal(updated.endpoint?.ports[0]?.publishedPort, given);
    // Taking web's port on update is refused and leaves the service as it was.
    await rejectsWith(
      api.update('api', publish('api', 8080, 9000), updated.meta.version),
      'ORCA_PORT_IN_USE',
      /8080\/tcp/,
    );
    assert.equal((await api.inspect('api')).meta.version, updated.meta.version);
  });

  it('refuses a malformed endpoint, naming the field', async () => {
    const { api } = setup();
    const bad = {
      ...spec('web'),
      endpoint: {
        mode: 'dnsrr',
        ports: [{ protocol: 'sctp', targetPort: 0, publishedPort: 8080, publishMode: 'ingress' }],
      },
    };
    await rejectsWith(api.create(bad), 'ORCA_BAD_REQUEST', /spec\.endpoint\.ports\[0\]\.protocol/);
    await rejectsWith(
      api.create(bad),
      'ORCA_BAD_REQUEST',
      /spec\.endpoint\.ports\[0\]\.targetPort/,
    );
    await rejectsWith(api.create(bad), 'ORCA_BAD_REQUEST', /needs endpoint mode vip/);
  });
});
