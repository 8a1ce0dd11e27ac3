// Certificates the tests share, and a way to sign certificates orca itself would never issue
// (a non-orca subject, an intermediate CA) to check that they are refused.

import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { createCsr } from '../../src/ca/csr.ts';
import { issueNodeCertificate, type NodeCertificateRequest } from '../../src/ca/issue.ts';
import { createNodeKey } from '../../src/ca/keys.ts';
import type { RootCa } from '../../src/ca/root-ca.ts';

export const CLUSTER_ID = 'c0lusterid0000000000000000';
export const MANAGER_ID = 'm4nagerid0000000000000000';
export const WORKER_ID = 'w0rkerid00000000000000000';

export interface IssuedNode {
  readonly keyPem: string;
  readonly certPem: string;
}

export async function issueNode(
  ca: RootCa,
  request: Omit<NodeCertificateRequest, 'clusterId'> & { clusterId?: string },
): Promise<IssuedNode> {
  const { keyPem } = createNodeKey();
  const certPem = await issueNodeCertificate(ca, await createCsr(keyPem), {
    clusterId: CLUSTER_ID,
    ...request,
  });
  return { keyPem, certPem };
}

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** Signs whatever the test asks for with the CA's key, bypassing every rule of issueNodeCertificate. */
export async function signAnything(
  ca: RootCa,
  params: {
    subject: x509.JsonName;
    extensions?: x509.Extension[];
    notBefore?: Date;
    notAfter?: Date;
  },
): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const caCert = new x509.X509Certificate(ca.certPem);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '0badc0de',
    subject: params.subject,
    issuer: caCert.subjectName,
    notBefore: params.notBefore ?? new Date(Date.now() - 60_000),
    notAfter: params.notAfter ?? new Date(Date.now() + 86_400_000),
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: createPublicKey(privateKey).toCryptoKey(ecdsa, true, ['verify']),
    signingKey: createPrivateKey(ca.keyPem).toCryptoKey(ecdsa, false, ['sign']),
    extensions: [
      ...(params.extensions ?? []),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * 86_400_000);
}
