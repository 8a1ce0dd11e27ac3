import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Node, Service, Task, TaskStatus } from '../../../src/api/objects.ts';
import { endpointTable } from '../../../src/manager/allocator/endpoint-table.ts';
import { meshListeners } from '../../../src/netmesh/listeners.ts';
import { makeNode, makeService, makeTask } from '../orchestrator/builders.ts';

const web: Service = {
  ...makeService({ kind: 'replicated', replicas: 3 }, { id: 'web' }),
  endpoint: {
    ports: [
      { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress', lb: 'p2c' },
    ],
  },
};

function task(id: string, nodeId: string, status: Partial<TaskStatus>, desired = 'running'): Task {
  const t = makeTask(id, web, { state: 'running' });
  return {
    ...t,
    nodeId,
    desiredState: desired as Task['desiredState'],
    status: {
      ...t.status,
      ports: [{ protocol: 'tcp', targetPort: 80, hostPort: 32001, publishMode: 'ingress' }],
      addr: `172.17.0.${id.length}`,
      ...status,
    },
  };
}

const nodes: Record<string, Node> = {
  n1: { ...makeNode('n1'), status: { state: 'ready', message: '', addr: '10.0.0.1' } },
  n2: { ...makeNode('n2'), status: { state: 'ready', message: '', addr: '10.0.0.2' } },
  n3: { ...makeNode('n3'), status: { state: 'down', message: '', addr: '10.0.0.3' } },
};

describe('the routing mesh table', () => {
  const tasks = [
    task('a', 'n1', {}),
    task('b', 'n2', {}),
    task('c', 'n2', {}, 'shutdown'), // being replaced: out before it is stopped
    task('d', 'n2', { state: 'starting', health: 'starting' }), // not healthy yet
    task('e', 'n3', {}), // its node is down
    task('f', 'n1', { ports: undefined }), // host ports not known yet
  ];
  const table = endpointTable(
    [web],
    () => tasks,
    (id) => nodes[id],
  );

  it('holds only running, healthy tasks meant to run, on nodes that are up', () => {
    assert.deepEqual(
      table.map((s) => s.tasks.map((t) => t.taskId)),
      [['a', 'b']],
    );
    assert.equal(table[0]?.tasks[1]?.nodeAddr, '10.0.0.2');
  });

  it('reaches local tasks at their container address and others through their node', () => {
    assert.deepEqual(meshListeners(table, 'n1'), [
      {
        protocol: 'tcp',
        port: 8080,
        lb: 'p2c',
        proxyProtocol: false,
        backends: [
          { id: 'a', host: '172.17.0.1', port: 80 },
          { id: 'b', host: '10.0.0.2', port: 32001 },
        ],
      },
    ]);
  });

  it('leaves out services that publish nothing in ingress mode', () => {
    const plain = makeService({ kind: 'replicated', replicas: 1 }, { id: 'plain' });
    assert.deepEqual(
      endpointTable(
        [plain],
        () => [],
        () => undefined,
      ),
      [],
    );
  });
});
