import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NotFoundError } from '../../src/errors.ts';
import { Store } from '../../src/store/index.ts';
import { countingIds, newNode, newService, newTask, steppingClock } from './fixtures.ts';

function localStore(): Store {
  return new Store({ proposer: null, now: steppingClock(), newId: countingIds() });
}

const ids = (objs: readonly { meta: { id: string } }[]) => objs.map((o) => o.meta.id).sort();

describe('tables: create, read, update, delete', () => {
  it('creates an object with an id, timestamps, and the index it was applied at as its version', async () => {
    const store = localStore();
    const { value: created, index } = await store.update((tx) =>
      tx.services.create(newService('web')),
    );
    assert.equal(created.meta.version, 0, 'not yet applied inside the transaction');

    const web = store.view((tx) => tx.services.get(created.meta.id))!;
    assert.equal(web.spec.name, 'web');
    assert.equal(web.meta.version, index);
    assert.equal(web.meta.createdAt, '2025-01-01T00:00:01.000Z');
    assert.equal(web.meta.updatedAt, web.meta.createdAt);
    assert.equal(store.view((tx) => tx.services.byName('web'))?.meta.id, web.meta.id);
    assert.equal(
      store.view((tx) => tx.get('services', web.meta.id)),
      web,
    );
  });

  it('generates Swarm-style ids: 25 characters of lowercase base 36', async () => {
    const store = new Store({ proposer: null });
    const { value } = await store.update((tx) =>
      [1, 2, 3].map((i) => tx.nodes.create(newNode(`h${i}`))),
    );
    for (const n of value) assert.match(n.meta.id, /^[0-9a-z]{25}$/);
    assert.equal(new Set(value.map((n) => n.meta.id)).size, 3);
  });

  it('keeps the task indexes right when a task moves between nodes and changes desired state', async () => {
    const store = localStore();
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web', 3)));
    const sid = svc.meta.id;
    const { value: tasks } = await store.update((tx) => [
      tx.tasks.create(newTask(sid, 1, 'n1')),
      tx.tasks.create(newTask(sid, 2, 'n1')),
      tx.tasks.create(newTask(sid, 3)),
    ]);
    const [t1, t2, t3] = tasks;
    assert.deepEqual(
      store.view((tx) => ids(tx.tasks.byNode('n1'))),
      ids([t1!, t2!]),
    );
    assert.deepEqual(
      store.view((tx) => ids(tx.tasks.byNode(''))),
      [t3!.meta.id],
      'unassigned',
    );

    await store.update((tx) => {
      const t = tx.tasks.get(t2!.meta.id)!;
      tx.tasks.update({ ...t, nodeId: 'n2', desiredState: 'shutdown' });
      const u = tx.tasks.get(t3!.meta.id)!;
      tx.tasks.update({ ...u, nodeId: 'n2' });
    });

    store.view((tx) => {
      assert.deepEqual(ids(tx.tasks.byNode('n1')), [t1!.meta.id]);
      assert.deepEqual(ids(tx.tasks.byNode('n2')), ids([t2!, t3!]));
      assert.deepEqual(tx.tasks.byNode(''), []);
      assert.deepEqual(ids(tx.tasks.byDesiredState('running')), ids([t1!, t3!]));
      assert.deepEqual(ids(tx.tasks.byDesiredState('shutdown')), [t2!.meta.id]);
      assert.deepEqual(ids(tx.tasks.byService(sid)), ids([t1!, t2!, t3!]));
      assert.deepEqual(ids(tx.find('tasks', { by: 'node', value: 'n2' })), ids([t2!, t3!]));
    });
  });

  it('removes a deleted object from every index', async () => {
    const store = localStore();
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    const { value: task } = await store.update((tx) =>
      tx.tasks.create(newTask(svc.meta.id, 1, 'n1')),
    );
    await store.update((tx) => {
      tx.tasks.delete(task.meta.id);
      tx.services.delete(svc.meta.id);
    });
    store.view((tx) => {
      assert.equal(tx.tasks.get(task.meta.id), undefined);
      assert.deepEqual(tx.tasks.byService(svc.meta.id), []);
      assert.deepEqual(tx.tasks.byNode('n1'), []);
      assert.deepEqual(tx.tasks.byDesiredState('running'), []);
      assert.deepEqual(tx.tasks.all(), []);
      assert.equal(tx.services.byName('web'), undefined);
    });
    // The name is free again.
    await store.update((tx) => tx.services.create(newService('web')));
  });

  it('lets two nodes share a hostname: that index is not unique', async () => {
    const store = localStore();
    await store.update((tx) => {
      tx.nodes.create(newNode('clone'));
      tx.nodes.create(newNode('clone'));
    });
    assert.equal(store.view((tx) => tx.nodes.byHostname('clone')).length, 2);
  });

  it('gives frozen objects and lists: a reader cannot change the live state', async () => {
    const store = localStore();
    const { value } = await store.update((tx) => tx.services.create(newService('web')));
    const web = store.view((tx) => tx.services.get(value.meta.id))!;
    assert.ok(Object.isFrozen(web));
    assert.ok(Object.isFrozen(web.spec.task.container.env));
    assert.throws(() => {
      (web.spec as { name: string }).name = 'evil';
    }, TypeError);
    const all = store.view((tx) => tx.services.all());
    assert.throws(() => (all as unknown[]).push(web), TypeError);
    assert.equal(store.view((tx) => tx.services.get(value.meta.id))!.spec.name, 'web');
  });

  it('reads its own writes inside a transaction, through the indexes too', async () => {
    const store = localStore();
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    await store.update((tx) => {
      const t = tx.tasks.create(newTask(svc.meta.id, 1));
      assert.deepEqual(ids(tx.tasks.byService(svc.meta.id)), [t.meta.id]);
      tx.tasks.update({ ...t, nodeId: 'n9' });
      assert.deepEqual(tx.tasks.byNode(''), []);
      assert.deepEqual(ids(tx.tasks.byNode('n9')), [t.meta.id]);
      tx.services.delete(svc.meta.id);
      assert.equal(tx.services.byName('web'), undefined);
      // Nothing is live before the command is applied.
      assert.equal(
        store.view((v) => v.tasks.all().length),
        0,
      );
    });
  });

  it('refuses to update or delete an object that does not exist', async () => {
    const store = localStore();
    await assert.rejects(
      store.update((tx) => tx.services.delete('nope')),
      (err: unknown) => err instanceof NotFoundError && /service nope not found/.test(err.message),
    );
  });

  it('refuses an async callback and a write after the callback returned', async () => {
    const store = localStore();
    await assert.rejects(
      store.update(async (tx) => tx.services.create(newService('web'))),
      /synchronous callback/,
    );
    let leaked: Parameters<Parameters<Store['update']>[0]>[0] | undefined;
    await store.update((tx) => {
      leaked = tx;
    });
    assert.throws(() => leaked!.services.create(newService('late')), { code: 'ORCA_TX_CLOSED' });
    assert.equal(
      store.view((tx) => tx.services.all().length),
      0,
    );
  });
});
