import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WatchLostError } from '../../src/errors.ts';
import { Store, type StoreEvent, type Watch } from '../../src/store/index.ts';
import { countingIds, newService, newTask, TestLog } from './fixtures.ts';

/** Reads exactly n events (a watch never ends on its own). */
async function take(watch: Watch, n: number): Promise<StoreEvent[]> {
  const out: StoreEvent[] = [];
  while (out.length < n) {
    const r = await watch.next();
    assert.equal(r.done, false, `the watch ended after ${out.length} of ${n} events`);
    out.push(r.value);
  }
  return out;
}

const brief = (e: StoreEvent) =>
  e.kind === 'commit' ? `commit@${e.index}` : `${e.kind} ${e.table} ${e.object.meta.id}@${e.index}`;

describe('watch', () => {
  it('delivers each applied change in apply order, with its kind and index', async () => {
    const store = new Store({ proposer: null, newId: countingIds() });
    const watch = store.watch();
    const { value: svc, index: i1 } = await store.update((tx) =>
      tx.services.create(newService('web')),
    );
    const { index: i2 } = await store.update((tx) => {
      tx.tasks.create(newTask(svc.meta.id, 1));
      tx.tasks.create(newTask(svc.meta.id, 2));
    });
    const { index: i3 } = await store.update((tx) => {
      const s = tx.services.get(svc.meta.id)!;
      tx.services.update({ ...s, spec: { ...s.spec, labels: { a: 'b' } } });
      tx.tasks.delete('id-2');
    });

    const events = await take(watch, 5);
    assert.deepEqual(events.map(brief), [
      `create services id-1@${i1}`,
      `create tasks id-2@${i2}`,
      `create tasks id-3@${i2}`,
      `update services id-1@${i3}`,
      `delete tasks id-2@${i3}`,
    ]);
    const update = events[3]!;
    assert.ok(update.kind === 'update' && update.table === 'services');
    assert.deepEqual(update.previous.spec.labels, {});
    assert.deepEqual(update.object.spec.labels, { a: 'b' });
    assert.equal(update.object.meta.version, i3);
    watch.end();
    assert.deepEqual(await watch.next(), { value: undefined, done: true });
  });

  it('filters by table and kind, and marks the end of each command when asked', async () => {
    const store = new Store({ proposer: null, newId: countingIds() });
    const watch = store.watch({ table: 'tasks', kind: ['create', 'commit'] });
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    const { index } = await store.update((tx) => {
      tx.tasks.create(newTask(svc.meta.id, 1));
      tx.tasks.create(newTask(svc.meta.id, 2));
    });
    const { index: last } = await store.update((tx) => tx.tasks.delete('id-3'));
    assert.deepEqual((await take(watch, 4)).map(brief), [
      `create tasks id-2@${index}`,
      `create tasks id-3@${index}`,
      `commit@${index}`,
      // The delete is filtered out, but the command touched the table: a loop reconciles.
      `commit@${last}`,
    ]);
  });

  it('viewAndWatch: the view and the watch meet with no gap and no overlap', async () => {
    const log = new TestLog();
    const store = log.join(new Store({ proposer: log, newId: countingIds() }));
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    const create = (slot: number) =>
      store.update((tx) => tx.tasks.create(newTask(svc.meta.id, slot)));
    await create(1);
    await create(2);
    log.holding = true;
    // Proposed before the view is taken, applied after: they must come as events.
    const inFlight = [create(3), create(4)];

    const {
      value: seen,
      index,
      watch,
    } = store.viewAndWatch((tx) => tx.tasks.byService(svc.meta.id).map((t) => t.meta.id), {
      table: 'tasks',
    });
    log.flush();
    log.holding = false;
    await Promise.all(inFlight);
    await create(5);

    const events = await take(watch, 3);
    const watched = events.map((e) => (e.kind === 'commit' ? '' : e.object.meta.id));
    assert.ok(events.every((e) => e.index > index));
    assert.deepEqual(seen, ['id-2', 'id-3']);
    assert.deepEqual(watched, ['id-4', 'id-5', 'id-6']);
    const all = store.view((tx) => tx.tasks.all().map((t) => t.meta.id));
    assert.deepEqual([...seen, ...watched].sort(), all.sort());
  });

  it('closes a watch that is not consumed with WatchLostError, while apply carries on', async () => {
    const store = new Store({ proposer: null, watchLimit: 5 });
    const slow = store.watch();
    const healthy = store.watch();
    const { value: svc } = await store.update((tx) => tx.services.create(newService('web')));
    for (let slot = 1; slot <= 10; slot++) {
      await store.update((tx) => tx.tasks.create(newTask(svc.meta.id, slot)));
      // The healthy consumer keeps up.
      assert.equal((await healthy.next()).done, false);
    }
    assert.equal(
      store.view((tx) => tx.tasks.all().length),
      10,
      'every write applied',
    );
    await assert.rejects(slow.next(), (err: unknown) => {
      assert.ok(err instanceof WatchLostError);
      assert.equal(err.code, 'ORCA_WATCH_LOST');
      assert.match(err.message, /fell more than 5 events behind/);
      return true;
    });
    assert.deepEqual(await slow.next(), { value: undefined, done: true });
  });

  it('wakes a waiting consumer with WatchLostError when the store is restored from a snapshot', async () => {
    const store = new Store({ proposer: null });
    const watch = store.watch();
    const waiting = watch.next();
    store.restore(new Store({ proposer: null }).snapshot());
    await assert.rejects(waiting, /replaced by a snapshot/);
  });

  it('ends when its signal aborts, and a for-await loop finishes normally', async () => {
    const store = new Store({ proposer: null });
    const ac = new AbortController();
    const watch = store.watch({}, { signal: ac.signal });
    const seen: string[] = [];
    const loop = (async () => {
      for await (const e of watch) {
        seen.push(e.kind);
        ac.abort();
      }
    })();
    await store.update((tx) => tx.services.create(newService('web')));
    await loop;
    assert.deepEqual(seen, ['create']);
  });

  it('subscribe calls back synchronously at the end of apply until unsubscribed', async () => {
    const store = new Store({ proposer: null, newId: countingIds() });
    const seen: string[] = [];
    const unsubscribe = store.subscribe((e) => seen.push(brief(e)), { table: 'services' });
    const { index } = await store.update((tx) => tx.services.create(newService('web')));
    assert.deepEqual(seen, [`create services id-1@${index}`]);
    unsubscribe();
    await store.update((tx) => tx.services.create(newService('api')));
    assert.equal(seen.length, 1);
  });
});
