// Virtual IPs as the control API gives them in the transaction that writes the service: one per
// network in vip mode, from the top of the subnet, kept across updates and rollbacks.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointSpec, PortConfig, Service, ServiceSpec } from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import { OrcaError, StoreConflictError } from '../../../src/errors.ts';
import { NetworkApi, ServiceApi } from '../../../src/manager/controlapi/index.ts';
import { Store } from '../../../src/store/index.ts';
import { networkSpec, newTask, TestLog } from '../../store/fixtures.ts';

const net = networkSpec;

function svc(name: string, networks: string[], endpoint?: EndpointSpec): ServiceSpec {
  const spec = defaultServiceSpec('orca-test/busybox:1');
  return {
    ...spec,
    name,
    task: { ...spec.task, networks: networks.map((target) => ({ target })) },
    ...(endpoint === undefined ? {} : { endpoint }),
  };
}

const dnsrr: EndpointSpec = { mode: 'dnsrr', ports: [] };

function setup(store = new Store({ proposer: null })) {
  return {
    store,
    networks: new NetworkApi({ store: async () => store }),
    services: new ServiceApi({ store: async () => store }),
  };
}

/** The service's VIPs as `name=addr`, by network name. */
async function vipsOf(networks: NetworkApi, service: Service): Promise<string[] | undefined> {
  const names = new Map((await networks.list()).map((n) => [n.meta.id, n.spec.name]));
  return service.endpoint?.virtualIps?.map((v) => `${names.get(v.network)}=${v.addr}`);
}

describe('controlapi virtual IPs', () => {
  it('gives a vip service one per network from the top, and none without networks', async () => {
    const { networks, services } = setup();
    await networks.create(net('front'));
    await networks.create(net('back'));
    const web = await services.create(svc('web', ['front', 'back']));
    assert.deepEqual(await vipsOf(networks, web), ['front=10.0.0.254', 'back=10.0.1.254']);
    assert.deepEqual(web.endpoint?.ports, []);
    const api = await services.create(svc('api', ['back']));
    assert.deepEqual(await vipsOf(networks, api), ['back=10.0.1.253']);
    const plain = await services.create(svc('plain', []));
    assert.equal(plain.endpoint, undefined, 'neither ports nor VIPs: no endpoint');
  });

  it('keeps them across updates, gives new networks one and drops the ones left', async () => {
    const { networks, services } = setup();
    await networks.create(net('front'));
    await networks.create(net('back'));
    const web0 = await services.create(svc('web', ['front']));
    // Another service takes the next address down, so a re-given VIP would show.
    await services.create(svc('api', ['front']));
    const relabelled = await services.update(
      'web',
      { ...svc('web', ['front']), labels: { a: 'b' } },
      web0.meta.version,
    );
    assert.deepEqual(await vipsOf(networks, relabelled), ['front=10.0.0.254']);
    const added = await services.update(
      'web',
      svc('web', ['back', 'front']),
      relabelled.meta.version,
    );
    assert.deepEqual(await vipsOf(networks, added), ['back=10.0.1.254', 'front=10.0.0.254']);
    const left = await services.update('web', svc('web', ['back']), added.meta.version);
    assert.deepEqual(await vipsOf(networks, left), ['back=10.0.1.254']);
    const none = await services.update('web', svc('web', []), left.meta.version);
    assert.equal(none.endpoint, undefined);
    // Network-rm dropped front's VIP, so front can go once api leaves it too.
    await assert.rejects(networks.remove('front'), /in use by service\(s\) api/);
  });

  it('gives none in dnsrr mode, and one when the service turns to vip', async () => {
    const { networks, services, store } = setup();
    const front = await networks.create(net('front'));
    const web = await services.create(svc('web', ['front'], dnsrr));
    assert.equal(web.endpoint, undefined);
    const vip = await services.update(
      'web',
      svc('web', ['front'], { mode: 'vip', ports: [] }),
      web.meta.version,
    );
    assert.deepEqual(await vipsOf(networks, vip), ['front=10.0.0.254']);
    // The network is written back with a new VIP on it, as on attaching.
    assert.ok(
      store.view((tx) => tx.networks.get(front.meta.id))!.meta.version > front.meta.version,
    );
    const back = await services.update('web', svc('web', ['front'], dnsrr), vip.meta.version);
    assert.equal(back.endpoint, undefined);
  });

  it('keeps ports and VIPs side by side', async () => {
    const { networks, services } = setup();
    await networks.create(net('front'));
    const port: PortConfig = {
      protocol: 'tcp',
      targetPort: 80,
      publishedPort: 0,
      publishMode: 'ingress',
    };
    const web = await services.create(svc('web', ['front'], { mode: 'vip', ports: [port] }));
    assert.equal(web.endpoint?.ports.length, 1);
    assert.ok((web.endpoint?.ports[0]?.publishedPort ?? 0) >= 30000);
    assert.deepEqual(await vipsOf(networks, web), ['front=10.0.0.254']);
    const portsOnly = await services.update(
      'web',
      svc('web', [], { mode: 'vip', ports: [port] }),
      web.meta.version,
    );
    assert.deepEqual(portsOnly.endpoint, { ports: web.endpoint?.ports });
  });

  it('rolls back to the VIPs of the previous spec', async () => {
    const { networks, services } = setup();
    await networks.create(net('front'));
    await networks.create(net('back'));
    const web = await services.create(svc('web', ['front']));
    const moved = await services.update('web', svc('web', ['back']), web.meta.version);
    assert.deepEqual(await vipsOf(networks, moved), ['back=10.0.1.254']);
    const rolled = await services.rollback('web');
    // front's was let go on the update, and is free again.
    assert.deepEqual(await vipsOf(networks, rolled), ['front=10.0.0.254']);
  });

  it('skips the addresses of tasks still running, and refuses when none is left', async () => {
    const { networks, services, store } = setup();
    // A /29: .1 the gateway, .2 to .6 for hosts.
    const small = await networks.create(net('small', { subnet: '10.9.0.0/29' }));
    const a = await services.create(svc('a', ['small']));
    assert.deepEqual(await vipsOf(networks, a), ['small=10.9.0.6']);
    await store.update((tx) => {
      for (const [i, addr] of ['10.9.0.5', '10.9.0.2'].entries()) {
        tx.tasks.create({
          ...newTask(a.meta.id, i + 1),
          networks: [{ network: small.meta.id, addr }],
          status: { state: 'running', timestamp: '', message: '' },
        });
      }
      tx.tasks.create({
        ...newTask(a.meta.id, 3),
        networks: [{ network: small.meta.id, addr: '10.9.0.4' }],
        status: { state: 'failed', timestamp: '', message: '' },
      });
    });
    const b = await services.create(svc('b', ['small']));
    assert.deepEqual(await vipsOf(networks, b), ['small=10.9.0.4'], 'the failed task let .4 go');
    const c = await services.create(svc('c', ['small']));
    assert.deepEqual(await vipsOf(networks, c), ['small=10.9.0.3']);
    await assert.rejects(services.create(svc('d', ['small'])), (err: unknown) => {
      assert.ok(err instanceof OrcaError);
      assert.equal(err.code, 'ORCA_POOL_EXHAUSTED');
      assert.match(
        err.message,
        /^spec\.task\.networks\[0\]: network small \(10\.9\.0\.0\/29\) has no free address left for the service's virtual IP; .*--endpoint-mode dnsrr$/,
      );
      return true;
    });
    assert.equal(
      store.view((tx) => tx.services.byName('d')),
      undefined,
    );
    // A dnsrr service needs no VIP, and an update that keeps its VIP needs no new one.
    await services.create(svc('d', ['small'], dnsrr));
    const c2 = await services.update('c', { ...svc('c', ['small']), labels: {} }, c.meta.version);
    assert.deepEqual(await vipsOf(networks, c2), ['small=10.9.0.3']);
  });

  it('orders two writes giving a VIP on one network from the same state', async () => {
    const log = new TestLog();
    const { networks, services, store } = setup(log.join(new Store({ proposer: log })));
    await networks.create(net('front'));
    const web = await services.create(svc('web', ['front'], dnsrr));
    // Both read the state before either applies: the same top address looks free to both.
    log.holding = true;
    const turn = services.update('web', svc('web', ['front']), web.meta.version);
    const create = services.create(svc('api', ['front']));
    while (log.held < 2) await new Promise((r) => setImmediate(r));
    log.holding = false;
    log.flush();
    await turn;
    await assert.rejects(create, StoreConflictError);
    const api = await services.create(svc('api', ['front']));
    assert.deepEqual(await vipsOf(networks, api), ['front=10.0.0.253']);
    assert.equal(
      store.view((tx) => tx.services.byName('web'))?.endpoint?.virtualIps?.[0]?.addr,
      '10.0.0.254',
    );
  });
});
