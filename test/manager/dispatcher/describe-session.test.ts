// A worker session reporting its node's description to a dispatcher over gRPC, in one process:
// what reaches the store, and what the dispatcher leaves out so as not to flood the Raft log.
// The description is a stand-in whose measurement clock moves one second per report, so the
// assertions do not depend on how fast the reports come.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NodeDescription } from '../../../src/api/objects.ts';
import { Dispatcher } from '../../../src/manager/dispatcher/index.ts';
import { Store } from '../../../src/store/index.ts';
import type { Runtime } from '../../../src/worker/runtime.ts';
import { WorkerSession } from '../../../src/worker/session.ts';
import { newNode } from '../../store/fixtures.ts';
import {
  startDispatcherServer,
  type TestDispatcherServer,
} from '../../support/dispatcher-server.ts';
import { waitFor } from '../../support/wait.ts';

const t0 = Date.parse('2025-01-01T00:00:00.000Z');
const at = (s: number) => new Date(t0 + s * 1000).toISOString();

/** An engine with no containers: the agent starts and has nothing to do. */
const emptyEngine: Runtime = {
  ensureImage: () => Promise.reject(new Error('no engine')),
  create: () => Promise.reject(new Error('no engine')),
  start: () => Promise.reject(new Error('no engine')),
  inspect: (id) => Promise.resolve({ gone: true, id }),
  stop: () => Promise.resolve(),
  remove: () => Promise.resolve(),
  list: () => Promise.resolve([]),
  events: () => ({ ready: Promise.resolve(), close() {} }),
  logs: () => Promise.reject(new Error('no engine')),
  pruneNetworks: () => Promise.resolve(0),
};

describe('a worker reporting its node description', () => {
  const store = new Store({ proposer: null });
  const leading = new AbortController();
  // Usage older than 10 reports is refreshed however little it moved.
  const dispatcher = new Dispatcher({ store, heartbeatMs: 1_000, usageMaxAgeMs: 10_000 });
  let running: Promise<void>;
  let server: TestDispatcherServer;
  let worker: WorkerSession;
  let nodeId = '';
  let reports = 0;
  let cpuPercent = 10;
  /** The measuredAt of every usage the store recorded, in order. */
  const recorded: string[] = [];

  const describeHost = async (): Promise<NodeDescription> => {
    const s = reports++;
    return {
      hostname: 'reported-host',
      platform: { os: 'linux', arch: 'arm64' },
      resources: { nanoCpus: 2e9, memoryBytes: 4 * 2 ** 30 },
      engine: { version: '27.1', labels: { storage: 'ssd' } },
      usage: { cpuPercent, memoryBytes: 2 ** 30, measuredAt: at(s) },
    };
  };

  before(async () => {
    const { value } = await store.update((tx) => tx.nodes.create(newNode('joined-as')).meta.id);
    nodeId = value;
    store.subscribe(
      (e) => {
        if (e.kind === 'commit' || e.table !== 'nodes') return;
        const measuredAt = e.object.description.usage?.measuredAt;
        if (measuredAt !== undefined && recorded.at(-1) !== measuredAt) recorded.push(measuredAt);
      },
      { table: 'nodes' },
    );
    running = dispatcher.run(leading.signal);
    server = await startDispatcherServer(dispatcher);
    worker = new WorkerSession({
      addr: server.address,
      nodeId,
      runtime: emptyEngine,
      describe: describeHost,
      describeIntervalMs: 50,
    });
    worker.start();
  });

  after(async () => {
    await worker?.stop();
    leading.abort();
    await running;
    await server?.stop();
  });

  const stored = () => store.view((tx) => tx.nodes.get(nodeId));

  it('writes the first report of a session: the node is what its worker says', async () => {
    const node = await waitFor(() => {
      const n = stored();
      return n?.description.usage !== null ? n : undefined;
    });
    assert.equal(node.description.hostname, 'reported-host');
    assert.deepEqual(node.description.engine, { version: '27.1', labels: { storage: 'ssd' } });
    assert.deepEqual(node.description.platform, { os: 'linux', arch: 'arm64' });
    assert.equal(node.spec.role, 'worker', 'the spec stays the users’');
  });

  it('leaves out reports that change little, but refreshes a usage 10 reports old', async () => {
    await waitFor(() => recorded.includes(at(10)), { what: 'usage refreshed' });
    assert.deepEqual(recorded.slice(0, 2), [at(0), at(10)]);
  });

  it('writes a CPU move past the threshold at once', async () => {
    cpuPercent = 50;
    const from = reports;
    const node = await waitFor(() => {
      const n = stored();
      return n?.description.usage?.cpuPercent === 50 ? n : undefined;
    });
    const measured = Date.parse(node.description.usage?.measuredAt ?? '');
    assert.ok(measured <= Date.parse(at(from + 1)), `written at report ${from} or the next`);
  });
});
