// The worker's log readers without an engine: a runtime whose containers' logs the test writes,
// and an uplink that records what would go up the session.

import assert from 'node:assert/strict';
import { PassThrough, type Readable } from 'node:stream';
import { describe, it } from 'node:test';
import type { WorkerMessage } from '../../src/api/dispatcher-wire.ts';
import { RuntimeError } from '../../src/errors.ts';
import { LogReaders, type LogUplink, parseLogSubscription } from '../../src/worker/log-readers.ts';
import type { ContainerSummary, LogOptions, Runtime } from '../../src/worker/runtime.ts';
import { waitFor } from '../support/wait.ts';

const node = 'node-1';

/** Containers by id, each with its task label and a log the test writes lines into. */
class LogsRuntime {
  readonly containers: ContainerSummary[] = [];
  readonly streams = new Map<string, PassThrough>();
  readonly asked: { id: string; opts: LogOptions }[] = [];

  add(id: string, taskId: string): PassThrough {
    this.containers.push({
      id,
      name: id,
      state: 'running',
      labels: { 'orca.task.id': taskId, 'orca.node.id': node },
    });
    const stream = new PassThrough({ objectMode: true });
    this.streams.set(id, stream);
    return stream;
  }

  asRuntime(): Runtime {
    return {
      list: async () => this.containers,
      logs: async (id: string, opts: LogOptions = {}): Promise<Readable> => {
        this.asked.push({ id, opts });
        const s = this.streams.get(id);
        if (s === undefined)
          throw new RuntimeError('no such container', { temporary: false, status: 404 });
        return s;
      },
    } as unknown as Runtime;
  }
}

class RecordingUplink implements LogUplink {
  readonly sent: WorkerMessage[] = [];
  async send(msg: WorkerMessage): Promise<void> {
    this.sent.push(msg);
  }
  lines(): string[] {
    return this.sent.flatMap((m) =>
      m.type === 'log-lines' ? m.lines.map((l) => `${l.taskId}:${l.text}`) : [],
    );
  }
}

const out = (text: string) => ({ stream: 'stdout', text, timestamp: null });

describe('worker log readers', () => {
  it('reads the containers of the asked tasks by label, then says it is done', async () => {
    const rt = new LogsRuntime();
    rt.add('c1', 'task-a').end(out('a1'));
    rt.add('c2', 'task-b').end(out('b1'));
    rt.add('c3', 'task-other').end(out('x'));
    const uplink = new RecordingUplink();
    const readers = new LogReaders({ runtime: rt.asRuntime(), nodeId: node, batchMs: 1 });
    readers.start(
      {
        subscriptionId: 's1',
        taskIds: ['task-a', 'task-b', 'task-gone'],
        options: { follow: false, timestamps: true, tail: 3, since: '2026-01-01T00:00:00Z' },
      },
      uplink,
    );
    await waitFor(() => uplink.sent.some((m) => m.type === 'logs-done'), { what: 'logs-done' });
    assert.deepEqual(uplink.lines().sort(), ['task-a:a1', 'task-b:b1']);
    assert.deepEqual(uplink.sent.at(-1), { type: 'logs-done', subscriptionId: 's1' });
    assert.deepEqual(rt.asked.map((a) => a.id).sort(), ['c1', 'c2']);
    assert.deepEqual(rt.asked[0]?.opts, {
      follow: false,
      timestamps: true,
      tail: 3,
      since: new Date('2026-01-01T00:00:00Z'),
    });
    assert.equal(readers.open, 0);
  });

  it('stops following on cancel, and sends nothing more', async () => {
    const rt = new LogsRuntime();
    const log = rt.add('c1', 'task-a');
    const uplink = new RecordingUplink();
    const readers = new LogReaders({ runtime: rt.asRuntime(), nodeId: node, batchMs: 1 });
    readers.start(
      { subscriptionId: 's1', taskIds: ['task-a'], options: { follow: true, timestamps: false } },
      uplink,
    );
    log.write(out('first'));
    await waitFor(() => uplink.lines().length === 1, { what: 'the first line sent' });
    readers.cancel('s1');
    assert.equal(log.destroyed, true, 'the engine request is closed');
    assert.equal(readers.open, 0);
    assert.ok(!uplink.sent.some((m) => m.type === 'logs-done'));
  });

  it('stops reading when the session it answers on is gone', async () => {
    const rt = new LogsRuntime();
    const log = rt.add('c1', 'task-a');
    const readers = new LogReaders({ runtime: rt.asRuntime(), nodeId: node, batchMs: 1 });
    const gone: LogUplink = { send: async () => Promise.reject(new Error('session ended')) };
    readers.start(
      { subscriptionId: 's1', taskIds: ['task-a'], options: { follow: true, timestamps: false } },
      gone,
    );
    log.write(out('first'));
    await waitFor(() => log.destroyed, { what: 'the reader stopped' });
  });

  it('takes only well-formed logs requests from the wire', () => {
    assert.deepEqual(
      parseLogSubscription({
        subscriptionId: 's',
        taskIds: ['t'],
        options: { follow: true, timestamps: false, tail: -1, since: 'x' },
      }),
      { subscriptionId: 's', taskIds: ['t'], options: { follow: true, timestamps: false } },
    );
    assert.equal(parseLogSubscription({ subscriptionId: 's', taskIds: [1], options: {} }), null);
    assert.equal(parseLogSubscription({ taskIds: [], options: {} }), null);
  });
});
