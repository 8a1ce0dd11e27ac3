import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreFormatError } from '../../src/errors.ts';
import { Store } from '../../src/store/index.ts';
import { newNode, newService, newTask, TestLog } from './fixtures.ts';

describe('snapshot and restore', () => {
  it('rebuilds the tables and their indexes: the restored store reads and writes as the original', async () => {
    const original = new Store({ proposer: null });
    const { value: svc } = await original.update((tx) => {
      tx.nodes.create(newNode('h1'));
      return tx.services.create(newService('web', 3));
    });
    await original.batch((tx) => {
      for (let slot = 1; slot <= 3; slot++)
        tx.tasks.create(newTask(svc.meta.id, slot, `n${slot % 2}`));
    });
    const snap = original.snapshot();
    assert.equal(JSON.parse(new TextDecoder().decode(snap)).version, 1);

    const restored = new Store({ proposer: null });
    restored.restore(snap);
    assert.equal(restored.index, original.index);
    assert.deepEqual(restored.snapshot(), snap);
    // Lookups promise no order, so they are compared as sets.
    const bySlot = (tasks: readonly { slot: number }[]) =>
      [...tasks].sort((a, b) => a.slot - b.slot);
    const read = (s: Store) =>
      s.view((tx) => ({
        web: tx.services.byName('web'),
        byService: bySlot(tx.tasks.byService(svc.meta.id)),
        n1: bySlot(tx.tasks.byNode('n1')).map((t) => t.slot),
        running: tx.tasks.byDesiredState('running').length,
        hosts: tx.nodes.byHostname('h1').length,
      }));
    assert.deepEqual(read(restored), read(original));
    assert.ok(Object.isFrozen(restored.view((tx) => tx.services.byName('web'))));

    // Versions survive, so a write based on a version read before the snapshot still applies.
    const task = original.view((tx) => tx.tasks.byNode('n1')[0]!);
    await restored.update((tx) => tx.tasks.update({ ...task, nodeId: 'n0' }));
    const onNode = (node: string) =>
      restored.view((tx) => tx.tasks.byNode(node).map((t) => t.meta.id));
    assert.ok(!onNode('n1').includes(task.meta.id));
    assert.ok(onNode('n0').includes(task.meta.id));
  });

  it('gives a member restored from a snapshot and one that replayed the log the same state', async () => {
    const log = new TestLog();
    const leader = log.join(new Store({ proposer: log }));
    const { value: svc } = await leader.update((tx) => tx.services.create(newService('web')));
    await leader.update((tx) => tx.tasks.create(newTask(svc.meta.id, 1)));
    const late = new Store({ proposer: null });
    late.restore(leader.snapshot());
    log.join(late);
    await leader.update((tx) => tx.tasks.create(newTask(svc.meta.id, 2)));
    assert.deepEqual(late.snapshot(), leader.snapshot());
  });

  it('restores an empty snapshot as an empty store, and refuses one of an unknown layout', () => {
    const store = new Store({ proposer: null });
    store.restore(new Uint8Array(0));
    assert.equal(store.index, 0);
    assert.throws(
      () => store.restore(new TextEncoder().encode('{"version":2,"index":1,"tables":{}}')),
      (err: unknown) => err instanceof StoreFormatError && /layout version 2/.test(err.message),
    );
  });
});
