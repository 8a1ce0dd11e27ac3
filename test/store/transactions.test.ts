import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  AlreadyExistsError,
  BatchIncompleteError,
  NameConflictError,
  StoreConflictError,
  TransactionTooLargeError,
} from '../../src/errors.ts';
import { Store } from '../../src/store/index.ts';
import { countingIds, newService, newTask, steppingClock, TestLog } from './fixtures.ts';

function localStore(): Store {
  return new Store({ proposer: null, now: steppingClock(), newId: countingIds() });
}

describe('transactions: optimistic concurrency', () => {
  it('refuses a whole transaction when one object in it is stale, and applies nothing of it', async () => {
    const store = localStore();
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    const { value: task } = await store.update((tx) => tx.tasks.create(newTask(svc.meta.id, 1)));
    const staleTask = store.view((tx) => tx.tasks.get(task.meta.id))!;
    await store.update((tx) => tx.tasks.update({ ...staleTask, nodeId: 'n1' }));
    const before = store.snapshot();

    await assert.rejects(
      store.update((tx) => {
        const s = tx.services.get(svc.meta.id)!;
        tx.services.update({ ...s, spec: { ...s.spec, labels: { touched: 'yes' } } });
        tx.tasks.update({ ...staleTask, nodeId: 'n2' });
      }),
      (err: unknown) =>
        err instanceof StoreConflictError &&
        err.id === task.meta.id &&
        err.expected === staleTask.meta.version &&
        /task id-2 changed meanwhile \(the write was based on version 2, the stored one is 3\)/.test(
          err.message,
        ),
    );
    assert.deepEqual(store.view((tx) => tx.services.get(svc.meta.id))!.spec.labels, {});
    assert.deepEqual(store.snapshot(), before);
  });

  it('lets the first of two transactions that read the same version win; the second fails at apply', async () => {
    const log = new TestLog();
    const store = log.join(
      new Store({ proposer: log, now: steppingClock(), newId: countingIds() }),
    );
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web', 1)));
    const version = store.view((tx) => tx.services.get(svc.meta.id))!.meta.version;

    const scale = (replicas: number) =>
      store.update((tx) => {
        const s = tx.services.get(svc.meta.id)!;
        tx.services.update({ ...s, spec: { ...s.spec, mode: { kind: 'replicated', replicas } } });
        // A second object, so the refusal is seen to be all or nothing.
        tx.tasks.create(newTask(svc.meta.id, replicas));
      });
    log.holding = true;
    const first = scale(5);
    const second = scale(7);
    assert.equal(log.held, 2, 'both proposed from the same version');
    log.flush();

    const { index } = await first;
    await assert.rejects(second, (err: unknown) => {
      assert.ok(err instanceof StoreConflictError);
      assert.equal(err.expected, version);
      assert.equal(err.actual, index);
      return true;
    });
    store.view((tx) => {
      assert.deepEqual(tx.services.get(svc.meta.id)!.spec.mode, {
        kind: 'replicated',
        replicas: 5,
      });
      assert.deepEqual(
        tx.tasks.all().map((t) => t.slot),
        [5],
      );
    });
  });

  it('refuses a stale delete', async () => {
    const log = new TestLog();
    const store = log.join(new Store({ proposer: log, newId: countingIds() }));
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    log.holding = true;
    const rename = store.update((tx) => {
      const s = tx.services.get(svc.meta.id)!;
      tx.services.update({ ...s, spec: { ...s.spec, name: 'www' } });
    });
    const remove = store.update((tx) => tx.services.delete(svc.meta.id));
    log.flush();
    await rename;
    await assert.rejects(remove, StoreConflictError);
    assert.equal(store.view((tx) => tx.services.byName('www'))?.meta.id, svc.meta.id);
  });
});

describe('transactions: uniqueness', () => {
  it('refuses a second service with a taken name, on the proposer and at apply', async () => {
    const log = new TestLog();
    const store = log.join(new Store({ proposer: log, newId: countingIds() }));
    log.holding = true;
    const first = store.update((tx) => tx.services.create(newService('web')));
    // Proposed before the first applied: only apply can see the clash.
    const second = store.update((tx) => tx.services.create(newService('web')));
    log.flush();
    log.holding = false;
    await first;
    await assert.rejects(second, (err: unknown) => {
      assert.ok(err instanceof NameConflictError);
      assert.equal(err.code, 'ORCA_NAME_TAKEN');
      assert.match(err.message, /service name 'web' is already taken by service id-1/);
      return true;
    });
    // Proposed after: refused without a round trip.
    await assert.rejects(
      store.update((tx) => tx.services.create(newService('web'))),
      NameConflictError,
    );
    assert.equal(log.entries.length, 2);
    assert.equal(
      store.view((tx) => tx.services.all().length),
      1,
    );
  });

  it('checks names on the final state of a transaction: a swap of two names is valid', async () => {
    const store = localStore();
    const { value } = await store.update((tx) => [
      tx.services.create(newService('blue')),
      tx.services.create(newService('green')),
    ]);
    const [blueId, greenId] = value.map((s) => s.meta.id);
    await store.update((tx) => {
      const blue = tx.services.get(blueId!)!;
      const green = tx.services.get(greenId!)!;
      tx.services.update({ ...blue, spec: { ...blue.spec, name: 'green' } });
      tx.services.update({ ...green, spec: { ...green.spec, name: 'blue' } });
    });
    assert.equal(store.view((tx) => tx.services.byName('green'))?.meta.id, blueId);
    assert.equal(store.view((tx) => tx.services.byName('blue'))?.meta.id, greenId);
  });

  it('refuses a create with an id that is already stored', async () => {
    const store = localStore();
    await store.update((tx) => tx.services.create(newService('web'), { id: 'svc1' }));
    await assert.rejects(
      store.update((tx) => tx.services.create(newService('api'), { id: 'svc1' })),
      (err: unknown) =>
        err instanceof AlreadyExistsError && err.message === 'service svc1 already exists',
    );
  });
});

describe('apply', () => {
  it('is deterministic: two members fed the same commands end identical, refusals included', async () => {
    const log = new TestLog();
    const leader = log.join(new Store({ proposer: log, now: steppingClock() }));
    const follower = log.join(new Store({ proposer: null }));
    const { value: svc } = await leader.update((tx) => tx.services.create(newService('web', 2)));
    log.holding = true;
    const pending: Promise<unknown>[] = [];
    for (let i = 1; i <= 20; i++) {
      pending.push(leader.update((tx) => tx.tasks.create(newTask(svc.meta.id, i, `n${i % 3}`))));
    }
    // Proposed together from one version: one wins, the other is refused on both members.
    for (const replicas of [3, 4]) {
      pending.push(
        leader.update((tx) => {
          const s = tx.services.get(svc.meta.id)!;
          tx.services.update({ ...s, spec: { ...s.spec, mode: { kind: 'replicated', replicas } } });
        }),
      );
    }
    log.flush();
    log.holding = false;
    const outcomes = await Promise.allSettled(pending);
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 1);
    const t = leader.view((tx) => tx.tasks.byNode('n1')[0]!);
    await leader.update((tx) => tx.tasks.update({ ...t, nodeId: 'n2' }));
    await leader.update((tx) => tx.services.delete(svc.meta.id));

    assert.equal(follower.index, leader.index);
    assert.deepEqual(follower.snapshot(), leader.snapshot());
  });
});

describe('batch', () => {
  it('splits 10 000 task creations into bounded commands and applies them all', async () => {
    const log = new TestLog();
    const store = log.join(new Store({ proposer: log }));
    const { value: svc } = await store.update((tx) =>
      tx.services.create(newService('big', 10_000)),
    );
    const { changes, commands } = await store.batch((tx) => {
      for (let slot = 1; slot <= 10_000; slot++) tx.tasks.create(newTask(svc.meta.id, slot));
    });
    assert.equal(changes, 10_000);
    assert.equal(log.entries.length, 1 + commands);
    assert.ok(commands >= 10, `split into ${commands} commands`);
    for (const c of log.entries) assert.ok(c.length <= 512 * 1024, `command of ${c.length} bytes`);
    assert.equal(
      store.view((tx) => tx.tasks.byService(svc.meta.id).length),
      10_000,
    );
    assert.equal(
      store.view((tx) => tx.tasks.byNode('').length),
      10_000,
    );
  });

  it('says how far a batch got when one of its commands is refused', async () => {
    const log = new TestLog();
    const store = log.join(
      new Store({ proposer: log, newId: countingIds('t'), maxChangesPerCommand: 10 }),
    );
    log.holding = true;
    const batch = store.batch((tx) => {
      for (let slot = 1; slot <= 25; slot++) tx.tasks.create(newTask('s', slot));
    });
    // Ahead of the batch's third command, another write takes an id that command creates.
    const racer = store.update((tx) => tx.tasks.create(newTask('s', 99), { id: 't-24' }));
    log.holding = false;
    log.flush();
    await racer;
    await assert.rejects(batch, (err: unknown) => {
      assert.ok(err instanceof BatchIncompleteError);
      assert.equal(err.appliedChanges, 20);
      assert.equal(err.totalChanges, 25);
      assert.ok(err.cause instanceof AlreadyExistsError);
      assert.match(err.message, /batch stopped after 20 of 25 changes: task t-24 already exists/);
      return true;
    });
    assert.equal(
      store.view((tx) => tx.tasks.all().length),
      21,
    );
  });

  it('refuses an update too large for one log entry and points to batch()', async () => {
    const store = new Store({ proposer: null, maxChangesPerCommand: 100 });
    await assert.rejects(
      store.update((tx) => {
        for (let slot = 1; slot <= 101; slot++) tx.tasks.create(newTask('s', slot));
      }),
      (err: unknown) =>
        err instanceof TransactionTooLargeError && /store\.batch\(\)/.test(err.message),
    );
    assert.equal(
      store.view((tx) => tx.tasks.all().length),
      0,
    );
  });
});
