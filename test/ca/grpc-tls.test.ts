// Mutual TLS between real grpc-js servers and clients on 127.0.0.1: a node of the cluster gets
// through and is recognised by its certificate; anyone else is refused during the handshake.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import {
  callerIdentity,
  type ExpectedPeer,
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

  it('refuses a client without a certificate', async () => {
    const credentials = grpc.credentials.createSsl(Buffer.from(ca.certPem), null, null, {
      checkServerIdentity: () => undefined,
    });
    await assertRefused(
      whoAmI(address, credentials, { 'grpc.ssl_target_name_override': 'orca-node' }),
    );
  });

  it("refuses a client whose certificate another cluster's CA signed", async () => {
    // It trusts our CA, so it would talk to the server; the server will not talk to it.
    await assertRefused(dial(address, material(stranger, ca.certPem)));
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
