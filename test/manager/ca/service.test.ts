// The CA service a joining node talks to: a certificate and a Node object for a valid token and
// CSR, nothing at all for anything else; first on a local store, then over gRPC on a port like a
// manager's cluster port (TLS, no client certificate), as a joining node reaches it.

import assert from 'node:assert/strict';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CaClient } from '../../../src/api/ca-wire.ts';
import type { NodeDescription } from '../../../src/api/objects.ts';
import {
  type CallWithAuthContext,
  createCsr,
  createJoinToken,
  createJoinTokens,
  createNodeKey,
  createRootCa,
  joiningClientTls,
  nodeIdentity,
  nodeServerCredentials,
  type RootCa,
} from '../../../src/ca/index.ts';
import { OrcaError } from '../../../src/errors.ts';
import { CaService, type Leadership, serveCa } from '../../../src/manager/ca/index.ts';
import { Store } from '../../../src/store/index.ts';
import { CLUSTER_ID, issueNode, MANAGER_ID } from '../../ca/fixtures.ts';

const description: NodeDescription = {
  hostname: 'joiner',
  platform: { os: 'linux', arch: 'amd64' },
  resources: { nanoCpus: 2e9, memoryBytes: 2 ** 30 },
  engine: { version: '27.0', labels: {} },
  usage: null,
};

const ca = await createRootCa({ clusterId: CLUSTER_ID });
const tokens = createJoinTokens(ca.certPem);

async function newStore(rootCa: RootCa = ca): Promise<Store> {
  const store = new Store({ proposer: null });
  await store.update((tx) =>
    tx.clusters.create(
      {
        spec: { name: 'default', taskHistoryLimit: 5, dispatcherHeartbeatMs: 5000 },
        rootCa: { certPem: rootCa.certPem, keyPem: rootCa.keyPem },
        joinTokens: tokens,
      },
      { id: CLUSTER_ID },
    ),
  );
  return store;
}

/** Raft membership as the CA service sees it, recording the learners it adds. */
function fakeRaft() {
  const learners: string[] = [];
  const added: [string, string][] = [];
  return {
    added,
    status: () => ({ voters: ['m1'], learners }),
    addLearner: async (id: string, addr: string) => {
      added.push([id, addr]);
      learners.push(id);
    },
  };
}

function service(
  store: Store,
  leadership: Leadership = { isLeader: true, leaderAddr: null },
  raft = fakeRaft(),
) {
  return new CaService({ store, clusterId: CLUSTER_ID, leadership: () => leadership, raft });
}

/** A call as the server sees one over mutual TLS from the holder of `certPem`. */
function callWith(certPem: string): CallWithAuthContext {
  const raw = new X509Certificate(certPem).raw;
  return {
    getAuthContext: () => ({ sslPeerCertificate: { raw } }),
  } as unknown as CallWithAuthContext;
}

async function request(token = tokens.worker) {
  const key = createNodeKey();
  return { key, body: { token, csrPem: await createCsr(key.keyPem), description } };
}

const nodeCount = (store: Store) => store.view((tx) => tx.nodes.all().length);

const refused = (code: string, message: RegExp) => (err: unknown) => {
  assert.ok(err instanceof OrcaError, String(err));
  assert.equal(err.code, code);
  assert.match(err.message, message);
  return true;
};

describe('the CA service', () => {
  it('signs a worker token holder and creates its node, active and not yet ready', async () => {
    const store = await newStore();
    const { key, body } = await request();
    const res = await service(store).issueNodeCertificate(body, '10.0.0.7');
    assert.equal(res.role, 'worker');
    assert.equal(res.clusterId, CLUSTER_ID);
    assert.equal(res.caCertPem, ca.certPem);
    const id = nodeIdentity(res.certPem, ca.certPem);
    assert.deepEqual([id.nodeId, id.role, id.clusterId], [res.nodeId, 'worker', CLUSTER_ID]);
    assert.ok(new X509Certificate(res.certPem).checkPrivateKey(createPrivateKey(key.keyPem)));
    const node = store.view((tx) => tx.nodes.get(res.nodeId));
    assert.deepEqual(node?.spec, { role: 'worker', availability: 'active', labels: {} });
    assert.deepEqual(node?.description, description);
    assert.deepEqual(node?.status, { state: 'unknown', message: '', addr: '10.0.0.7' });
  });

  it('takes the address the node advertises over the one it called from', async () => {
    const store = await newStore();
    const { body } = await request();
    const res = await service(store).issueNodeCertificate(
      { ...body, advertiseAddr: '192.168.1.9' },
      '10.0.0.7',
    );
    assert.equal(store.view((tx) => tx.nodes.get(res.nodeId))?.status.addr, '192.168.1.9');
  });

  it('refuses, and creates nothing for, a wrong, rotated or foreign token', async () => {
    const store = await newStore();
    const ca2 = await createRootCa({ clusterId: CLUSTER_ID });
    for (const [token, message] of [
      [createJoinToken(ca.certPem), /wrong, or it was rotated/],
      [createJoinToken(ca2.certPem), /made for another swarm/],
      ['ORCA-1-nope', /malformed join token/],
    ] as const) {
      const { body } = await request(token);
      await assert.rejects(
        service(store).issueNodeCertificate(body, '10.0.0.7'),
        refused('ORCA_JOIN_TOKEN', message),
      );
    }
    assert.equal(nodeCount(store), 0);
  });

  it('refuses a malformed CSR, or one whose signature does not match, creating nothing', async () => {
    const store = await newStore();
    const { body } = await request();
    await assert.rejects(
      service(store).issueNodeCertificate({ ...body, csrPem: 'not a CSR' }, '10.0.0.7'),
      refused('ORCA_CERTIFICATE', /not a PKCS#10 CSR/),
    );
    const other = await request();
    const swapped = body.csrPem.slice(0, 100) + other.body.csrPem.slice(100);
    await assert.rejects(
      service(store).issueNodeCertificate({ ...body, csrPem: swapped }, '10.0.0.7'),
      (err: unknown) => err instanceof OrcaError && err.code === 'ORCA_CERTIFICATE',
    );
    assert.equal(nodeCount(store), 0);
  });

  it('names every missing or malformed field, creating nothing', async () => {
    const store = await newStore();
    await assert.rejects(
      service(store).issueNodeCertificate({ advertiseAddr: 7 }, '10.0.0.7'),
      refused(
        'ORCA_BAD_REQUEST',
        /^token: .*; csrPem: .*; description: not a node description; advertiseAddr: /,
      ),
    );
    assert.equal(nodeCount(store), 0);
  });

  it('signs a manager token holder as a manager, and lets it join the Raft group once', async () => {
    const store = await newStore();
    const raft = fakeRaft();
    const ca1 = service(store, undefined, raft);
    const { body } = await request(tokens.manager);
    const res = await ca1.issueNodeCertificate(body, '10.0.0.8');
    assert.equal(res.role, 'manager');
    assert.equal(nodeIdentity(res.certPem, ca.certPem).role, 'manager');
    assert.equal(store.view((tx) => tx.nodes.get(res.nodeId))?.spec.role, 'manager');

    const call = callWith(res.certPem);
    assert.deepEqual(await ca1.joinRaft({ raftAddr: '10.0.0.8:2377' }, call), { joined: true });
    assert.deepEqual(raft.added, [[res.nodeId, '10.0.0.8:2377']]);
    // Asked again (the joiner restarted): already a learner, nothing added.
    assert.deepEqual(await ca1.joinRaft({ raftAddr: '10.0.0.8:2377' }, call), { joined: true });
    assert.equal(raft.added.length, 1);
  });

  it('keeps workers out of the Raft group, and points a joining manager at the leader', async () => {
    const store = await newStore();
    const raft = fakeRaft();
    const worker = await service(store, undefined, raft).issueNodeCertificate(
      (await request()).body,
      '10.0.0.9',
    );
    await assert.rejects(
      service(store, undefined, raft).joinRaft(
        { raftAddr: '10.0.0.9:2377' },
        callWith(worker.certPem),
      ),
      refused('ORCA_SWARM_NOT_MANAGER', /only managers join the Raft group/),
    );
    await assert.rejects(
      service(store, undefined, raft).joinRaft({}, callWith(worker.certPem)),
      refused('ORCA_BAD_REQUEST', /^raftAddr: /),
    );
    const follower = service(store, { isLeader: false, leaderAddr: '10.0.0.1:2377' }, raft);
    assert.deepEqual(
      await follower.joinRaft({ raftAddr: '10.0.0.9:2377' }, callWith(worker.certPem)),
      { leaderAddr: '10.0.0.1:2377' },
    );
    assert.deepEqual(raft.added, []);
  });

  it('sends the joiner to the leader when asked of a follower', async () => {
    const store = await newStore();
    const { body } = await request();
    const follower = service(store, { isLeader: false, leaderAddr: '10.0.0.1:2377' });
    await assert.rejects(
      follower.issueNodeCertificate(body, '10.0.0.7'),
      refused('ORCA_NOT_LEADER', /join through the leader at 10\.0\.0\.1:2377/),
    );
    assert.equal(nodeCount(store), 0);
    assert.equal(follower.rootCaCertificate().certPem, ca.certPem, 'any manager hands out the CA');
  });
});

describe('the CA service over gRPC, to a caller without a certificate', () => {
  let store: Store;
  let server: grpc.Server;
  let addr = '';

  before(async () => {
    store = await newStore();
    const manager = await issueNode(ca, { nodeId: MANAGER_ID, role: 'manager' });
    server = new grpc.Server();
    serveCa(server, service(store));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(
        '127.0.0.1:0',
        nodeServerCredentials({ caCertPem: ca.certPem, ...manager }),
        (e, p) => (e ? reject(e) : resolve(p)),
      ),
    );
    addr = `127.0.0.1:${port}`;
  });

  after(() => server.forceShutdown());

  function client(caCertPem: string | null): CaClient {
    const tls = joiningClientTls(caCertPem);
    return new CaClient(addr, tls.credentials, tls.channelOptions);
  }

  it('hands out the root certificate and a node certificate, the node at the caller address', async () => {
    const trusting = client(null);
    const root = await trusting.call('GetRootCACertificate', {}, 5000);
    trusting.close();
    assert.equal(root.certPem, ca.certPem);
    const pinned = client(root.certPem);
    const { body } = await request();
    const res = await pinned.call('IssueNodeCertificate', body, 5000);
    pinned.close();
    assert.equal(nodeIdentity(res.certPem, ca.certPem).nodeId, res.nodeId);
    assert.equal(store.view((tx) => tx.nodes.get(res.nodeId))?.status.addr, '127.0.0.1');
  });

  it("carries a refusal's orca code and message back to the joiner", async () => {
    const before = nodeCount(store);
    const pinned = client(ca.certPem);
    const { body } = await request(createJoinToken(ca.certPem));
    await assert.rejects(
      pinned.call('IssueNodeCertificate', body, 5000),
      refused('ORCA_JOIN_TOKEN', /wrong, or it was rotated/),
    );
    pinned.close();
    assert.equal(nodeCount(store), before);
  });
});
