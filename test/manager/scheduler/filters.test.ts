import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Task } from '../../../src/api/objects.ts';
import type { Filter } from '../../../src/manager/scheduler/filter.ts';
import {
  availabilityFilter,
  constraintsFilter,
  defaultFilters,
  hostPortsFilter,
  maxReplicasFilter,
  platformFilter,
  readyFilter,
  resourcesFilter,
} from '../../../src/manager/scheduler/filters/index.ts';
import { buildNodeInfos } from '../../../src/manager/scheduler/node-info.ts';
import { noSuitableNode } from '../../../src/manager/scheduler/pipeline.ts';
import { compileRequest, type ImagePlatforms } from '../../../src/manager/scheduler/request.ts';
import { GiB, makeNode, makeTask, type NodeOptions, type TaskOptions } from './harness.ts';

/** Whether the filter lets `task` onto a node built from `node`, holding `existing` tasks. */
function passes(
  filter: Filter,
  node: NodeOptions,
  task: TaskOptions = {},
  existing: readonly Task[] = [],
  imagePlatforms?: ImagePlatforms,
): boolean {
  const [info] = buildNodeInfos([makeNode('n1', node)], existing);
  return filter.check(compileRequest(makeTask('web', 99, task), imagePlatforms), info!);
}

describe('filters', () => {
  it('are ordered cheapest first', () => {
    assert.deepEqual(
      defaultFilters.map((f) => f.name),
      [
        'ready',
        'availability',
        'max-replicas',
        'resources',
        'constraints',
        'platform',
        'host-ports',
      ],
    );
  });

  it('ready: only a ready node', () => {
    assert.equal(passes(readyFilter, { state: 'ready' }), true);
    for (const state of ['down', 'disconnected', 'unknown'] as const) {
      assert.equal(passes(readyFilter, { state }), false, state);
    }
    assert.equal(readyFilter.explain(1), '1 node not ready');
    assert.equal(readyFilter.explain(2), '2 nodes not ready');
  });

  it('availability: only an active node takes new tasks', () => {
    assert.equal(passes(availabilityFilter, { availability: 'active' }), true);
    assert.equal(passes(availabilityFilter, { availability: 'pause' }), false);
    assert.equal(passes(availabilityFilter, { availability: 'drain' }), false);
    assert.equal(availabilityFilter.explain(1), '1 node not available for new tasks');
    assert.equal(availabilityFilter.explain(3), '3 nodes not available for new tasks');
  });

  it('resources: reservations must fit capacity less what is reserved', () => {
    const node = { cpus: 2, memory: 4 * GiB };
    const holding = [makeTask('db', 1, { nodeId: 'n1', cpus: 1, memory: GiB })];
    assert.equal(passes(resourcesFilter, node, { cpus: 1, memory: 3 * GiB }, holding), true);
    assert.equal(passes(resourcesFilter, node, { cpus: 1.5 }, holding), false, 'cpu');
    assert.equal(passes(resourcesFilter, node, { memory: 3.5 * GiB }, holding), false, 'memory');
    assert.equal(resourcesFilter.explain(1), 'insufficient resources on 1 node');
    assert.equal(resourcesFilter.explain(4), 'insufficient resources on 4 nodes');
  });

  it('resources: a task reserving nothing fits even an over-committed node', () => {
    const holding = [makeTask('db', 1, { nodeId: 'n1', cpus: 8 })];
    assert.equal(passes(resourcesFilter, { cpus: 2 }, {}, holding), true);
  });

  it('max replicas: counts only this service and only when a limit is set', () => {
    const holding = [
      makeTask('web', 1, { nodeId: 'n1' }),
      makeTask('web', 2, { nodeId: 'n1' }),
      makeTask('db', 1, { nodeId: 'n1' }),
    ];
    assert.equal(passes(maxReplicasFilter, {}, { maxPerNode: 3 }, holding), true);
    assert.equal(passes(maxReplicasFilter, {}, { maxPerNode: 2 }, holding), false);
    assert.equal(passes(maxReplicasFilter, {}, { maxPerNode: 0 }, holding), true);
    assert.equal(maxReplicasFilter.explain(2), 'max replicas per node reached on 2 nodes');
  });

  it('host ports: one task per node may bind a host-mode port by number', () => {
    const bind = (port: number, publishMode: 'host' | 'ingress' = 'host'): Partial<Task> => ({
      ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: port, publishMode }],
    });
    const holding = [{ ...makeTask('agent', 1, { nodeId: 'n1' }), ...bind(9100) }];
    const check = (ports: Partial<Task>) =>
      hostPortsFilter.check(
        compileRequest({ ...makeTask('web', 99), ...ports }),
        buildNodeInfos([makeNode('n1')], holding)[0]!,
      );
    assert.equal(check(bind(9100)), false);
    assert.equal(check(bind(9101)), true);
    assert.equal(check(bind(0)), true, 'the engine picks a free port');
    assert.equal(check({}), true);
    assert.equal(hostPortsFilter.explain(1), 'host-mode port already in use on 1 node');
  });

  it('constraints: every constraint must hold', () => {
    const node = { labels: { zone: 'east' }, role: 'worker' as const };
    assert.equal(passes(constraintsFilter, node, { constraints: [] }), true);
    assert.equal(
      passes(constraintsFilter, node, {
        constraints: ['node.labels.zone==east', 'node.role!=manager'],
      }),
      true,
    );
    assert.equal(
      passes(constraintsFilter, node, {
        constraints: ['node.labels.zone==east', 'node.role==manager'],
      }),
      false,
    );
    assert.equal(constraintsFilter.explain(1), 'scheduling constraints not satisfied on 1 node');
  });

  it('platform: passes when the image platforms are unknown, else needs a match', () => {
    const armOnly: ImagePlatforms = () => [{ os: 'linux', arch: 'arm64' }];
    const anyLinux: ImagePlatforms = () => [{ os: 'linux', arch: '' }];
    assert.equal(passes(platformFilter, { arch: 'x86_64' }), true);
    assert.equal(passes(platformFilter, { arch: 'x86_64' }, {}, [], armOnly), false);
    assert.equal(passes(platformFilter, { arch: 'aarch64' }, {}, [], armOnly), true, 'uname arch');
    assert.equal(passes(platformFilter, { os: 'windows' }, {}, [], anyLinux), false);
    assert.equal(passes(platformFilter, { arch: 's390x' }, {}, [], anyLinux), true);
    assert.equal(platformFilter.explain(2), 'unsupported platform on 2 nodes');
  });
});

describe('no suitable node', () => {
  it('lists the reasons with the most nodes first, ties in filter order', () => {
    const rejected = [0, 1, 0, 1, 2, 0];
    assert.equal(
      noSuitableNode(defaultFilters, rejected),
      'no suitable node (scheduling constraints not satisfied on 2 nodes; ' +
        '1 node not available for new tasks; insufficient resources on 1 node)',
    );
  });

  it('says so when there are no nodes at all', () => {
    assert.equal(
      noSuitableNode(defaultFilters, [0, 0, 0, 0, 0, 0]),
      'no suitable node (no nodes in the cluster)',
    );
  });
});
