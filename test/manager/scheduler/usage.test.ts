// Live usage in placement: reservations (and the task counts orca keeps) decide first, usage only
// breaks their ties, and a node that has not reported counts as neither idle nor busy.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildNodeInfos } from '../../../src/manager/scheduler/node-info.ts';
import { Cluster, GiB, makeNode } from './harness.ts';

describe('live usage as the last tie-breaker', () => {
  it('equal reservations and equal task counts: the less used node wins, CPU or memory', () => {
    const c = new Cluster()
      .node('n1', { usage: { cpuPercent: 70, memoryBytes: GiB } })
      .node('n2', { usage: { cpuPercent: 10, memoryBytes: 6 * GiB } })
      .node('n3', { usage: { cpuPercent: 20, memoryBytes: GiB } });
    c.running('db', 'n1', { cpus: 1 });
    c.running('db', 'n2', { cpus: 1 });
    c.running('db', 'n3', { cpus: 1 });
    c.replicas('web', 1, { cpus: 1 });
    c.schedule();
    // n2 idles on CPU but has 75% of its memory in use: n3 is the less used host.
    assert.deepEqual(c.placements(), { 'web.1': 'n3' });
  });

  it('a node with fewer reservations wins even when it is busier', () => {
    const c = new Cluster()
      .node('n1', { usage: { cpuPercent: 95, memoryBytes: 7 * GiB } })
      .node('n2', { usage: { cpuPercent: 1, memoryBytes: GiB } });
    c.running('db', 'n1', { cpus: 1 });
    c.running('cache', 'n2', { cpus: 2 });
    c.replicas('web', 1, { cpus: 1 });
    c.schedule();
    assert.deepEqual(c.placements(), { 'web.1': 'n1' });
  });

  it('a node with fewer of the service’s tasks wins even when it is busier', () => {
    const c = new Cluster()
      .node('n1', { usage: { cpuPercent: 95, memoryBytes: 0 } })
      .node('n2', { usage: { cpuPercent: 1, memoryBytes: 0 } });
    c.running('web', 'n2');
    c.replicas('web', 1);
    c.schedule();
    assert.deepEqual(c.placements(), { 'web.2': 'n1' });
  });

  it('a node that has not reported counts as the average of those that have', () => {
    const nodes = [
      makeNode('a', { usage: null }),
      makeNode('b', { usage: { cpuPercent: 10, memoryBytes: 0 } }),
      makeNode('c', { usage: { cpuPercent: 90, memoryBytes: 0 } }),
    ];
    assert.deepEqual(
      buildNodeInfos(nodes, []).map((n) => n.load),
      [0.5, 0.1, 0.9],
    );
    assert.deepEqual(
      buildNodeInfos([makeNode('a', { usage: null }), makeNode('b', { usage: null })], []).map(
        (n) => n.load,
      ),
      [0, 0],
      'with no report at all, usage ties everywhere',
    );
  });

  it('so it loses to a node reported idle and wins over one reported busy', () => {
    const idle = new Cluster()
      .node('a', { usage: null })
      .node('b', { usage: { cpuPercent: 10, memoryBytes: 0 } })
      .node('c', { usage: { cpuPercent: 90, memoryBytes: 0 } });
    idle.replicas('web', 1);
    idle.schedule();
    assert.deepEqual(idle.placements(), { 'web.1': 'b' }, 'not taken as idle though first by id');

    const busy = new Cluster()
      .node('a', { usage: { cpuPercent: 90, memoryBytes: 0 } })
      .node('b', { usage: { cpuPercent: 10, memoryBytes: 0 } })
      .node('z', { usage: null });
    busy.running('web', 'b');
    busy.replicas('web', 1);
    busy.schedule();
    assert.deepEqual(busy.placements(), { 'web.2': 'z' }, 'not taken as busy though last by id');
  });
});
