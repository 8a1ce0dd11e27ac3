import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Network, Node, Service, Task, TaskStatus } from '../../../src/api/objects.ts';
import { discoveryTable, overlayPeers } from '../../../src/manager/allocator/discovery-table.ts';
import { makeService, makeTask } from '../orchestrator/builders.ts';

function network(id: string, name: string, subnet: string): Network {
  return {
    meta: { id, version: 1, createdAt: '', updatedAt: '' },
    spec: { name, labels: {}, driver: 'overlay', attachable: false },
    subnet,
    gateway: subnet.replace(/0\/24$/, '1'),
  };
}

const front = network('net-f', 'front', '10.0.0.0/24');
const back = network('net-b', 'back', '10.0.1.0/24');

function service(id: string, name: string, over: Partial<Service['spec']>, vips = {}): Service {
  const base = makeService({ kind: 'replicated', replicas: 2 }, { id });
  const virtualIps = Object.entries(vips).map(([network, addr]) => ({
    network,
    addr: String(addr),
  }));
  return {
    ...base,
    spec: { ...base.spec, name, ...over, task: { ...base.spec.task, ...over.task } },
    ...(virtualIps.length === 0 ? {} : { endpoint: { ports: [], virtualIps } }),
  };
}

const web = service(
  'web',
  'web',
  {
    task: {
      ...makeService({ kind: 'global' }).spec.task,
      networks: [{ target: 'net-f', aliases: ['www'] }, { target: 'net-b' }],
    },
  },
  { 'net-f': '10.0.0.254', 'net-b': '10.0.1.254' },
);
const db = service('db', 'db', {
  endpoint: { mode: 'dnsrr', ports: [] },
  task: { ...makeService({ kind: 'global' }).spec.task, networks: [{ target: 'net-b' }] },
});
const plain = service('plain', 'plain', {});

function task(
  id: string,
  svc: Service,
  status: Partial<TaskStatus>,
  addrs: string[],
  desired = 'running',
): Task {
  const t = makeTask(id, svc, { state: 'running' });
  const networks = (svc.spec.task.networks ?? []).map((n, i) => ({
    network: n.target,
    addr: addrs[i] ?? '',
  }));
  return {
    ...t,
    desiredState: desired as Task['desiredState'],
    networks,
    status: { ...t.status, ...status },
  };
}

describe("service discovery's table", () => {
  const tasks: Record<string, Task[]> = {
    web: [
      task('w1', web, {}, ['10.0.0.10', '10.0.1.10']),
      task('w2', web, {}, ['10.0.0.9', '10.0.1.9']),
      task('w3', web, {}, ['10.0.0.11', '10.0.1.11'], 'shutdown'), // being replaced
      task('w4', web, { health: 'unhealthy' }, ['10.0.0.12', '10.0.1.12']),
      task('w5', web, { state: 'starting' }, ['10.0.0.13', '10.0.1.13']),
    ],
    db: [task('d1', db, {}, ['10.0.1.20'])],
  };
  const table = discoveryTable([front, back], [web, db, plain], (id) => tasks[id] ?? []);

  it('lists every network with the services attached to it, sorted', () => {
    assert.deepEqual(
      table.map((n) => [n.name, n.services.map((s) => s.name)]),
      [
        ['back', ['db', 'web']],
        ['front', ['web']],
      ],
    );
  });

  it("gives each service its VIP and aliases on that network and its running, healthy tasks' addresses there", () => {
    const onFront = table.find((n) => n.network === 'net-f')?.services[0];
    assert.deepEqual(onFront, {
      serviceId: 'web',
      name: 'web',
      aliases: ['www'],
      mode: 'vip',
      vip: '10.0.0.254',
      tasks: ['10.0.0.9', '10.0.0.10'],
    });
    const onBack = table.find((n) => n.network === 'net-b')?.services;
    assert.equal(onBack?.[1]?.vip, '10.0.1.254');
    assert.deepEqual(onBack?.[1]?.tasks, ['10.0.1.9', '10.0.1.10']);
    assert.deepEqual(onBack?.[0], {
      serviceId: 'db',
      name: 'db',
      aliases: [],
      mode: 'dnsrr',
      tasks: ['10.0.1.20'],
    });
  });

  it('keeps a network without services, so nodes forget its names', () => {
    const empty = discoveryTable([front], [], () => []);
    assert.deepEqual(empty, [
      { network: 'net-f', name: 'front', subnet: '10.0.0.0/24', services: [] },
    ]);
  });
});

describe("the overlay's peers", () => {
  it('are the nodes that are not down, at their data-path addresses', () => {
    const node = (id: string, state: 'ready' | 'down', addr: string) =>
      ({ meta: { id }, status: { state, message: '', addr } }) as unknown as Node;
    assert.deepEqual(
      overlayPeers([
        node('n2', 'ready', '10.231.0.3'),
        node('n1', 'ready', '10.231.0.2'),
        node('n3', 'down', '10.231.0.4'),
        node('n4', 'ready', ''),
      ]),
      [
        { nodeId: 'n1', addr: '10.231.0.2' },
        { nodeId: 'n2', addr: '10.231.0.3' },
      ],
    );
  });
});
