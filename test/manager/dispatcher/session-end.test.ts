// What the end of a worker's session means for its node: down only once the grace (3 heartbeat
// periods) passed without a new session, so a worker daemon that restarts keeps its tasks, as
// in Swarm, where a node is down when its heartbeats stop.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createDispatcherClient } from '../../../src/api/dispatcher-wire.ts';
import type { NodeState } from '../../../src/api/objects.ts';
import { Dispatcher } from '../../../src/manager/dispatcher/index.ts';
import { Store } from '../../../src/store/index.ts';
import { newNode } from '../../store/fixtures.ts';
import {
  startDispatcherServer,
  type TestDispatcherServer,
} from '../../support/dispatcher-server.ts';
import { waitFor } from '../../support/wait.ts';

const HEARTBEAT_MS = 300;
const GRACE_MS = HEARTBEAT_MS * 3;

describe('the end of a worker session', () => {
  const store = new Store({ proposer: null });
  const leading = new AbortController();
  const dispatcher = new Dispatcher({ store, heartbeatMs: HEARTBEAT_MS });
  let running: Promise<void>;
  let server: TestDispatcherServer;
  let nodeId = '';
  /** Every state the node was written with, and when. */
  const states: { state: NodeState; at: number }[] = [];

  before(async () => {
    nodeId = (await store.update((tx) => tx.nodes.create(newNode('restarting')).meta.id)).value;
    store.subscribe(
      (e) => {
        if (e.kind !== 'commit' && e.table === 'nodes' && e.object.meta.id === nodeId) {
          states.push({ state: e.object.status.state, at: Date.now() });
        }
      },
      { table: 'nodes' },
    );
    running = dispatcher.run(leading.signal);
    server = await startDispatcherServer(dispatcher);
  });

  after(async () => {
    leading.abort();
    await running;
    await server.stop();
  });

  /**
   * Opens a session as the node, heartbeating as a worker does; resolves once accepted, with
   * the function that ends it.
   */
  function openSession(): Promise<() => void> {
    const client = createDispatcherClient(server.address);
    const call = client.Session();
    call.on('error', () => {});
    const beat = setInterval(
      () => call.write({ json: JSON.stringify({ type: 'heartbeat' }) }),
      HEARTBEAT_MS / 2,
    );
    return new Promise((resolve) => {
      call.once('data', () =>
        resolve(() => {
          clearInterval(beat);
          call.cancel();
          client.close();
        }),
      );
      call.write({ json: JSON.stringify({ type: 'hello', nodeId }) });
    });
  }

  const state = () => store.view((tx) => tx.nodes.get(nodeId)?.status.state);

  it('keeps the node ready when a new session opens within the grace', async () => {
    const end = await openSession();
    await waitFor(() => state() === 'ready', { what: 'node ready' });
    end();
    const endAgain = await openSession();
    // Not a synchronisation: a down wrongly left scheduled by the first end would be written
    // within the grace, so the check must look over a longer window than that.
    await new Promise((r) => setTimeout(r, GRACE_MS * 2));
    assert.equal(state(), 'ready');
    assert.ok(!states.some((s) => s.state === 'down'), 'never written down');
    endAgain();
  });

  it('marks the node down once the grace passed without a new session, not before', async () => {
    await waitFor(() => state() === 'down', { what: 'node down' });
    const end = await openSession();
    await waitFor(() => state() === 'ready', { what: 'node ready again' });
    const ended = Date.now();
    end();
    await waitFor(() => states.at(-1)?.state === 'down' && states.at(-1), { what: 'down again' });
    const down = states.at(-1)?.at ?? 0;
    assert.ok(down - ended >= GRACE_MS, `down ${down - ended} ms after the end`);
  });
});

describe('a new leader', () => {
  it('marks down, after the grace, a node whose session never comes back to it', async () => {
    const store = new Store({ proposer: null });
    const { ready, down } = (
      await store.update((tx) => ({
        ready: tx.nodes.create(newNode('gone')).meta.id,
        down: tx.nodes.create({
          ...newNode('long gone'),
          status: { state: 'down', message: 'earlier', addr: '' },
        }).meta.id,
      }))
    ).value;
    const leading = new AbortController();
    const dispatcher = new Dispatcher({ store, heartbeatMs: HEARTBEAT_MS });
    const started = Date.now();
    const running = dispatcher.run(leading.signal);
    try {
      const node = await waitFor(
        () => {
          const n = store.view((tx) => tx.nodes.get(ready));
          return n?.status.state === 'down' ? n : null;
        },
        { what: 'the node down' },
      );
      assert.ok(Date.now() - started >= GRACE_MS, 'not before the grace');
      assert.equal(node.status.message, 'no session since this manager became the leader');
      assert.equal(store.view((tx) => tx.nodes.get(down))?.status.message, 'earlier');
    } finally {
      leading.abort();
      await running;
    }
  });
});
