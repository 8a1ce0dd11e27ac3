import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TaskStatus } from '../../../src/api/objects.ts';
import { isForward } from '../../../src/manager/dispatcher/index.ts';
import { SchedulerLoop } from '../../../src/manager/loops/index.ts';
import { Store } from '../../../src/store/index.ts';
import { newNode, newService, newTask } from '../../store/fixtures.ts';

const pending: TaskStatus = {
  state: 'pending',
  timestamp: '2025-01-01T00:00:00.000Z',
  message: 'created',
};

async function cluster() {
  const store = new Store({ proposer: null });
  const ids = (
    await store.update((tx) => {
      const up = tx.nodes.create(newNode('up'));
      const down = tx.nodes.create({
        ...newNode('down'),
        status: { state: 'down', message: '', addr: '' },
      });
      const svc = tx.services.create(newService('web', 2));
      return { up: up.meta.id, down: down.meta.id, svc: svc.meta.id };
    })
  ).value;
  return { store, ...ids };
}

describe('scheduler loop', () => {
  it('places tasks without a node and keeps a pre-assigned task on its own node', async () => {
    const { store, up, down, svc } = await cluster();
    const { value: t } = await store.update((tx) => ({
      free: tx.tasks.create({ ...newTask(svc, 1), status: pending }).meta.id,
      onUp: tx.tasks.create({ ...newTask(svc, 0, up), status: pending }).meta.id,
      onDown: tx.tasks.create({ ...newTask(svc, 0, down), status: pending }).meta.id,
    }));
    await new SchedulerLoop({ store }).pass();
    const get = (id: string) => store.view((tx) => tx.tasks.get(id)!);
    assert.equal(get(t.free).status.state, 'assigned');
    assert.equal(get(t.free).nodeId, up);
    assert.equal(get(t.onUp).status.state, 'assigned');
    assert.equal(get(t.onUp).nodeId, up);
    // Not moved elsewhere: left pending on its node, saying why.
    assert.equal(get(t.onDown).status.state, 'pending');
    assert.equal(get(t.onDown).nodeId, down);
    assert.equal(get(t.onDown).status.message, 'no suitable node (1 node not ready)');
  });

  it('writes an unchanged reason only once, so it does not wake itself', async () => {
    const { store, svc } = await cluster();
    await store.update((tx) => {
      tx.nodes.all().forEach((n) => {
        tx.nodes.update({ ...n, spec: { ...n.spec, availability: 'drain' } });
      });
      tx.tasks.create({ ...newTask(svc, 1), status: pending });
    });
    const loop = new SchedulerLoop({ store });
    await loop.pass();
    const index = store.index;
    await loop.pass();
    assert.equal(store.index, index);
    const [task] = store.view((tx) => tx.tasks.all());
    assert.match(task?.status.message ?? '', /^no suitable node \(/);
  });

  it('marks a task asked to stop before it was scheduled as shut down', async () => {
    const { store, svc } = await cluster();
    const { value: id } = await store.update(
      (tx) => tx.tasks.create({ ...newTask(svc, 1, '', 'shutdown'), status: pending }).meta.id,
    );
    await new SchedulerLoop({ store }).pass();
    assert.equal(
      store.view((tx) => tx.tasks.get(id)?.status.state),
      'shutdown',
    );
  });
});

describe('status reports', () => {
  const at = (state: TaskStatus['state'], s: number, message = ''): TaskStatus => ({
    state,
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, s)).toISOString(),
    message,
  });
  it('only move forward', () => {
    assert.equal(isForward(at('starting', 1), at('running', 2)), true);
    assert.equal(isForward(at('running', 2), at('starting', 3)), false);
    assert.equal(isForward(at('running', 2), at('running', 2)), false);
    assert.equal(isForward(at('running', 2), { ...at('running', 3), health: 'healthy' }), true);
    assert.equal(isForward(at('running', 3), at('running', 2, 'late')), false);
  });
});
