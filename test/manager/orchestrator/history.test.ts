import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reapHistory, reapRemovedService } from '../../../src/manager/orchestrator/index.ts';
import { global, makeNode, makeService, makeTask, replicated } from './builders.ts';

describe('task history', () => {
  const service = makeService(replicated(2));

  it('keeps the 5 most recent stopped tasks of a slot and deletes the 2 oldest', () => {
    const history = [3, 1, 7, 2, 6, 5, 4].map((s) =>
      makeTask(`h${s}`, service, { slot: 1, state: 'failed', desired: 'shutdown', at: s }),
    );
    const current = makeTask('live', service, { slot: 1, at: 8 });
    assert.deepEqual(reapHistory([...history, current], 5), ['h1', 'h2']);
  });

  it('counts each slot on its own, and never a task still wanted', () => {
    const slot1 = [1, 2].map((s) =>
      makeTask(`a${s}`, service, { slot: 1, state: 'shutdown', desired: 'shutdown', at: s }),
    );
    const slot2 = [1, 2].map((s) =>
      makeTask(`b${s}`, service, { slot: 2, state: 'shutdown', desired: 'shutdown', at: s }),
    );
    const awaitingRestart = makeTask('c', service, { slot: 2, state: 'failed', at: 0 });
    assert.deepEqual(reapHistory([...slot1, ...slot2, awaitingRestart], 1), ['a1', 'b1']);
  });

  it('counts per node for a global service; a negative limit keeps everything', () => {
    const g = makeService(global);
    const tasks = [1, 2, 3].map((s) =>
      makeTask(`g${s}`, g, {
        node: s === 3 ? 'n2' : 'n1',
        state: 'failed',
        desired: 'shutdown',
        at: s,
      }),
    );
    assert.deepEqual(reapHistory(tasks, 1), ['g1']);
    assert.deepEqual(reapHistory(tasks, -1), []);
  });

  it('a removed service: running tasks are told to go, stopped or unassigned ones deleted', () => {
    const tasks = [
      makeTask('running', service, { slot: 1 }),
      makeTask('stopped', service, { slot: 2, state: 'shutdown', desired: 'remove' }),
      makeTask('pending', service, { slot: 3, node: '', state: 'pending' }),
      makeTask('lost', service, { slot: 4, node: 'gone' }),
    ];
    const plan = reapRemovedService(tasks, [makeNode('n1')]);
    assert.deepEqual(plan.delete, ['stopped', 'pending', 'lost']);
    assert.deepEqual(
      plan.update.map((u) => [u.task.meta.id, u.desiredState]),
      [['running', 'remove']],
    );
  });
});
