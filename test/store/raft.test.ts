import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { RaftNode } from '../../src/raft/node.ts';
import { Store } from '../../src/store/index.ts';
import { waitFor } from '../support/wait.ts';
import { newService, newTask } from './fixtures.ts';

const tempRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'orca-store-raft-'));
after(() => fs.rmSync(tempRoot, { recursive: true, force: true }));

const silent = { info() {}, warn() {}, debug() {} };

/** A one-member cluster whose state machine is a store, proposing through its own node. */
async function startMember(dataDir: string, snapshotEvery?: number) {
  let node: RaftNode | null = null;
  const store = new Store({
    proposer: {
      propose: (command) => {
        if (node === null) throw new Error('the raft node is not started yet');
        return node.propose(command);
      },
    },
  });
  node = await RaftNode.start({
    id: 'm1',
    clusterId: 'c',
    dataDir,
    listenAddr: '127.0.0.1:0',
    initialCluster: [{ id: 'm1', addr: '127.0.0.1:0' }],
    tickMs: 10,
    ...(snapshotEvery === undefined ? {} : { snapshotEvery }),
    machine: store,
    logger: silent,
  });
  const started = node;
  await waitFor(() => started.status().leader === 'm1', { what: 'm1 elected' });
  // Entries committed before a restart are applied once the new term's first entry commits.
  await started.linearizableBarrier();
  return { node: started, store };
}

describe('the store on a real Raft member', () => {
  for (const snapshotEvery of [undefined, 3]) {
    const how =
      snapshotEvery === undefined ? 'replaying the log' : 'from a snapshot plus the log after it';
    it(`applies updates through the log and rebuilds them after a restart, ${how}`, async () => {
      const dataDir = path.join(tempRoot, `m1-${snapshotEvery ?? 'log'}`);
      const first = await startMember(dataDir, snapshotEvery);
      // A failed assertion must still stop the member: its gRPC server would keep the test
      // process alive forever.
      let firstStopped = false;
      after(async () => {
        if (!firstStopped) await first.node.stop();
      });
      const { value: svc, index } = await first.store.update((tx) =>
        tx.services.create(newService('web', 3)),
      );
      assert.ok(index > 0);
      assert.equal(first.store.view((tx) => tx.services.get(svc.meta.id))?.meta.version, index);
      await first.store.batch((tx) => {
        for (let slot = 1; slot <= 3; slot++) tx.tasks.create(newTask(svc.meta.id, slot));
      });
      for (let slot = 1; slot <= 3; slot++) {
        await first.store.update((tx) => {
          const t = tx.tasks.byService(svc.meta.id).find((x) => x.slot === slot)!;
          tx.tasks.update({ ...t, nodeId: `n${slot}` });
        });
      }
      // A stale write is refused through the log too.
      const stale = first.store.view((tx) => tx.services.get(svc.meta.id))!;
      await first.store.update((tx) =>
        tx.services.update({ ...stale, spec: { ...stale.spec, labels: { v: '2' } } }),
      );
      await assert.rejects(
        first.store.update((tx) => tx.services.update(stale)),
        { code: 'ORCA_CONFLICT' },
      );
      const before = first.store.snapshot();
      await first.node.stop();
      firstStopped = true;

      const second = await startMember(dataDir, snapshotEvery);
      try {
        assert.deepEqual(second.store.snapshot(), before);
        assert.equal(
          second.store.view((tx) => tx.tasks.byNode('n2').length),
          1,
        );
        assert.equal(second.store.view((tx) => tx.services.byName('web'))?.spec.labels.v, '2');
        await second.store.update((tx) => tx.services.create(newService('api')));
        assert.equal(
          second.store.view((tx) => tx.services.all().length),
          2,
        );
      } finally {
        await second.node.stop();
      }
    });
  }
});
