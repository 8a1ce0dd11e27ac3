import assert from 'node:assert/strict';
import { it } from 'node:test';
import { schedule } from '../../../src/manager/scheduler/index.ts';
import { makeNode, makeTask } from './harness.ts';

// The size a large Swarm cluster reaches: 1,000 pending tasks over 1,000 nodes, with the
// constraint, preference and max-replicas paths all exercised. The time is reported, not
// asserted, so a slow CI machine does not fail it; the plan is asserted in full.
it('schedules 1,000 tasks over 1,000 nodes', (t) => {
  const zones = ['a', 'b', 'c', 'd'];
  const nodes = Array.from({ length: 1000 }, (_, i) =>
    makeNode(`node-${String(i).padStart(4, '0')}`, {
      labels: { zone: zones[i % zones.length]! },
      role: i < 3 ? 'manager' : 'worker',
      usage: { cpuPercent: (i * 37) % 100, memoryBytes: 0 },
    }),
  );
  const services = Array.from({ length: 10 }, (_, s) => `svc-${s}`);
  const pending = services.flatMap((svc) =>
    Array.from({ length: 100 }, (_, i) =>
      makeTask(svc, i + 1, {
        cpus: 0.25,
        constraints: ['node.role==worker'],
        spread: ['node.labels.zone'],
        maxPerNode: 1,
      }),
    ),
  );

  const started = performance.now();
  const plan = schedule({ nodes, tasks: pending }, pending);
  t.diagnostic(
    `scheduled 1000 tasks over 1000 nodes in ${(performance.now() - started).toFixed(0)} ms`,
  );

  assert.equal(plan.unschedulable.length, 0);
  assert.equal(plan.assignments.length, 1000);
  const zoneOf = new Map(nodes.map((n) => [n.meta.id, n.spec.labels.zone]));
  const perNode = new Map<string, number>();
  const perServiceZone = new Map<string, number>();
  for (const a of plan.assignments) {
    perNode.set(a.nodeId, (perNode.get(a.nodeId) ?? 0) + 1);
    const key = `${a.taskId.split('.')[0]} ${zoneOf.get(a.nodeId)}`;
    perServiceZone.set(key, (perServiceZone.get(key) ?? 0) + 1);
  }
  assert.equal(perNode.has('node-0000'), false, 'managers are excluded');
  // 1,000 tasks on 997 workers: no node gets more than 2, and each service splits 25 per zone.
  assert.ok(Math.max(...perNode.values()) <= 2);
  assert.equal(perNode.size, 997);
  for (const svc of services) {
    for (const zone of zones)
      assert.equal(perServiceZone.get(`${svc} ${zone}`), 25, `${svc} ${zone}`);
  }
});
