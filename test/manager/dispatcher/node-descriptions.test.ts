import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NodeDescription, NodeUsage } from '../../../src/api/objects.ts';
import {
  applyNodeDescriptions,
  defaultRecordingLimits,
  parseNodeDescription,
  worthRecording,
} from '../../../src/manager/dispatcher/index.ts';
import { Store } from '../../../src/store/index.ts';
import { newNode } from '../../store/fixtures.ts';

const GiB = 2 ** 30;
const t0 = Date.parse('2025-01-01T00:00:00.000Z');

function usage(cpuPercent: number, memoryGiB: number, secondsLater = 0): NodeUsage {
  return {
    cpuPercent,
    memoryBytes: memoryGiB * GiB,
    measuredAt: new Date(t0 + secondsLater * 1000).toISOString(),
  };
}

function described(u: NodeUsage | null, labels: Record<string, string> = {}): NodeDescription {
  return {
    hostname: 'h1',
    platform: { os: 'linux', arch: 'amd64' },
    resources: { nanoCpus: 4e9, memoryBytes: 8 * GiB },
    engine: { version: '27.0', labels },
    usage: u,
  };
}

const worth = (stored: NodeDescription, reported: NodeDescription) =>
  worthRecording(stored, reported, defaultRecordingLimits);

describe('which node descriptions are written', () => {
  it('skips a report whose usage barely moved, for up to a minute', () => {
    const stored = described(usage(20, 2));
    assert.equal(worth(stored, described(usage(24.9, 2.3, 10))), false);
    assert.equal(worth(stored, described(usage(16, 1.7, 59))), false);
    assert.equal(worth(stored, described(usage(20, 2, 60))), true, 'a minute old: refreshed');
  });

  it('writes a move of 5 CPU points or 5% of the memory at once', () => {
    const stored = described(usage(20, 2));
    assert.equal(worth(stored, described(usage(25, 2, 1))), true);
    assert.equal(worth(stored, described(usage(15, 2, 1))), true);
    assert.equal(worth(stored, described(usage(20, 2.5, 1))), true);
  });

  it('writes any change of the other facts, and a first or lost measurement', () => {
    const stored = described(usage(20, 2));
    assert.equal(worth(stored, described(usage(20, 2, 1), { ssd: 'true' })), true);
    assert.equal(worth(stored, { ...described(usage(20, 2, 1)), hostname: 'h2' }), true);
    assert.equal(worth(described(null), described(usage(20, 2))), true);
    assert.equal(worth(stored, described(null)), true);
    assert.equal(worth(described(null), described(null)), false);
  });

  it('stages the reports worth it, for known nodes only', async () => {
    const store = new Store({ proposer: null });
    const { value: id } = await store.update(
      (tx) => tx.nodes.create({ ...newNode('h1'), description: described(usage(20, 2)) }).meta.id,
    );
    const version = () => store.view((tx) => tx.nodes.get(id)?.meta.version);
    const before = version();
    await store.update((tx) => {
      const staged = applyNodeDescriptions(
        tx,
        [
          { nodeId: id, description: described(usage(21, 2, 10)) },
          { nodeId: 'gone', description: described(usage(90, 2, 10)) },
        ],
        defaultRecordingLimits,
      );
      assert.equal(staged, 0);
    });
    assert.equal(version(), before, 'nothing written');
    await store.update((tx) => {
      applyNodeDescriptions(
        tx,
        [{ nodeId: id, description: described(usage(60, 2, 10)) }],
        defaultRecordingLimits,
      );
    });
    const node = store.view((tx) => tx.nodes.get(id));
    assert.equal(node?.description.usage?.cpuPercent, 60);
    assert.equal(node?.spec.role, 'worker', 'the spec is left as it was');
  });
});

describe('node descriptions from the wire', () => {
  it('keeps the known fields of a well-formed description', () => {
    const wire = {
      ...described(usage(12.5, 1), { zone: 'a' }),
      fromANewerWorker: 1,
      engine: { version: '27.0', labels: { zone: 'a' }, plugins: [] },
    };
    assert.deepEqual(parseNodeDescription(wire), described(usage(12.5, 1), { zone: 'a' }));
    assert.deepEqual(parseNodeDescription(described(null)), described(null));
  });

  it('refuses a malformed one', () => {
    const good = described(usage(12.5, 1));
    for (const bad of [
      null,
      [],
      { ...good, hostname: 1 },
      { ...good, resources: { nanoCpus: -1, memoryBytes: 1 } },
      { ...good, engine: { version: '27', labels: { a: 1 } } },
      { ...good, usage: { ...good.usage, cpuPercent: 150 } },
      { ...good, usage: { ...good.usage, measuredAt: 'yesterday' } },
      { ...good, usage: undefined },
    ]) {
      assert.equal(parseNodeDescription(bad), null, JSON.stringify(bad));
    }
  });
});
