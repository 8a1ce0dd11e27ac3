import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { recheck } from '../../../src/manager/scheduler/index.ts';
import { Cluster, makeNode, makeTask } from './harness.ts';

describe('re-checking a plan against the latest state', () => {
  it('keeps the assignments that still hold', () => {
    const c = new Cluster().node('n1').node('n2');
    const pending = c.replicas('web', 2);
    const plan = c.schedule();
    const result = recheck({ nodes: c.nodes, tasks: pending }, plan.assignments);
    assert.deepEqual(result, { accepted: plan.assignments, refused: [] });
  });

  it('refuses what the cluster no longer allows, in plan order, counting what it keeps', () => {
    const c = new Cluster().node('n1', { cpus: 4 }).node('n2').node('n3');
    const pending = [
      ...c.replicas('web', 2, { cpus: 2 }),
      ...c.replicas('db', 1),
      ...c.replicas('api', 1),
    ];
    const plan = [
      { taskId: 'web.1', nodeId: 'n1' },
      { taskId: 'web.2', nodeId: 'n1' },
      { taskId: 'db.1', nodeId: 'n2' },
      { taskId: 'api.1', nodeId: 'n3' },
      { taskId: 'gone.1', nodeId: 'n1' },
    ];
    // Since the plan was made: another writer put 1 CPU on n1, n2 was drained, n3 was removed.
    const latest = {
      nodes: [makeNode('n1', { cpus: 4 }), makeNode('n2', { availability: 'drain' })],
      tasks: [...pending, makeTask('other', 1, { nodeId: 'n1', cpus: 1 })],
    };
    assert.deepEqual(recheck(latest, plan), {
      accepted: [{ taskId: 'web.1', nodeId: 'n1' }],
      refused: [
        { taskId: 'web.2', reason: 'node n1 changed: insufficient resources on 1 node' },
        { taskId: 'db.1', reason: 'node n2 changed: 1 node not available for new tasks' },
        { taskId: 'api.1', reason: 'node n3 no longer exists' },
        { taskId: 'gone.1', reason: 'the task changed since it was scheduled' },
      ],
    });
  });
});
