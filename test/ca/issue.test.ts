// Node keys, CSRs and the certificates the CA issues from them.

import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createCsr } from '../../src/ca/csr.ts';
import { issueNodeCertificate } from '../../src/ca/issue.ts';
import { createNodeKey } from '../../src/ca/keys.ts';
import { createRootCa } from '../../src/ca/root-ca.ts';
import { CertificateError } from '../../src/errors.ts';
import { addDays, CLUSTER_ID, MANAGER_ID, WORKER_ID } from './fixtures.ts';

const ca = await createRootCa({ clusterId: CLUSTER_ID });
const caCert = new X509Certificate(ca.certPem);

describe('createNodeKey and createCsr', () => {
  it('makes a P-256 key pair whose public half is the one in the CSR', async () => {
    const { keyPem, publicKeyPem } = createNodeKey();
    assert.match(keyPem, /^-----BEGIN PRIVATE KEY-----/);
    const publicKey = createPublicKey(publicKeyPem);
    assert.equal(publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const csr = new x509.Pkcs10CertificateRequest(await createCsr(keyPem));
    assert.ok(await csr.verify());
    assert.equal(csr.subject, '');
    assert.deepEqual(
      Buffer.from(csr.publicKey.rawData),
      publicKey.export({ format: 'der', type: 'spki' }),
    );
  });

  it('refuses a key that is not a PEM private key', async () => {
    await assert.rejects(createCsr('nope'), /the node key is not a PEM private key/);
  });
});

describe('issueNodeCertificate', () => {
  const now = new Date('2030-06-01T12:00:00Z');
  const { keyPem } = createNodeKey();

  it('writes the identity the CA chose: CN node id, OU role, O cluster id', async () => {
    const csrPem = await createCsr(keyPem);
    const certPem = await issueNodeCertificate(ca, csrPem, {
      nodeId: WORKER_ID,
      role: 'worker',
      clusterId: CLUSTER_ID,
    });
    const cert = new X509Certificate(certPem);
    assert.equal(cert.subject, `O=${CLUSTER_ID}\nOU=orca-worker\nCN=${WORKER_ID}`);
    assert.ok(cert.checkIssued(caCert), 'issuer name and key id match the CA');
    assert.ok(cert.verify(caCert.publicKey));
    assert.ok(cert.checkPrivateKey(createPrivateKey(keyPem)), 'certifies the key of the CSR');
    assert.equal(cert.ca, false);
    assert.equal(cert.subjectAltName, `DNS:${WORKER_ID}`);
    assert.equal(cert.checkHost(WORKER_ID), WORKER_ID);
  });

  it('gives managers the orca-manager DNS name as well', async () => {
    const certPem = await issueNodeCertificate(ca, await createCsr(keyPem), {
      nodeId: MANAGER_ID,
      role: 'manager',
      clusterId: CLUSTER_ID,
    });
    const cert = new X509Certificate(certPem);
    assert.match(cert.subject, /OU=orca-manager/);
    assert.equal(cert.subjectAltName, `DNS:${MANAGER_ID}, DNS:orca-manager`);
  });

  it('allows TLS on both ends and nothing else', async () => {
    const cert = new x509.X509Certificate(
      await issueNodeCertificate(ca, await createCsr(keyPem), {
        nodeId: WORKER_ID,
        role: 'worker',
        clusterId: CLUSTER_ID,
      }),
    );
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    assert.equal(
      usage?.usages,
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    );
    assert.deepEqual(
      [...(cert.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [])],
      [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
    );
    assert.equal(cert.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  });

  it('is valid for 90 days by default, from an hour before issuing', async () => {
    const cert = new X509Certificate(
      await issueNodeCertificate(ca, await createCsr(keyPem), {
        nodeId: WORKER_ID,
        role: 'worker',
        clusterId: CLUSTER_ID,
        now,
      }),
    );
    assert.equal(cert.validFromDate.toISOString(), '2030-06-01T11:00:00.000Z');
    assert.equal(cert.validToDate.toISOString(), addDays(now, 90).toISOString());
  });

  it('never outlives the CA', async () => {
    const shortCa = await createRootCa({ validityDays: 30, now });
    const cert = new X509Certificate(
      await issueNodeCertificate(shortCa, await createCsr(keyPem), {
        nodeId: WORKER_ID,
        role: 'worker',
        clusterId: CLUSTER_ID,
        now,
      }),
    );
    assert.equal(
      cert.validToDate.getTime(),
      new X509Certificate(shortCa.certPem).validToDate.getTime(),
    );
  });

  /** A CSR of `keyPem` as bytes, and where its public key (SPKI, `length` bytes) starts. */
  async function csrBytes(): Promise<{ der: Buffer; at: number; length: number }> {
    const der = Buffer.from(new x509.Pkcs10CertificateRequest(await createCsr(keyPem)).rawData);
    const ownKey = createPublicKey(keyPem).export({ format: 'der', type: 'spki' });
    const at = der.indexOf(ownKey);
    assert.ok(at > 0);
    return { der, at, length: ownKey.length };
  }

  it('refuses a CSR whose public key was swapped on the way', async () => {
    const { der, at } = await csrBytes();
    const otherKey = createPublicKey(createNodeKey().keyPem).export({
      format: 'der',
      type: 'spki',
    });
    otherKey.copy(der, at);
    const tampered = new x509.Pkcs10CertificateRequest(der).toString('pem');
    await assert.rejects(
      issueNodeCertificate(ca, tampered, {
        nodeId: WORKER_ID,
        role: 'worker',
        clusterId: CLUSTER_ID,
      }),
      /the certificate request's signature does not match its public key: it was altered/,
    );
  });

  it('refuses a CSR whose public key is damaged, as a bad CSR', async () => {
    const { der, at, length } = await csrBytes();
    // The point's last coordinate byte changed: it is no longer on the curve.
    const last = at + length - 1;
    der.writeUInt8(der.readUInt8(last) ^ 0xff, last);
    const damaged = new x509.Pkcs10CertificateRequest(der).toString('pem');
    await assert.rejects(
      issueNodeCertificate(ca, damaged, {
        nodeId: WORKER_ID,
        role: 'worker',
        clusterId: CLUSTER_ID,
      }),
      (err: unknown) =>
        err instanceof CertificateError &&
        /the certificate request's public key cannot be read/.test(err.message),
    );
  });

  it('refuses what is not a CSR, ids that are not DNS labels, and unknown roles', async () => {
    const csrPem = await createCsr(keyPem);
    const good = { nodeId: WORKER_ID, role: 'worker', clusterId: CLUSTER_ID } as const;
    await assert.rejects(
      issueNodeCertificate(ca, 'garbage', good),
      /the certificate request is not a PKCS#10 CSR in PEM/,
    );
    await assert.rejects(
      issueNodeCertificate(ca, csrPem, { ...good, nodeId: '*.example.com' }),
      /node id "\*.example.com" is not a valid id/,
    );
    await assert.rejects(
      issueNodeCertificate(ca, csrPem, { ...good, clusterId: 'Upper' }),
      /cluster id "Upper" is not a valid id/,
    );
    await assert.rejects(
      issueNodeCertificate(ca, csrPem, { ...good, role: 'admin' as 'worker' }),
      /role "admin" is neither manager nor worker/,
    );
    await assert.rejects(
      issueNodeCertificate(ca, csrPem, { ...good, validityDays: -1 }),
      /positive number of days, not -1/,
    );
  });
});
