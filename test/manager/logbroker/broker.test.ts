// The log broker over a local store, with the dispatcher's sessions played by the test: which
// tasks are asked for on which node, how lines and failures reach the stream, and when the
// stream ends or cancels its subscriptions.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServiceLogsMessage } from '../../../src/api/control-wire.ts';
import type { Task, TaskLogLine, TaskState } from '../../../src/api/objects.ts';
import { OrcaError } from '../../../src/errors.ts';
import type { LogRequest, LogSink } from '../../../src/manager/dispatcher/index.ts';
import { LogBroker, type LogSessions } from '../../../src/manager/logbroker/index.ts';
import { Store } from '../../../src/store/index.ts';
import { newNode, newService, newTask } from '../../store/fixtures.ts';
import { waitFor } from '../../support/wait.ts';

interface Opened {
  readonly nodeId: string;
  readonly request: LogRequest;
  readonly sink: LogSink;
  cancelled: boolean;
}

/** The dispatcher as the broker sees it: nodes with a session, and what was asked of them. */
class FakeSessions implements LogSessions {
  readonly connected = new Set<string>();
  readonly opened: Opened[] = [];

  openLogs(nodeId: string, request: LogRequest, sink: LogSink) {
    if (!this.connected.has(nodeId)) return null;
    const o: Opened = { nodeId, request, sink, cancelled: false };
    this.opened.push(o);
    return () => {
      o.cancelled = true;
    };
  }
}

async function setup() {
  const store = new Store({ proposer: null });
  const sessions = new FakeSessions();
  const broker = new LogBroker({ store: async () => store, sessions });
  const { value } = await store.update((tx) => {
    const a = tx.nodes.create(newNode('host-a')).meta.id;
    const b = tx.nodes.create(newNode('host-b')).meta.id;
    const web = tx.services.create(newService('web', 3)).meta.id;
    return { a, b, web };
  });
  sessions.connected.add(value.a);
  sessions.connected.add(value.b);
  return { store, sessions, broker, ...value };
}

/** A task on `nodeId` in `state`; `container` says whether the worker reported one. */
async function addTask(
  store: Store,
  serviceId: string,
  slot: number,
  nodeId: string,
  state: TaskState,
  container = true,
): Promise<Task> {
  const { value } = await store.update((tx) => {
    const t = newTask(serviceId, slot, nodeId);
    return tx.tasks.create({
      ...t,
      status: {
        ...t.status,
        state,
        ...(container ? { containerId: `c-${slot}-${state}` } : {}),
      },
    });
  });
  return value;
}

async function giveContainer(store: Store, task: Task): Promise<void> {
  await store.update((tx) => {
    const t = tx.tasks.get(task.meta.id);
    assert.ok(t !== undefined);
    tx.tasks.update({ ...t, status: { ...t.status, state: 'starting', containerId: 'c-late' } });
  });
}

function line(taskId: string, text: string): TaskLogLine {
  return { taskId, stream: 'stdout', text, timestamp: null };
}

/** Reads the stream into `into` in the background; the promise settles when it ends. */
function collect(stream: AsyncIterable<ServiceLogsMessage>, into: ServiceLogsMessage[]) {
  return (async () => {
    for await (const msg of stream) into.push(msg);
  })();
}

describe('log broker', () => {
  it('asks each node for its tasks that have containers, ended ones included', async () => {
    const { store, sessions, broker, a, b, web } = await setup();
    const running = await addTask(store, web, 1, a, 'running');
    const failed = await addTask(store, web, 1, a, 'failed');
    const onB = await addTask(store, web, 2, b, 'running');
    await addTask(store, web, 3, a, 'assigned', false);

    const messages: ServiceLogsMessage[] = [];
    const done = collect(
      broker.serviceLogs({ service: 'web', tail: 5 }, new AbortController().signal),
      messages,
    );
    await waitFor(() => sessions.opened.length === 2, { what: 'both nodes asked' });
    const onA = sessions.opened.find((o) => o.nodeId === a);
    assert.deepEqual(new Set(onA?.request.taskIds), new Set([running.meta.id, failed.meta.id]));
    assert.deepEqual(onA?.request.options, { follow: false, timestamps: false, tail: 5 });
    assert.deepEqual(sessions.opened.find((o) => o.nodeId === b)?.request.taskIds, [onB.meta.id]);

    onA?.sink.lines([line(running.meta.id, 'hello')]);
    onA?.sink.done(null);
    sessions.opened.find((o) => o.nodeId === b)?.sink.done(null);
    await done;

    const sources = messages.flatMap((m) => m.sources ?? []);
    assert.deepEqual(
      sources.find((s) => s.taskId === running.meta.id),
      { taskId: running.meta.id, serviceName: 'web', slot: 1, nodeId: a, nodeHostname: 'host-a' },
    );
    assert.equal(sources.length, 3);
    assert.deepEqual(
      messages.flatMap((m) => m.lines),
      [line(running.meta.id, 'hello')],
    );
    assert.ok(
      sessions.opened.every((o) => !o.cancelled),
      'nothing left to cancel',
    );
  });

  it('reports a node without a session, and a failed read, without waiting for them', async () => {
    const { store, sessions, broker, a, b, web } = await setup();
    sessions.connected.delete(b);
    await addTask(store, web, 1, a, 'running');
    await addTask(store, web, 2, b, 'running');

    const messages: ServiceLogsMessage[] = [];
    const done = collect(
      broker.serviceLogs({ service: 'web' }, new AbortController().signal),
      messages,
    );
    await waitFor(() => sessions.opened.length === 1, { what: 'node a asked' });
    sessions.opened[0]?.sink.done('the engine is unreachable');
    await done;
    const errors = messages.flatMap((m) => m.errors ?? []);
    assert.deepEqual(errors, [
      'node host-b is not connected to this manager: the logs of its 1 task cannot be read',
      'node host-a: the engine is unreachable',
    ]);
  });

  it('cancels its subscriptions when the client goes away', async () => {
    const { store, sessions, broker, a, web } = await setup();
    await addTask(store, web, 1, a, 'running');
    const client = new AbortController();
    const messages: ServiceLogsMessage[] = [];
    const done = collect(
      broker.serviceLogs({ service: 'web', follow: true }, client.signal),
      messages,
    );
    await waitFor(() => sessions.opened.length === 1, { what: 'node a asked' });
    client.abort();
    await done;
    assert.equal(sessions.opened[0]?.cancelled, true);
  });

  it('following, asks for the tasks that get a container later', async () => {
    const { store, sessions, broker, a, b, web } = await setup();
    await addTask(store, web, 1, a, 'running');
    const later = await addTask(store, web, 2, b, 'assigned', false);
    const client = new AbortController();
    const messages: ServiceLogsMessage[] = [];
    const done = collect(
      broker.serviceLogs({ service: 'web', follow: true }, client.signal),
      messages,
    );
    await waitFor(() => sessions.opened.length === 1, { what: 'node a asked' });
    // A follow outlives the subscriptions it has: the service may get more tasks.
    sessions.opened[0]?.sink.done(null);
    await giveContainer(store, later);
    await waitFor(() => sessions.opened.length === 2, { what: 'node b asked for the new task' });
    assert.deepEqual(sessions.opened[1]?.request.taskIds, [later.meta.id]);
    assert.equal(sessions.opened[1]?.request.options.follow, true);
    client.abort();
    await done;
    assert.equal(sessions.opened[1]?.cancelled, true);
  });

  it('reads one task by id or id prefix', async () => {
    const { store, sessions, broker, a, web } = await setup();
    const one = await addTask(store, web, 1, a, 'running');
    await addTask(store, web, 2, a, 'running');
    const done = collect(
      broker.serviceLogs({ task: one.meta.id.slice(0, 10) }, new AbortController().signal),
      [],
    );
    await waitFor(() => sessions.opened.length === 1, { what: 'node a asked' });
    assert.deepEqual(sessions.opened[0]?.request.taskIds, [one.meta.id]);
    sessions.opened[0]?.sink.done(null);
    await done;
  });

  it('refuses an unknown service or task, and a bad request naming its fields', async () => {
    const { broker } = await setup();
    const signal = new AbortController().signal;
    const fails = async (req: unknown, code: string, message: RegExp) => {
      await assert.rejects(collect(broker.serviceLogs(req, signal), []), (err: unknown) => {
        assert.ok(err instanceof OrcaError);
        assert.equal(err.code, code);
        assert.match(err.message, message);
        return true;
      });
    };
    await fails({ service: 'nope' }, 'ORCA_NOT_FOUND', /^service nope not found$/);
    await fails({ task: 'nope' }, 'ORCA_NOT_FOUND', /^task nope not found$/);
    await fails({}, 'ORCA_BAD_REQUEST', /give exactly one of them/);
    await fails(
      { service: 'web', tail: -3, since: 'yesterday' },
      'ORCA_BAD_REQUEST',
      /tail: -3 is not a whole number >= 0[\s\S]*since: "yesterday" is not an RFC 3339 time/,
    );
  });

  it('ends open streams with ORCA_STOPPED when closed', async () => {
    const { store, sessions, broker, a, web } = await setup();
    await addTask(store, web, 1, a, 'running');
    const done = collect(
      broker.serviceLogs({ service: 'web', follow: true }, new AbortController().signal),
      [],
    );
    await waitFor(() => sessions.opened.length === 1, { what: 'node a asked' });
    broker.close();
    await assert.rejects(
      done,
      (err: unknown) => err instanceof OrcaError && err.code === 'ORCA_STOPPED',
    );
    assert.equal(sessions.opened[0]?.cancelled, true);
  });
});
