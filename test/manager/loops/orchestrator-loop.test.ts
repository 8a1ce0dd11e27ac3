// The orchestrator loop running on a local store, the workers played by the test: which commits
// wake a pass, and a service's deadline kept while passes look at other services only.

import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Task, TaskState } from '../../../src/api/objects.ts';
import { OrchestratorLoop } from '../../../src/manager/loops/index.ts';
import { type ReadTx, Store } from '../../../src/store/index.ts';
import { newNode, newService, serviceSpec } from '../../store/fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/** Counts the loop's reads: one view per pass. */
class CountingStore extends Store {
  views = 0;
  override view<R>(fn: (tx: ReadTx) => R): R {
    this.views++;
    return super.view(fn);
  }
}

describe('orchestrator loop', () => {
  let halt: AbortController | null = null;
  afterEach(() => halt?.abort());

  async function cluster() {
    const store = new CountingStore({ proposer: null });
    const node = (await store.update((tx) => tx.nodes.create(newNode('n1')).meta.id)).value;
    halt = new AbortController();
    const loop = new OrchestratorLoop({ store, retryMs: 50 });
    const running = loop.run(halt.signal);
    const tasksOf = (serviceId: string) => store.view((tx) => tx.tasks.byService(serviceId));
    /** Moves a task's observed state as a worker's report would. */
    const report = (task: Task, state: TaskState, extra: object = {}) =>
      store.update((tx) => {
        const t = tx.tasks.get(task.meta.id)!;
        tx.tasks.update({
          ...t,
          nodeId: node,
          status: { state, message: state, timestamp: new Date().toISOString(), ...extra },
        });
      });
    return { store, running, tasksOf, report };
  }

  it('does not wake for the steps a worker reports before running', async () => {
    const { store, tasksOf, report } = await cluster();
    const svc = (await store.update((tx) => tx.services.create(newService('web', 1)).meta.id))
      .value;
    const [task] = await waitFor(() => (tasksOf(svc).length === 1 ? tasksOf(svc) : null));
    // As the scheduler: the task gets its node, which a decision reads.
    await report(task!, 'assigned');
    await delay(50);
    const views = store.views;
    for (const state of ['accepted', 'preparing', 'starting'] as const) {
      await report(task!, state);
    }
    await report(task!, 'starting', { containerId: 'c1' });
    await delay(100);
    assert.equal(store.views, views, 'no pass for steps no decision reads');

    await report(task!, 'failed', { containerId: 'c1' });
    await waitFor(() => store.views > views, { what: 'a pass after the task failed' });
  });

  it("keeps a service's deadline while passes look at another service only", async () => {
    const { store, tasksOf, report } = await cluster();
    const { a, b } = (
      await store.update((tx) => {
        const spec = serviceSpec('b', 1);
        return {
          a: tx.services.create(newService('a', 1)).meta.id,
          // Restarted 300 ms after it fails: only the deadline brings the successor.
          b: tx.services.create({
            spec: {
              ...spec,
              task: { ...spec.task, restart: { ...spec.task.restart, delayMs: 300 } },
            },
            previousSpec: null,
            updateStatus: null,
          }).meta.id,
        };
      })
    ).value;
    const [ta] = await waitFor(() => (tasksOf(a).length === 1 ? tasksOf(a) : null));
    const [tb] = await waitFor(() => (tasksOf(b).length === 1 ? tasksOf(b) : null));
    await report(ta!, 'running');
    await report(tb!, 'failed');
    const failedAt = Date.now();
    // Commits to a's task meanwhile, each a pass over a alone.
    const touching = (async () => {
      for (let i = 0; i < 8; i++) {
        await delay(50);
        await report(ta!, 'running');
      }
    })();
    const replaced = await waitFor(() => tasksOf(b).find((t) => t.meta.id !== tb!.meta.id), {
      what: "b's failed task replaced",
      timeoutMs: 5_000,
    });
    await touching;
    assert.ok(Date.now() - failedAt >= 250, 'not before the restart delay');
    assert.equal(replaced.slot, 1);
  });
});
