// The root CA orca makes, and the checks on one a user brings.

import assert from 'node:assert/strict';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import * as x509 from '@peculiar/x509';
import { createNodeKey } from '../../src/ca/keys.ts';
import { createRootCa, loadCa } from '../../src/ca/root-ca.ts';
import { addDays, CLUSTER_ID, issueNode, signAnything, WORKER_ID } from './fixtures.ts';

const ca = await createRootCa({ clusterId: CLUSTER_ID });

describe('createRootCa', () => {
  it('makes a self-signed P-256 CA named orca-root-ca, valid for 20 years', () => {
    const cert = new X509Certificate(ca.certPem);
    assert.equal(cert.subject, `CN=orca-root-ca\nO=${CLUSTER_ID}`);
    assert.equal(cert.issuer, cert.subject);
    assert.ok(cert.ca);
    assert.ok(cert.verify(cert.publicKey));
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (cert.validToDate.getTime() - Date.now()) / (365 * 86_400_000);
    assert.ok(years > 19.9 && years <= 20, `valid for ${years} years`);
    assert.match(ca.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  it('marks basicConstraints critical and allows only certificate and CRL signing', () => {
    const cert = new x509.X509Certificate(ca.certPem);
    const constraints = cert.getExtension(x509.BasicConstraintsExtension);
    assert.equal(constraints?.ca, true);
    assert.equal(constraints?.critical, true);
    const usage = cert.getExtension(x509.KeyUsagesExtension);
    assert.equal(usage?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  });

  it('leaves the cluster out of the name when none is given', async () => {
    const anonymous = await createRootCa({ validityDays: 1 });
    assert.equal(new X509Certificate(anonymous.certPem).subject, 'CN=orca-root-ca');
  });

  it('refuses a cluster id that is not a DNS label, and a validity that is not positive', async () => {
    await assert.rejects(createRootCa({ clusterId: 'a.b' }), /cluster id "a.b" is not a valid id/);
    await assert.rejects(createRootCa({ validityDays: 0 }), /positive number of days, not 0/);
  });
});

describe('loadCa', () => {
  it('accepts a CA with its own key', () => {
    const loaded = loadCa(ca.certPem, ca.keyPem);
    assert.equal(loaded.certPem.trim(), ca.certPem.trim());
  });

  it('refuses a key that does not match the certificate', () => {
    assert.throws(
      () => loadCa(ca.certPem, createNodeKey().keyPem),
      /the CA key does not match the CA certificate \(CN=orca-root-ca, O=c0lusterid/,
    );
  });

  it('refuses text that is not a certificate or not a key', () => {
    assert.throws(
      () => loadCa('hello', ca.keyPem),
      /the CA certificate is not an X.509 certificate/,
    );
    assert.throws(() => loadCa(ca.certPem, 'hello'), /the CA key is not a PEM private key/);
  });

  it('refuses a key that is not ECDSA P-256', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.throws(
      () => loadCa(ca.certPem, rsa.export({ format: 'pem', type: 'pkcs8' }).toString()),
      /the CA key is RSA 1024; orca uses ECDSA P-256 keys only/,
    );
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    assert.throws(
      () => loadCa(ca.certPem, p384.export({ format: 'pem', type: 'pkcs8' }).toString()),
      /the CA key is ECDSA on curve secp384r1/,
    );
  });

  it('refuses a node certificate given as the CA', async () => {
    const node = await issueNode(ca, { nodeId: WORKER_ID, role: 'worker' });
    assert.throws(() => loadCa(node.certPem, node.keyPem), /is not a CA: its basicConstraints/);
  });

  it('refuses an intermediate CA', async () => {
    const intermediate = await signAnything(ca, {
      subject: [{ CN: ['intermediate'] }],
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    assert.throws(
      () => loadCa(intermediate.certPem, intermediate.keyPem),
      /\(CN=intermediate\) is not self-signed \(issuer CN=orca-root-ca.*intermediate CAs are not supported/,
    );
  });

  it('refuses a CA whose keyUsage does not allow signing certificates', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' } as const;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      name: 'CN=no-signing',
      keys: {
        privateKey: privateKey.toCryptoKey(ecdsa, false, ['sign']),
        publicKey: publicKey.toCryptoKey(ecdsa, true, ['verify']),
      },
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ],
    });
    assert.throws(
      () =>
        loadCa(
          cert.toString('pem'),
          privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        ),
      /\(CN=no-signing\) may not sign certificates: its keyUsage lacks keyCertSign/,
    );
  });

  it('refuses an expired CA, naming the date', async () => {
    const made = new Date('2020-01-01T00:00:00Z');
    const old = await createRootCa({ validityDays: 10, now: made });
    assert.throws(
      () => loadCa(old.certPem, old.keyPem),
      /the CA certificate expired on 2020-01-11T00:00:00.000Z/,
    );
    assert.doesNotThrow(() => loadCa(old.certPem, old.keyPem, { now: addDays(made, 5) }));
  });
});
