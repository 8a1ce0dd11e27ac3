import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reconcileGlobal } from '../../../src/manager/orchestrator/index.ts';
import {
  at,
  createdNodes,
  global,
  makeNode,
  makeService,
  makeTask,
  shutdowns,
} from './builders.ts';

const three = [makeNode('n1'), makeNode('n2'), makeNode('n3')];

describe('global orchestrator', () => {
  it('creates one task per node, assigned to it, slot 0', () => {
    const service = makeService(global);
    const plan = reconcileGlobal(service, [], three, at(0));
    assert.deepEqual(createdNodes(plan), ['n1', 'n2', 'n3']);
    assert.ok(plan.create.every((t) => t.slot === 0 && t.status.state === 'pending'));
  });

  it('gives a node that joins a task of its own, and no other node a second', () => {
    const service = makeService(global);
    const tasks = three.map((n) => makeTask(`t-${n.meta.id}`, service, { node: n.meta.id }));
    const plan = reconcileGlobal(service, tasks, [...three, makeNode('n4')], at(10));
    assert.deepEqual(createdNodes(plan), ['n4']);
    assert.deepEqual(plan.update, []);
  });

  it("shuts down a drained node's task and gives it no other", () => {
    const service = makeService(global);
    const tasks = three.map((n) => makeTask(`t-${n.meta.id}`, service, { node: n.meta.id }));
    const nodes = [makeNode('n1'), makeNode('n2', { availability: 'drain' }), makeNode('n3')];
    const plan = reconcileGlobal(service, tasks, nodes, at(10));
    assert.deepEqual(shutdowns(plan), ['t-n2']);
    assert.equal(plan.update[0]!.reason, 'node is drained');
    assert.deepEqual(plan.create, []);
  });

  it("shuts down a removed node's task; keeps a down or paused node's", () => {
    const service = makeService(global);
    const tasks = three.map((n) => makeTask(`t-${n.meta.id}`, service, { node: n.meta.id }));
    const nodes = [makeNode('n1', { state: 'down' }), makeNode('n2', { availability: 'pause' })];
    const plan = reconcileGlobal(service, tasks, nodes, at(10));
    assert.deepEqual(shutdowns(plan), ['t-n3']);
    assert.deepEqual(plan.create, []);
  });

  it('a constraint excludes a node, and a node leaving the constraint loses its task', () => {
    const service = makeService(global, { constraints: ['node.labels.zone==east'] });
    const east = { labels: { zone: 'east' } };
    const nodes = [
      makeNode('n1', east),
      makeNode('n2', { labels: { zone: 'west' } }),
      makeNode('n3', east),
    ];
    assert.deepEqual(createdNodes(reconcileGlobal(service, [], nodes, at(0))), ['n1', 'n3']);

    const tasks = ['n1', 'n2', 'n3'].map((n) => makeTask(`t-${n}`, service, { node: n }));
    const plan = reconcileGlobal(service, tasks, nodes, at(10));
    assert.deepEqual(shutdowns(plan), ['t-n2']);
    assert.equal(plan.update[0]!.reason, 'node no longer satisfies the placement constraints');
  });

  it('a down or not-ready node gets no new task', () => {
    const service = makeService(global);
    const nodes = [makeNode('n1', { state: 'down' }), makeNode('n2', { state: 'unknown' })];
    assert.deepEqual(reconcileGlobal(service, [], nodes, at(0)).create, []);
  });

  it("restarts a failed task on the same node, counting that node's history", () => {
    const service = makeService(global, { restart: { delayMs: 0, maxAttempts: 1 } });
    const failed = makeTask('t1', service, { node: 'n1', state: 'failed', at: 5 });
    const plan = reconcileGlobal(service, [failed], [makeNode('n1')], at(5));
    assert.deepEqual(shutdowns(plan), ['t1']);
    assert.deepEqual(createdNodes(plan), ['n1']);

    const again = makeTask('t2', service, { node: 'n1', state: 'failed', at: 9 });
    const old = { ...failed, desiredState: 'shutdown' as const };
    const exhausted = reconcileGlobal(service, [old, again], [makeNode('n1')], at(9));
    assert.deepEqual(exhausted.create, []);
  });
});
