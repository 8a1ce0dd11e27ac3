import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSubnet } from '../../../src/api/ipv4.ts';
import type {
  EndpointSpec,
  Network,
  NetworkAddress,
  Service,
  Task,
  TaskState,
} from '../../../src/api/objects.ts';
import { taskStates } from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import {
  AddressBook,
  AddressPool,
  endpointOf,
  holdsAddresses,
  taskAddresses,
  virtualIps,
} from '../../../src/manager/allocator/addresses.ts';

const meta = (id: string) => ({ id, version: 1, createdAt: '', updatedAt: '' });

function network(id: string, subnet: string, gateway: string): Network {
  return {
    meta: meta(id),
    spec: { name: id, labels: {}, driver: 'overlay', attachable: false },
    subnet,
    gateway,
  };
}

function service(id: string, vips: NetworkAddress[]): Service {
  return {
    meta: meta(id),
    spec: { ...defaultServiceSpec('nginx:1'), name: id },
    endpoint: { ports: [], virtualIps: vips },
    previousSpec: null,
    updateStatus: null,
  };
}

function task(id: string, state: TaskState, addrs: NetworkAddress[]): Task {
  return {
    meta: meta(id),
    serviceId: 's',
    slot: 1,
    nodeId: 'n1',
    spec: defaultServiceSpec('nginx:1').task,
    serviceVersion: 1,
    networks: addrs,
    desiredState: 'running',
    status: { state, timestamp: '', message: '' },
  };
}

function book(
  networks: Network[],
  services: Service[] = [],
  tasks: Task[] = [],
): AddressBook & { reads: () => number } {
  let reads = 0;
  const b = new AddressBook({
    network: (id) => networks.find((n) => n.meta.id === id),
    services: () => {
      reads++;
      return services;
    },
    tasks: () => {
      reads++;
      return tasks;
    },
  });
  return Object.assign(b, { reads: () => reads });
}

const front = network('front', '10.0.0.0/24', '10.0.0.1');
const on = (network: string, addr: string): NetworkAddress => ({ network, addr });
const vip: EndpointSpec = { mode: 'vip', ports: [] };

describe('network addresses', () => {
  it('gives task addresses from the bottom, skipping the gateway wherever it is', () => {
    const pool = new AddressPool(front, parseSubnet(front.subnet, 's'), []);
    assert.deepEqual([pool.lowest(), pool.lowest()], ['10.0.0.2', '10.0.0.3']);
    const odd = network('odd', '10.20.0.0/29', '10.20.0.3');
    const small = new AddressPool(odd, parseSubnet(odd.subnet, 's'), []);
    const given: (string | null)[] = [];
    for (let i = 0; i < 6; i++) given.push(small.lowest());
    // A /29: .0 is the network, .7 the broadcast, .3 the gateway.
    assert.deepEqual(given, [
      '10.20.0.1',
      '10.20.0.2',
      '10.20.0.4',
      '10.20.0.5',
      '10.20.0.6',
      null,
    ]);
  });

  it('gives virtual IPs from the top, below the broadcast address', () => {
    const pool = new AddressPool(front, parseSubnet(front.subnet, 's'), ['10.0.0.254']);
    assert.deepEqual([pool.highest(), pool.highest()], ['10.0.0.253', '10.0.0.252']);
    const top = network('top', '10.1.0.0/29', '10.1.0.6');
    assert.equal(new AddressPool(top, parseSubnet(top.subnet, 's'), []).highest(), '10.1.0.5');
  });

  it('both ends meet on the last free address, never on one given twice', () => {
    const tiny = network('tiny', '10.2.0.0/29', '10.2.0.1');
    const pool = new AddressPool(tiny, parseSubnet(tiny.subnet, 's'), []);
    const given = [pool.highest(), pool.lowest(), pool.highest(), pool.lowest(), pool.lowest()];
    assert.deepEqual(given, ['10.2.0.6', '10.2.0.2', '10.2.0.5', '10.2.0.3', '10.2.0.4']);
    assert.equal(pool.lowest(), null);
    assert.equal(pool.highest(), null);
  });

  it('counts as used every VIP and the addresses of tasks not yet stopped', () => {
    const b = book(
      [front],
      [service('a', [on('front', '10.0.0.2'), on('back', '10.0.0.3')])],
      [
        task('t1', 'running', [on('front', '10.0.0.3')]),
        task('t2', 'pending', [on('front', '10.0.0.4')]),
        task('t3', 'failed', [on('front', '10.0.0.5')]),
        task('t4', 'shutdown', [on('front', '10.0.0.6')]),
      ],
    );
    // .5 and .6 are free again: their containers stopped, and the engine let the addresses go.
    assert.deepEqual(taskAddresses([{ target: 'front' }], b).addrs, [on('front', '10.0.0.5')]);
    assert.deepEqual(taskAddresses([{ target: 'front' }], b).addrs, [on('front', '10.0.0.6')]);
    assert.deepEqual(taskAddresses([{ target: 'front' }], b).addrs, [on('front', '10.0.0.7')]);
    assert.equal(b.reads(), 2, 'the holders are read once per book');
  });

  it('holds addresses until a task is observed past running', () => {
    const holding = taskStates.filter(holdsAddresses);
    assert.deepEqual(holding, [
      'new',
      'pending',
      'assigned',
      'accepted',
      'preparing',
      'starting',
      'running',
    ]);
  });

  it("gives a task one address per network in the spec's order, reporting the ones it cannot", () => {
    const back = network('back', '10.0.1.0/24', '10.0.1.1');
    const full = network('full', '10.0.2.0/29', '10.0.2.1');
    const b = book(
      [front, back, full],
      [],
      [
        task(
          't',
          'running',
          ['.2', '.3', '.4', '.5', '.6'].map((h) => on('full', `10.0.2${h}`)),
        ),
      ],
    );
    const got = taskAddresses(
      [{ target: 'back' }, { target: 'gone' }, { target: 'front' }, { target: 'full' }],
      b,
    );
    assert.deepEqual(got.addrs, [on('back', '10.0.1.2'), on('front', '10.0.0.2')]);
    assert.deepEqual(got.shortfalls, [
      { index: 1, network: 'gone', reason: 'missing' },
      { index: 3, network: 'full', reason: 'exhausted' },
    ]);
  });

  it('keeps a VIP a network had, gives new ones from the top, none in dnsrr mode', () => {
    const back = network('back', '10.0.1.0/24', '10.0.1.1');
    const mine = [on('front', '10.0.0.200'), on('left', '10.9.9.9')];
    const b = book(
      [front, back],
      [service('me', mine), service('other', [on('back', '10.0.1.254')])],
    );
    const got = virtualIps(vip, [{ target: 'back' }, { target: 'front' }], mine, b);
    assert.deepEqual(got.addrs, [on('back', '10.0.1.253'), on('front', '10.0.0.200')]);
    assert.deepEqual(got.fresh, ['back']);
    assert.deepEqual(got.shortfalls, []);
    // An absent endpoint spec is vip mode.
    assert.deepEqual(virtualIps(undefined, [{ target: 'front' }], [], b).addrs, [
      on('front', '10.0.0.254'),
    ]);
    const dnsrr = virtualIps({ mode: 'dnsrr', ports: [] }, [{ target: 'front' }], mine, b);
    assert.deepEqual(dnsrr, { addrs: [], shortfalls: [], fresh: [] });
    assert.deepEqual(virtualIps(vip, undefined, mine, b).addrs, []);
  });

  it('reports a VIP it cannot give', () => {
    const full = network('full', '10.0.2.0/29', '10.0.2.1');
    const taken = ['.2', '.3', '.4', '.5', '.6'].map((h) => on('full', `10.0.2${h}`));
    const b = book([full], [], [task('t', 'starting', taken)]);
    assert.deepEqual(virtualIps(vip, [{ target: 'full' }], undefined, b).shortfalls, [
      { index: 0, network: 'full', reason: 'exhausted' },
    ]);
  });

  it('leaves the endpoint out when there are neither ports nor VIPs', () => {
    assert.equal(endpointOf([], []), undefined);
    assert.deepEqual(endpointOf([], [on('front', '10.0.0.254')]), {
      ports: [],
      virtualIps: [on('front', '10.0.0.254')],
    });
    const port = {
      protocol: 'tcp',
      targetPort: 80,
      publishedPort: 8080,
      publishMode: 'ingress',
    } as const;
    assert.deepEqual(endpointOf([port], []), { ports: [port] });
  });
});
