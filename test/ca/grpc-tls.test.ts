// TLS between real grpc-js servers and clients on 127.0.0.1, as on the cluster port: a node of
// the cluster gets through and is recognised by its certificate; a caller without one (a node
// joining) or with another CA's gets through the handshake but has no identity, so a handler
// that needs one refuses it; a server that is not who the client expects is refused by the
// client during the handshake.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  callerIdentity,
  type ExpectedPeer,
  joiningClientTls,
  type NodeTlsMaterial,
  nodeClientTls,
  nodeServerCredentials,
} from '../../src/ca/grpc-tls.ts';
import { createRootCa } from '../../src/ca/root-ca.ts';
import { CLUSTER_ID, issueNode, MANAGER_ID, WORKER_ID } from './fixtures.ts';

const WHO_AM_I = '/orca.test.Identity/WhoAmI';
const toBuffer = (text: string) => Buffer.from(text);
const toText = (bytes: Buffer) => bytes.toString();

const ca = await createRootCa({ clusterId: CLUSTER_ID });
const otherCa = await createRootCa({ clusterId: CLUSTER_ID });
const manager = await issueNode(ca, { nodeId: MANAGER_ID, role: 'manager' });
const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker' });
const stranger = await issueNode(otherCa, { nodeId: WORKER_ID, role: 'worker' });

const material = (node: { certPem: string; keyPem: string }, caCertPem = ca.certPem) =>
  ({ caCertPem, certPem: node.certPem, keyPem: node.keyPem }) satisfies NodeTlsMaterial;

let calls = 0;

async function startServer(
  tls: NodeTlsMaterial,
): Promise<{ server: grpc.Server; address: string }> {
  const server = new grpc.Server();
  server.addService(
    {
      WhoAmI: {
        path: WHO_AM_I,
        requestStream: false,
        responseStream: false,
        requestSerialize: toBuffer,
        requestDeserialize: toText,
        responseSerialize: toBuffer,
        responseDeserialize: toText,
      },
    },
    {
      WhoAmI: (
        call: grpc.ServerUnaryCall<string, string>,
        callback: grpc.sendUnaryData<string>,
      ) => {
        calls++;
        try {
          const { nodeId, role } = callerIdentity(call, ca.certPem);
          callback(null, JSON.stringify({ nodeId, role }));
        } catch (error) {
          callback({ code: grpc.status.UNAUTHENTICATED, details: (error as Error).message });
        }
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', nodeServerCredentials(tls), (error, bound) =>
      error ? reject(error) : resolve(bound),
    ),
  );
  return { server, address: `127.0.0.1:${port}` };
}

function whoAmI(
  address: string,
  credentials: grpc.ChannelCredentials,
  options: grpc.ChannelOptions = {},
): Promise<{ nodeId: string; role: string }> {
  const client = new grpc.Client(address, credentials, options);
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      WHO_AM_I,
      toBuffer,
      toText,
      'who am I?',
      { deadline: Date.now() + 5000 },
      (error, answer) => {
        client.close();
        if (error) reject(error);
        else resolve(JSON.parse(answer!));
      },
    );
  });
}

function dial(address: string, tls: NodeTlsMaterial, expected?: ExpectedPeer) {
  const { credentials, channelOptions } = nodeClientTls(tls, expected);
  return whoAmI(address, credentials, channelOptions);
}

/** The call reached the handler, which found no certificate of this cluster on it. */
async function assertNoIdentity(attempt: Promise<unknown>): Promise<void> {
  const before = calls;
  await assert.rejects(attempt, (error: grpc.ServiceError) => {
    assert.equal(error.code, grpc.status.UNAUTHENTICATED, error.message);
    assert.match(error.details, /presented no verified certificate/);
    return true;
  });
  assert.equal(calls, before + 1, 'the handler ran');
}

/** The call failed before reaching the handler: the connection itself was refused. */
async function assertRefused(attempt: Promise<unknown>, details?: RegExp): Promise<void> {
  const before = calls;
  await assert.rejects(attempt, (error: grpc.ServiceError) => {
    assert.equal(error.code, grpc.status.UNAVAILABLE, error.message);
    if (details) assert.match(error.details, details);
    return true;
  });
  assert.equal(calls, before, 'the handler never ran');
}

describe('mutual TLS for gRPC', () => {
  let server: grpc.Server;
  let address: string;

  before(async () => {
    ({ server, address } = await startServer(material(manager)));
  });
  after(() => server.forceShutdown());

  it("lets a node of the cluster in, and the server reads the caller's id and role", async () => {
    const answer = await dial(address, material(worker), { nodeId: MANAGER_ID, role: 'manager' });
    assert.deepEqual(answer, { nodeId: WORKER_ID, role: 'worker' });
  });

  it('accepts any server of the cluster while its node id is not known yet', async () => {
    assert.deepEqual(await dial(address, material(worker)), { nodeId: WORKER_ID, role: 'worker' });
  });

  it('refuses a server that is not the node expected', async () => {
    await assertRefused(
      dial(address, material(worker), { nodeId: WORKER_ID }),
      new RegExp(`the server is node ${MANAGER_ID}, not node ${WORKER_ID} as expected`),
    );
    await assertRefused(
      dial(address, material(manager), { role: 'worker' }),
      /a manager, not a worker as expected/,
    );
  });

  it('lets a client without a certificate through the handshake, with no identity', async () => {
    const { credentials, channelOptions } = joiningClientTls(ca.certPem);
    await assertNoIdentity(whoAmI(address, credentials, channelOptions));
  });

  it("gives a client whose certificate another cluster's CA signed no identity", async () => {
    // It trusts our CA, so it talks to the server; the server does not believe its certificate.
    await assertNoIdentity(dial(address, material(stranger, ca.certPem)));
  });

  it('lets a joining client reach any server until it knows the CA, then only its managers', async () => {
    const impostor = await startServer(material(stranger, otherCa.certPem));
    const asWorker = await startServer(material(worker));
    try {
      const trusting = joiningClientTls(null);
      await assertNoIdentity(
        whoAmI(impostor.address, trusting.credentials, trusting.channelOptions),
      );
      const pinned = joiningClientTls(ca.certPem);
      await assertRefused(whoAmI(impostor.address, pinned.credentials, pinned.channelOptions));
      await assertRefused(
        whoAmI(asWorker.address, pinned.credentials, pinned.channelOptions),
        /a worker, not a manager as expected/,
      );
      await assertNoIdentity(whoAmI(address, pinned.credentials, pinned.channelOptions));
    } finally {
      impostor.server.forceShutdown();
      asWorker.server.forceShutdown();
    }
  });

  it("refuses a server whose certificate another cluster's CA signed", async () => {
    const impostor = await startServer(material(stranger, otherCa.certPem));
    try {
      await assertRefused(dial(impostor.address, material(worker)));
    } finally {
      impostor.server.forceShutdown();
    }
  });

  it('refuses TLS 1.2, even with a valid certificate', async () => {
    const port = Number(address.split(':')[1]);
    const error = await new Promise<Error>((resolve, reject) => {
      const socket = connect({
        host: '127.0.0.1',
        port,
        ca: ca.certPem,
        cert: worker.certPem,
        key: worker.keyPem,
        maxVersion: 'TLSv1.2',
        ALPNProtocols: ['h2'],
        checkServerIdentity: () => undefined,
      });
      socket.on('secureConnect', () => {
        socket.destroy();
        reject(new Error(`connected with ${socket.getProtocol()}`));
      });
      socket.on('error', resolve);
    });
    assert.match(error.message, /alert protocol version/);
  });
});
