// Log subscriptions on one session: what goes down to the worker, and which of the worker's
// messages reach which reader.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DispatcherMessage } from '../../../src/api/dispatcher-wire.ts';
import type { TaskLogLine } from '../../../src/api/objects.ts';
import { SessionLogSubscriptions } from '../../../src/manager/dispatcher/log-subscriptions.ts';

function recorder() {
  const lines: TaskLogLine[] = [];
  const done: (string | null)[] = [];
  return {
    lines,
    done,
    sink: {
      lines: (l: readonly TaskLogLine[]) => lines.push(...l),
      done: (e: string | null) => done.push(e),
    },
  };
}

const options = { follow: true, timestamps: false } as const;

describe('session log subscriptions', () => {
  it('asks the worker, routes its lines to the reader, and cancels', () => {
    const sent: DispatcherMessage[] = [];
    const subs = new SessionLogSubscriptions((m) => sent.push(m));
    const r = recorder();
    const cancel = subs.open({ taskIds: ['t1'], options }, r.sink);
    const down = sent[0];
    assert.ok(down?.type === 'logs');
    assert.deepEqual([down.taskIds, down.options], [['t1'], options]);
    const id = down.subscriptionId;

    const ok = { taskId: 't1', stream: 'stderr', text: 'boom', timestamp: null } as const;
    assert.equal(
      subs.receive({
        type: 'log-lines',
        subscriptionId: id,
        // Another node's task, and a malformed line, are dropped.
        lines: [ok, { ...ok, taskId: 't9' }, { ...ok, stream: 'stdin' } as unknown as TaskLogLine],
      }),
      true,
    );
    assert.deepEqual(r.lines, [ok]);
    assert.equal(subs.receive({ type: 'heartbeat' }), false);

    cancel();
    assert.deepEqual(sent[1], { type: 'logs-cancel', subscriptionId: id });
    subs.receive({ type: 'log-lines', subscriptionId: id, lines: [ok] });
    assert.equal(r.lines.length, 1, 'nothing after a cancel');
    assert.deepEqual(r.done, []);
  });

  it('ends every subscription with the session, and refuses new ones', async () => {
    const subs = new SessionLogSubscriptions(() => {});
    const a = recorder();
    const b = recorder();
    subs.open({ taskIds: ['t1'], options }, a.sink);
    subs.end('the session ended');
    assert.deepEqual(a.done, ['the session ended']);
    subs.open({ taskIds: ['t2'], options }, b.sink);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(b.done, ['the session ended']);
  });

  it('passes the worker logs-done on, with its error', () => {
    const sent: DispatcherMessage[] = [];
    const subs = new SessionLogSubscriptions((m) => sent.push(m));
    const r = recorder();
    subs.open({ taskIds: ['t1'], options }, r.sink);
    const id = (sent[0] as { subscriptionId: string }).subscriptionId;
    subs.receive({ type: 'logs-done', subscriptionId: id, error: 'engine down' });
    subs.receive({ type: 'logs-done', subscriptionId: id });
    assert.deepEqual(r.done, ['engine down']);
  });
});
