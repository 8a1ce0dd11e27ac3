// The orchestrator loop giving tasks their network addresses, on a local store stepped by hand
// (loop.pass()), the workers' reports played by the test.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkAddress, ServiceSpec, Task, TaskState } from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import { NetworkApi, ServiceApi } from '../../../src/manager/controlapi/index.ts';
import { Addressing } from '../../../src/manager/loops/addressing.ts';
import { OrchestratorLoop } from '../../../src/manager/loops/index.ts';
import { Store } from '../../../src/store/index.ts';
import { networkSpec, newNode } from '../../store/fixtures.ts';

const net = networkSpec;

function svc(name: string, replicas: number, networks: string[]): ServiceSpec {
  const spec = defaultServiceSpec('orca-test/busybox:1');
  return {
    ...spec,
    name,
    mode: { kind: 'replicated', replicas },
    task: { ...spec.task, networks: networks.map((target) => ({ target })) },
  };
}

const now = Date.parse('2026-01-01T00:00:00Z');

async function setup(storeOpts: { maxChangesPerCommand?: number } = {}) {
  const store = new Store({ proposer: null, ...storeOpts });
  const node = (await store.update((tx) => tx.nodes.create(newNode('n1')).meta.id)).value;
  const warnings: { obj: object; msg: string }[] = [];
  const loop = new OrchestratorLoop({
    store,
    now: () => now,
    addressRetryMs: 1_000,
    log: { debug() {}, warn: (obj, msg) => warnings.push({ obj, msg }) },
  });
  const networks = new NetworkApi({ store: async () => store });
  const services = new ServiceApi({ store: async () => store });
  const tasksOf = (name: string): Task[] =>
    store.view((tx) => {
      const id = tx.services.byName(name)?.meta.id ?? '';
      return [...tx.tasks.byService(id)].sort((a, b) => a.slot - b.slot);
    });
  /** Moves a task's observed state as its worker's report would. */
  const report = (task: Task, state: TaskState) =>
    store.update((tx) => {
      const t = tx.tasks.get(task.meta.id)!;
      tx.tasks.update({
        ...t,
        nodeId: node,
        status: { state, message: state, timestamp: new Date(now - 60_000).toISOString() },
      });
    });
  return { store, loop, warnings, networks, services, tasksOf, report };
}

/** `network=addr` of each network of the task, by network name. */
function shown(addrs: readonly NetworkAddress[] | undefined, names: Map<string, string>): string {
  return (addrs ?? []).map((a) => `${names.get(a.network) ?? a.network}=${a.addr}`).join(' ');
}

describe('orchestrator loop and network addresses', () => {
  it("gives each task the lowest free address of each network, in the spec's order", async () => {
    const { loop, networks, services, tasksOf } = await setup();
    const front = await networks.create(net('front'));
    // The gateway in the middle of the low addresses: skipped, not a stop.
    const back = await networks.create(net('back', { subnet: '10.5.0.0/24', gateway: '10.5.0.3' }));
    const names = new Map([
      [front.meta.id, 'front'],
      [back.meta.id, 'back'],
    ]);
    const web = await services.create(svc('web', 3, ['back', 'front']));
    assert.equal(shown(web.endpoint?.virtualIps, names), 'back=10.5.0.254 front=10.0.0.254');
    await loop.pass();
    assert.deepEqual(
      tasksOf('web').map((t) => shown(t.networks, names)),
      [
        'back=10.5.0.1 front=10.0.0.2',
        'back=10.5.0.2 front=10.0.0.3',
        'back=10.5.0.4 front=10.0.0.4',
      ],
    );
    await services.create(svc('api', 1, ['front']));
    await loop.pass();
    assert.equal(shown(tasksOf('api')[0]?.networks, names), 'front=10.0.0.5');
    // No networks, no field.
    await services.create(svc('plain', 1, []));
    await loop.pass();
    assert.equal(tasksOf('plain')[0]?.networks, undefined);
  });

  it('gives the address of a task that has stopped to a new task', async () => {
    const { loop, networks, services, tasksOf, report } = await setup();
    const front = await networks.create(net('front'));
    const names = new Map([[front.meta.id, 'front']]);
    await services.create(svc('web', 3, ['front']));
    await loop.pass();
    const [first, second] = tasksOf('web');
    await report(first!, 'failed');
    // Meant to stop, but still running: its container still holds its address.
    await report(second!, 'running');
    await services.create(svc('api', 1, ['front']));
    await loop.pass();
    const replacement = tasksOf('web').find((t) => t.slot === 1 && t.meta.id !== first!.meta.id);
    assert.equal(shown(replacement?.networks, names), 'front=10.0.0.2');
    assert.equal(shown(tasksOf('api')[0]?.networks, names), 'front=10.0.0.5');
  });

  it('leaves a task out while its network is full, and creates it once one is free', async () => {
    const { loop, networks, services, tasksOf, report, warnings } = await setup();
    // A /29: .1 the gateway, .6 the VIP of big, .2 to .5 for tasks.
    const small = await networks.create(net('small', { subnet: '10.9.0.0/29' }));
    await services.create({
      ...svc('other', 2, ['small']),
      endpoint: { mode: 'dnsrr', ports: [] },
    });
    await loop.pass();
    await services.create(svc('big', 4, ['small']));
    const result = await loop.pass();
    const names = new Map([[small.meta.id, 'small']]);
    assert.deepEqual(
      tasksOf('big').map((t) => shown(t.networks, names)),
      ['small=10.9.0.4', 'small=10.9.0.5'],
    );
    assert.equal(warnings.length, 1, 'one warning for the tasks left out');
    assert.equal(
      warnings[0]!.msg,
      'network small (10.9.0.0/29) has no free address: 2 task(s) not created yet; retrying',
    );
    assert.deepEqual(warnings[0]!.obj, {
      serviceId: tasksOf('big')[0]!.serviceId,
      network: small.meta.id,
      name: 'small',
      subnet: '10.9.0.0/29',
      reason: 'exhausted',
      subject: 'task',
      count: 2,
    });
    assert.equal(result.wakeAt, now + 1_000, 'the service is decided again by itself');

    // other's tasks stop. Nothing of big's changes: in a running loop its deadline brings this pass.
    await services.scale('other', 0);
    await loop.pass();
    for (const t of tasksOf('other')) await report(t, 'shutdown');
    const after = await loop.pass();
    assert.deepEqual(
      tasksOf('big').map((t) => shown(t.networks, names)),
      ['small=10.9.0.4', 'small=10.9.0.5', 'small=10.9.0.2', 'small=10.9.0.3'],
    );
    assert.equal(after.wakeAt, null);
  });

  it('creates a task without an address on a network that is gone, and says so', async () => {
    const { store, loop, networks, tasksOf, warnings } = await setup();
    const front = await networks.create(net('front'));
    // As a race would leave it: the control API refuses removing a network a service names.
    const spec = svc('web', 1, ['gone-id', front.meta.id]);
    await store.update((tx) =>
      tx.services.create({ spec, previousSpec: null, updateStatus: null }),
    );
    await loop.pass();
    assert.deepEqual(tasksOf('web')[0]?.networks, [{ network: front.meta.id, addr: '10.0.0.2' }]);
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!.msg,
      /^network gone-id no longer exists: 1 task\(s\) created without an address on it$/,
    );
  });

  it('gives unique addresses in a plan too large for one transaction', async () => {
    const { loop, networks, services, tasksOf } = await setup({ maxChangesPerCommand: 4 });
    await networks.create(net('front'));
    await services.create(svc('web', 10, ['front']));
    await loop.pass();
    const addrs = tasksOf('web').map((t) => t.networks?.[0]?.addr);
    assert.equal(addrs.length, 10);
    assert.deepEqual(
      [...addrs].sort((a, b) => Number(a?.split('.')[3]) - Number(b?.split('.')[3])),
      Array.from({ length: 10 }, (_, i) => `10.0.0.${i + 2}`),
    );
  });

  it('gives a service rolled back by the loop the VIPs of the spec it returns to', async () => {
    const { store, networks, services } = await setup();
    const front = await networks.create(net('front'));
    const back = await networks.create(net('back'));
    const web = await services.create(svc('web', 1, ['front']));
    const versionOf = (id: string) => store.view((tx) => tx.networks.get(id))!.meta.version;
    const backVersion = versionOf(back.meta.id);
    const frontVersion = versionOf(front.meta.id);
    // As the loop stores a rollback: the spec swapped, the endpoint as it was.
    const rolled = { ...web, spec: svc('web', 1, [back.meta.id]), previousSpec: web.spec };
    await store.update((tx) => {
      const a = new Addressing(tx);
      const out = a.service(rolled);
      assert.deepEqual(out.endpoint, {
        ports: [],
        virtualIps: [{ network: back.meta.id, addr: '10.0.1.254' }],
      });
      assert.deepEqual(a.notes, []);
      tx.services.update(out);
      // An unchanged spec keeps its VIPs and writes no network.
      assert.deepEqual(a.service(web).endpoint, web.endpoint);
    });
    assert.ok(versionOf(back.meta.id) > backVersion, 'back got a new VIP: written back');
    assert.equal(versionOf(front.meta.id), frontVersion, 'front kept its VIP: not written');
  });
});
