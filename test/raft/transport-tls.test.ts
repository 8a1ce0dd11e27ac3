// The Raft transport under the cluster CA, as a manager runs it: TLS with client certificates,
// and only a manager speaking for itself gets its messages delivered. A worker's certificate
// (good for its dispatcher session on the same port), a manager's certificate claiming another
// member, and a caller with no certificate at all (which the port lets through the handshake,
// for nodes joining) are refused.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createRootCa,
  joiningClientTls,
  managerPeerProblem,
  type NodeTlsMaterial,
  nodeClientTls,
  nodeServerCredentials,
  type RootCa,
} from '../../src/ca/index.ts';
import { GrpcTransport } from '../../src/raft/transport.ts';
import { type Message, message } from '../../src/raft/types.ts';
import { CLUSTER_ID, issueNode } from '../ca/fixtures.ts';
import { waitFor } from '../support/wait.ts';

const M1 = 'm1aaaaaaaaaaaaaaaaaaaaaaa';
const M2 = 'm2aaaaaaaaaaaaaaaaaaaaaaa';
const M3 = 'm3aaaaaaaaaaaaaaaaaaaaaaa';
const W1 = 'w1aaaaaaaaaaaaaaaaaaaaaaa';

let ca: RootCa;
const open: GrpcTransport[] = [];

async function material(nodeId: string, role: 'manager' | 'worker'): Promise<NodeTlsMaterial> {
  const issued = await issueNode(ca, { nodeId, role });
  return { caCertPem: ca.certPem, ...issued };
}

async function transport(
  nodeId: string,
  tls: NodeTlsMaterial,
  onMessage: (m: Message) => void = () => {},
  warnings: string[] = [],
  client = nodeClientTls(tls, { role: 'manager' }),
) {
  const t = new GrpcTransport({
    nodeId,
    clusterId: CLUSTER_ID,
    listenAddr: '127.0.0.1:0',
    onMessage,
    logger: { warn: (obj, msg) => warnings.push(`${msg} ${JSON.stringify(obj)}`) },
    credentials: {
      server: nodeServerCredentials(tls),
      channel: client.credentials,
      channelOptions: client.channelOptions,
    },
    authorize: (call, from) => managerPeerProblem(call, ca.certPem, from),
  });
  open.push(t);
  return { t, addr: await t.start() };
}

const heartbeat = (from: string, to: string) =>
  message({ type: 'heartbeat', from, to, term: 1, commit: 0 });

describe('the Raft transport on mutual TLS', () => {
  const received: Message[] = [];
  const warnings: string[] = [];
  let target = '';

  before(async () => {
    ca = await createRootCa({ clusterId: CLUSTER_ID });
    const m1 = await transport(
      M1,
      await material(M1, 'manager'),
      (m) => received.push(m),
      warnings,
    );
    target = m1.addr;
  });

  after(async () => {
    await Promise.all(open.splice(0).map((t) => t.close()));
  });

  it('delivers what a manager sends for itself', async () => {
    const { t } = await transport(M2, await material(M2, 'manager'));
    t.setPeer(M1, target);
    t.send([heartbeat(M2, M1)]);
    await waitFor(() => received.some((m) => m.from === M2), { what: 'm2 heard' });
  });

  it("refuses a worker's certificate, and a manager's claiming another member", async () => {
    const worker = await transport(W1, await material(W1, 'worker'));
    worker.t.setPeer(M1, target);
    worker.t.send([heartbeat(W1, M1)]);
    // M2's certificate, sending as M3.
    const impostor = await transport(M3, await material(M2, 'manager'));
    impostor.t.setPeer(M1, target);
    impostor.t.send([heartbeat(M3, M1)]);
    await waitFor(
      () =>
        warnings.some((w) => w.includes('only managers speak Raft')) &&
        warnings.some((w) => w.includes(`cannot speak for member ${M3}`)),
      { what: 'both refusals logged' },
    );
    assert.ok(!received.some((m) => m.from === W1 || m.from === M3), 'nothing of theirs delivered');
  });

  it('refuses a caller that presented no certificate', async () => {
    const M4 = 'm4aaaaaaaaaaaaaaaaaaaaaaa';
    // Its own listener needs a certificate; what it dials with has none, as a joining node's.
    const anonymous = await transport(
      M4,
      await material(M4, 'manager'),
      () => {},
      [],
      joiningClientTls(ca.certPem),
    );
    anonymous.t.setPeer(M1, target);
    anonymous.t.send([heartbeat(M4, M1)]);
    await waitFor(() => warnings.some((w) => w.includes('presented no verified certificate')), {
      what: 'the refusal logged',
    });
    assert.ok(!received.some((m) => m.from === M4), 'nothing of its delivered');
  });
});
