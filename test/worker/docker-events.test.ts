// The event subscription's reconnect logic against a stub engine whose streams the test ends at
// will: a broken stream is reopened from the last event seen, and replayed events are not
// delivered twice.

import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { type DockerClient, DockerRuntime } from '../../src/worker/docker-runtime.ts';
import type { RuntimeEvent } from '../../src/worker/runtime.ts';
import { waitFor } from '../support/wait.ts';

class StubEngine {
  readonly queries: Record<string, unknown>[] = [];
  readonly streams: PassThrough[] = [];
  getEvents(query: Record<string, unknown>): Promise<PassThrough> {
    this.queries.push(query);
    const stream = new PassThrough();
    this.streams.push(stream);
    return Promise.resolve(stream);
  }
}

function line(id: string, action: string, timeNano: string, attrs: Record<string, string> = {}) {
  // Written by hand, as the engine does, so the 19-digit timeNano survives unrounded.
  const seconds = timeNano.slice(0, 10);
  return (
    `{"status":"${action}","id":"${id}","Type":"container","Action":"${action}",` +
    `"Actor":{"ID":"${id}","Attributes":${JSON.stringify({ name: 'web.1.t', image: 'img', ...attrs })}},` +
    `"scope":"local","time":${seconds},"timeNano":${timeNano}}\n`
  );
}

describe('DockerRuntime events', () => {
  it('parses, reconnects from the last event, and skips replayed ones', async () => {
    const engine = new StubEngine();
    const rt = new DockerRuntime({ client: engine as unknown as DockerClient });
    const got: RuntimeEvent[] = [];
    const breaks: string[] = [];
    const sub = rt.events((e) => got.push(e), { onDisconnect: (err) => breaks.push(err.message) });
    try {
      await sub.ready;
      assert.deepEqual(engine.queries[0], {
        filters: {
          type: ['container'],
          event: ['start', 'kill', 'die', 'destroy', 'health_status'],
          label: ['orca.task.id'],
        },
      });
      const first = engine.streams[0]!;
      first.write(line('c1', 'kill', '1700000000023456789', { 'orca.task.id': 't', signal: '15' }));
      first.write(line('c1', 'die', '1700000000123456789', { 'orca.task.id': 't', exitCode: '3' }));
      first.write(line('c1', 'health_status: unhealthy', '1700000000123456789'));
      await waitFor(() => got.length === 3, { what: 'three events' });
      first.end();

      await waitFor(() => engine.streams.length === 2, { what: 'reconnect' });
      assert.equal(breaks.length, 1);
      assert.equal(engine.queries[1]?.since, '1700000000.123456789');
      const second = engine.streams[1]!;
      // The engine replays from `since` inclusive: the first two again, then a new one.
      second.write(
        line('c1', 'die', '1700000000123456789', { 'orca.task.id': 't', exitCode: '3' }),
      );
      second.write(line('c1', 'health_status: unhealthy', '1700000000123456789'));
      second.write(line('c1', 'destroy', '1700000001000000000', { 'orca.task.id': 't' }));
      await waitFor(() => got.length === 4, { what: 'the new event' });

      assert.deepEqual(got, [
        {
          action: 'kill',
          containerId: 'c1',
          labels: { 'orca.task.id': 't' },
          signal: '15',
          time: '2023-11-14T22:13:20.023Z',
        },
        {
          action: 'die',
          containerId: 'c1',
          labels: { 'orca.task.id': 't' },
          exitCode: 3,
          time: '2023-11-14T22:13:20.123Z',
        },
        {
          action: 'health_status',
          containerId: 'c1',
          labels: {},
          health: 'unhealthy',
          time: '2023-11-14T22:13:20.123Z',
        },
        {
          action: 'destroy',
          containerId: 'c1',
          labels: { 'orca.task.id': 't' },
          time: '2023-11-14T22:13:21.000Z',
        },
      ]);
    } finally {
      sub.close();
    }
    // Closed: the stream is torn down and never reopened.
    assert.ok(engine.streams[1]?.destroyed);
    const opened = engine.streams.length;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(engine.streams.length, opened);
  });
});
