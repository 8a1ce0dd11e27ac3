// The dispatcher on a port like a manager's cluster port: TLS where a client certificate is
// asked for but not required (joining nodes reach the CA there without one). A session is
// accepted only from a certificate of the cluster naming the node the hello names.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createDispatcherClient } from '../../../src/api/dispatcher-wire.ts';
import {
  createRootCa,
  joiningClientTls,
  type NodeClientTls,
  nodeClientTls,
  nodeServerCredentials,
} from '../../../src/ca/index.ts';
import { Dispatcher, serveDispatcher } from '../../../src/manager/dispatcher/index.ts';
import { Store } from '../../../src/store/index.ts';
import { CLUSTER_ID, issueNode, MANAGER_ID, WORKER_ID } from '../../ca/fixtures.ts';
import { newNode } from '../../store/fixtures.ts';

const OTHER_ID = 'o7herid000000000000000000';

/** Opens a session saying hello as `nodeId`; resolves with how the dispatcher answered. */
function hello(addr: string, tls: NodeClientTls, nodeId: string): Promise<string> {
  const client = createDispatcherClient(addr, tls.credentials, tls.channelOptions);
  return new Promise((resolve) => {
    const call = client.Session();
    call.on('error', (err: grpc.ServiceError) => {
      client.close();
      resolve(`${grpc.status[err.code]}: ${err.details}`);
    });
    call.on('data', (wire: { json: string }) => {
      call.cancel();
      client.close();
      resolve(`answered ${(JSON.parse(wire.json) as { type: string }).type}`);
    });
    call.write({ json: JSON.stringify({ type: 'hello', nodeId }) });
  });
}

describe('dispatcher sessions on the cluster port', () => {
  const store = new Store({ proposer: null });
  const leading = new AbortController();
  let dispatcher: Dispatcher;
  let running: Promise<void>;
  let server: grpc.Server;
  let addr = '';
  let caCertPem = '';
  let workerTls: NodeClientTls;

  before(async () => {
    const ca = await createRootCa({ clusterId: CLUSTER_ID });
    caCertPem = ca.certPem;
    const manager = await issueNode(ca, { nodeId: MANAGER_ID, role: 'manager' });
    const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker' });
    workerTls = nodeClientTls({ caCertPem, ...worker }, { role: 'manager' });
    await store.update((tx) => {
      tx.nodes.create(newNode('worker'), { id: WORKER_ID });
      tx.nodes.create(newNode('other'), { id: OTHER_ID });
    });
    dispatcher = new Dispatcher({ store, caCertPem, heartbeatMs: 1_000 });
    running = dispatcher.run(leading.signal);
    server = new grpc.Server();
    serveDispatcher(server, dispatcher);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', nodeServerCredentials({ caCertPem, ...manager }), (e, p) =>
        e ? reject(e) : resolve(p),
      ),
    );
    addr = `127.0.0.1:${port}`;
  });

  after(async () => {
    leading.abort();
    await running;
    server.forceShutdown();
  });

  it('accepts a worker whose certificate names the node it says hello as', async () => {
    assert.equal(await hello(addr, workerTls, WORKER_ID), 'answered session');
  });

  it('refuses a caller that presented no certificate', async () => {
    assert.match(
      await hello(addr, joiningClientTls(caCertPem), WORKER_ID),
      /^UNAUTHENTICATED: the caller presented no verified certificate/,
    );
  });

  it("refuses a worker speaking for another node than its certificate's", async () => {
    assert.equal(
      await hello(addr, workerTls, OTHER_ID),
      `PERMISSION_DENIED: the session's certificate is node ${WORKER_ID}'s, not node ${OTHER_ID}'s`,
    );
  });
});
