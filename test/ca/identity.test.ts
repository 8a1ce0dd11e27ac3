// Reading a peer's identity from its certificate, and every reason to refuse one.

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { nodeIdentity } from '../../src/ca/identity.ts';
import { createRootCa } from '../../src/ca/root-ca.ts';
import { addDays, CLUSTER_ID, issueNode, MANAGER_ID, signAnything, WORKER_ID } from './fixtures.ts';

const ca = await createRootCa({ clusterId: CLUSTER_ID });
// Same name as the cluster's CA, another key: what a second orca cluster looks like.
const otherCa = await createRootCa({ clusterId: CLUSTER_ID });
const issuedAt = new Date('2030-01-01T00:00:00Z');

describe('nodeIdentity', () => {
  it("reads node id, role and cluster from a certificate this cluster's CA issued", async () => {
    const manager = await issueNode(ca, { nodeId: MANAGER_ID, role: 'manager', now: issuedAt });
    const identity = nodeIdentity(manager.certPem, ca.certPem, { now: addDays(issuedAt, 1) });
    assert.deepEqual(identity, {
      nodeId: MANAGER_ID,
      role: 'manager',
      clusterId: CLUSTER_ID,
      notBefore: new Date('2029-12-31T23:00:00Z'),
      notAfter: addDays(issuedAt, 90),
    });
  });

  it('takes the DER bytes TLS hands over as well as PEM', async () => {
    const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker' });
    const der = new X509Certificate(worker.certPem).raw;
    assert.equal(nodeIdentity(der, ca.certPem).role, 'worker');
  });

  it("refuses a certificate from another cluster's CA of the same name", async () => {
    const stranger = await issueNode(otherCa, { nodeId: WORKER_ID, role: 'worker' });
    assert.throws(
      () => nodeIdentity(stranger.certPem, ca.certPem),
      /the certificate of O=c0lusterid0+, OU=orca-worker, CN=w0rkerid0+ was signed by another CA of the same name, not this cluster.s \(CN=orca-root-ca, O=c0lusterid0+\)/,
    );
  });

  it('refuses a certificate from a CA of another name, naming both', async () => {
    const named = await createRootCa({ clusterId: 'elsewhere' });
    const stranger = await issueNode(named, { nodeId: WORKER_ID, role: 'worker' });
    assert.throws(
      () => nodeIdentity(stranger.certPem, ca.certPem),
      /signed by another CA \(CN=orca-root-ca, O=elsewhere\), not this cluster's \(CN=orca-root-ca, O=c0lusterid/,
    );
  });

  it('refuses an expired certificate, naming the date', async () => {
    const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker', now: issuedAt });
    assert.throws(
      () => nodeIdentity(worker.certPem, ca.certPem, { now: addDays(issuedAt, 91) }),
      /CN=w0rkerid0+ expired on 2030-04-01T00:00:00.000Z/,
    );
  });

  it('refuses a certificate that is not valid yet', async () => {
    const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker', now: issuedAt });
    assert.throws(
      () => nodeIdentity(worker.certPem, ca.certPem, { now: addDays(issuedAt, -1) }),
      /is not valid until 2029-12-31T23:00:00.000Z/,
    );
  });

  it('refuses the CA certificate itself', () => {
    assert.throws(
      () => nodeIdentity(ca.certPem, ca.certPem),
      /is not an orca node certificate: it is a CA certificate/,
    );
  });

  it('refuses a certificate the CA signed for something that is not an orca node', async () => {
    const notOurs = await signAnything(ca, {
      subject: [{ O: [CLUSTER_ID] }, { OU: ['ops'] }, { CN: [WORKER_ID] }],
    });
    assert.throws(
      () => nodeIdentity(notOurs.certPem, ca.certPem),
      /is not an orca node certificate: its OU is "ops", expected orca-manager or orca-worker/,
    );
    const twoNames = await signAnything(ca, {
      subject: [{ O: [CLUSTER_ID] }, { OU: ['orca-worker'] }, { CN: [WORKER_ID, MANAGER_ID] }],
    });
    assert.throws(
      () => nodeIdentity(twoNames.certPem, ca.certPem),
      /is not an orca node certificate: it has 2 CN values, expected one/,
    );
    const badId = await signAnything(ca, {
      subject: [{ O: [CLUSTER_ID] }, { OU: ['orca-worker'] }, { CN: ['a.b'] }],
    });
    assert.throws(
      () => nodeIdentity(badId.certPem, ca.certPem),
      /is not an orca node certificate: its CN "a.b" is not a node id/,
    );
  });

  it('refuses a certificate whose signature does not verify', async () => {
    const worker = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker' });
    const der = Buffer.from(new x509.X509Certificate(worker.certPem).rawData);
    der[der.length - 5]! ^= 0x01;
    assert.throws(
      () => nodeIdentity(der, ca.certPem),
      /its signature does not verify with this cluster's CA key/,
    );
  });

  it('refuses text that is not a certificate', () => {
    assert.throws(
      () => nodeIdentity('hello', ca.certPem),
      /the node certificate is not an X.509 certificate/,
    );
  });
});
