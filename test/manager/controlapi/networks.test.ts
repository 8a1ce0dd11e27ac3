import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkSpec, ServiceSpec } from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import { InvalidFlagsError, OrcaError, StoreConflictError } from '../../../src/errors.ts';
import { NetworkApi, networkControl, ServiceApi } from '../../../src/manager/controlapi/index.ts';
import { Store } from '../../../src/store/index.ts';
import { TestLog } from '../../store/fixtures.ts';

function net(name: string, extra: Partial<NetworkSpec> = {}): NetworkSpec {
  return { name, labels: {}, driver: 'overlay', attachable: false, ...extra };
}

function svc(name: string, networks?: ServiceSpec['task']['networks']): ServiceSpec {
  const spec = defaultServiceSpec('orca-test/busybox:1');
  return {
    ...spec,
    name,
    task: { ...spec.task, ...(networks === undefined ? {} : { networks }) },
  };
}

function setup() {
  const store = new Store({ proposer: null });
  return {
    store,
    networks: new NetworkApi({ store: async () => store }),
    services: new ServiceApi({ store: async () => store }),
  };
}

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof OrcaError, `not an OrcaError: ${String(err)}`);
    assert.equal(err.code, code);
    const text = err instanceof InvalidFlagsError ? err.problems.join('\n') : err.message;
    assert.match(text, message);
    return true;
  });
}

describe('controlapi networks', () => {
  it('creates networks with subnets from the pool, or as given', async () => {
    const { networks, store } = setup();
    const a = await networks.create(net('front', { labels: { team: 'web' } }));
    assert.match(a.meta.id, /^[0-9a-z]{25}$/);
    assert.deepEqual(a.spec, net('front', { labels: { team: 'web' } }));
    assert.equal(a.subnet, '10.0.0.0/24');
    assert.equal(a.gateway, '10.0.0.1');
    const b = await networks.create(net('back', { internal: true, attachable: true }));
    assert.equal(b.subnet, '10.0.1.0/24');
    const c = await networks.create(
      net('data', { ipam: { subnet: '10.20.0.0/16', gateway: '10.20.0.254' } }),
    );
    assert.deepEqual([c.subnet, c.gateway], ['10.20.0.0/16', '10.20.0.254']);
    assert.equal(store.view((tx) => tx.networks.byName('back'))?.meta.id, b.meta.id);
  });

  it('refuses a taken name and an overlapping subnet, storing nothing', async () => {
    const { networks, store } = setup();
    await networks.create(net('front'));
    await rejectsWith(
      networks.create(net('front')),
      'ORCA_NAME_TAKEN',
      /^network name front is already in use; choose another name, or remove that network first \(orca network rm front\)$/,
    );
    await rejectsWith(
      networks.create(net('wide', { ipam: { subnet: '10.0.0.0/16' } })),
      'ORCA_SUBNET_IN_USE',
      /overlaps the subnet 10\.0\.0\.0\/24 of network front/,
    );
    assert.equal(
      store.view((tx) => tx.networks.all().length),
      1,
    );
  });

  it('refuses bad specs naming every field at once', async () => {
    const { networks, store } = setup();
    await rejectsWith(
      networks.create({
        name: '-bad',
        labels: { '': 'x' },
        driver: 'bridge',
        attachable: 'yes',
        ipam: { subnet: '10.0.0.1/24' },
      }),
      'ORCA_BAD_REQUEST',
      /spec\.name: "-bad"[\s\S]*spec\.labels[\s\S]*spec\.driver: "bridge" is not overlay \(orca networks are overlay networks spanning the swarm\)[\s\S]*spec\.attachable[\s\S]*spec\.ipam\.subnet: "10\.0\.0\.1\/24" has host bits set/,
    );
    await rejectsWith(
      networks.create(net('x', { ipam: { gateway: '10.0.0.1' } as never })),
      'ORCA_BAD_REQUEST',
      /spec\.ipam\.subnet: must be a string \(a gateway needs a subnet\)/,
    );
    await rejectsWith(networks.create('nope'), 'ORCA_BAD_REQUEST', /spec: must be an object/);
    assert.equal(
      store.view((tx) => tx.networks.all().length),
      0,
    );
  });

  it('lists by name and inspects by id, name and unique prefix', async () => {
    const { networks } = setup();
    const b = await networks.create(net('b'));
    const a = await networks.create(net('a'));
    assert.deepEqual(
      (await networks.list()).map((n) => n.spec.name),
      ['a', 'b'],
    );
    assert.equal((await networks.inspect(a.meta.id)).spec.name, 'a');
    assert.equal((await networks.inspect('b')).meta.id, b.meta.id);
    assert.equal((await networks.inspect(b.meta.id.slice(0, 10))).meta.id, b.meta.id);
    await rejectsWith(networks.inspect('nope'), 'ORCA_NOT_FOUND', /^network nope not found$/);
    await rejectsWith(networks.inspect(''), 'ORCA_BAD_REQUEST', /give a network id or name/);
  });

  it('removes a network no service uses, and refuses one in use naming the services', async () => {
    const { networks, services, store } = setup();
    const front = await networks.create(net('front'));
    const spare = await networks.create(net('spare'));
    await services.create(svc('web', [{ target: 'front' }]));
    await services.create(svc('api', [{ target: front.meta.id, aliases: ['app'] }]));
    await services.create(svc('other'));
    await rejectsWith(
      networks.remove('front'),
      'ORCA_NETWORK_IN_USE',
      /^network front is in use by service\(s\) api, web; remove or update them first/,
    );
    assert.notEqual(
      store.view((tx) => tx.networks.get(front.meta.id)),
      undefined,
    );
    assert.deepEqual(await networks.remove('spare'), { id: spare.meta.id });
    assert.equal(
      store.view((tx) => tx.networks.get(spare.meta.id)),
      undefined,
    );
    await rejectsWith(networks.remove('spare'), 'ORCA_NOT_FOUND', /network spare not found/);
  });

  it('stores the ids of the networks a service names, and refuses unknown ones', async () => {
    const { networks, services, store } = setup();
    const front = await networks.create(net('front'));
    const back = await networks.create(net('back'));
    const web = await services.create(
      svc('web', [{ target: 'front', aliases: ['www'] }, { target: back.meta.id.slice(0, 8) }]),
    );
    assert.deepEqual(web.spec.task.networks, [
      { target: front.meta.id, aliases: ['www'] },
      { target: back.meta.id },
    ]);
    await rejectsWith(
      services.create(svc('api', [{ target: 'front' }, { target: 'nope' }])),
      'ORCA_NOT_FOUND',
      /^spec\.task\.networks\[1\]\.target: network nope not found/,
    );
    await rejectsWith(
      services.create(svc('api', [{ target: 'front' }, { target: front.meta.id }])),
      'ORCA_BAD_REQUEST',
      /spec\.task\.networks\[1\]\.target: the service is already attached to network front/,
    );
    await rejectsWith(
      services.create(svc('api', [{ target: '' }])),
      'ORCA_BAD_REQUEST',
      /spec\.task\.networks\[0\]\.target: must be a network name or id/,
    );
    await rejectsWith(
      services.create(svc('api', [{ target: 'front', aliases: ['-x'] }])),
      'ORCA_BAD_REQUEST',
      /spec\.task\.networks\[0\]\.aliases: "-x" is not a name/,
    );
    assert.equal(
      store.view((tx) => tx.services.byName('api')),
      undefined,
    );
  });

  it('resolves networks on update, and an empty list means none', async () => {
    const { networks, services } = setup();
    const front = await networks.create(net('front'));
    const web = await services.create(svc('web'));
    const added = await services.update('web', svc('web', [{ target: 'front' }]), web.meta.version);
    assert.deepEqual(added.spec.task.networks, [{ target: front.meta.id }]);
    await rejectsWith(
      services.update('web', svc('web', [{ target: 'gone' }]), added.meta.version),
      'ORCA_NOT_FOUND',
      /network gone not found/,
    );
    const none = await services.update('web', svc('web', []), added.meta.version);
    assert.equal(none.spec.task.networks, undefined);
    assert.deepEqual(none.spec.task, svc('web').task);
  });

  it('refuses a rollback to a spec whose network was removed', async () => {
    const { networks, services } = setup();
    await networks.create(net('old'));
    const web = await services.create(svc('web', [{ target: 'old' }]));
    await services.update('web', svc('web'), web.meta.version);
    await networks.remove('old');
    await rejectsWith(
      services.rollback('web'),
      'ORCA_NOT_FOUND',
      /^service web cannot roll back: its previous spec attaches to network [0-9a-z]+, which was removed$/,
    );
  });

  it('refuses a remove proposed while a service attaching to the network was in flight', async () => {
    const log = new TestLog();
    const store = log.join(new Store({ proposer: log }));
    const networks = new NetworkApi({ store: async () => store });
    const services = new ServiceApi({ store: async () => store });
    await networks.create(net('front'));
    // Both read the state before either applies: only the log can order them.
    log.holding = true;
    const create = services.create(svc('web', [{ target: 'front' }]));
    const remove = networks.remove('front');
    while (log.held < 2) await new Promise((r) => setImmediate(r));
    log.holding = false;
    log.flush();
    await create;
    await assert.rejects(remove, StoreConflictError);
    assert.notEqual(
      store.view((tx) => tx.networks.byName('front')),
      undefined,
    );
  });

  it('serves the four methods', async () => {
    const store = new Store({ proposer: null });
    const m = networkControl(async () => store);
    const created = await m.NetworkCreate({ spec: net('front') });
    assert.deepEqual(
      (await m.NetworkList({})).networks.map((n) => n.meta.id),
      [created.meta.id],
    );
    assert.equal((await m.NetworkInspect({ network: 'front' })).subnet, '10.0.0.0/24');
    assert.deepEqual(await m.NetworkRemove({ network: 'front' }), { id: created.meta.id });
  });
});
