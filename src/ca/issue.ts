// The CA's one act: turning a node's CSR into its certificate, with the identity the cluster
// chose for it. Managers call this when a node joins and when its certificate is renewed.

import { createPublicKey } from 'node:crypto';
import { CertificateError } from '../errors.ts';
import {
  assertPositiveDays,
  CLOCK_SKEW_BACKDATE_MS,
  DAY_MS,
  randomSerialNumber,
  SIGNING_ALGORITHM,
} from './certificate-template.ts';
import {
  isWellFormedId,
  type NodeRole,
  organizationalUnit,
  subjectAltDnsNames,
} from './identity-names.ts';
import { assertP256, parseP256PrivateKey, signingKey } from './keys.ts';
import type { RootCa } from './root-ca.ts';
import { x509 } from './x509.ts';

export interface NodeCertificateRequest {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly clusterId: string;
  /** 90 days, as Swarm's default node certificate expiry. */
  readonly validityDays?: number;
  readonly now?: Date;
}

const NODE_VALIDITY_DAYS = 90;

/**
 * Signs a node certificate. The CSR's own signature is checked first: a CSR altered on the way
 * (its public key swapped) would otherwise yield a certificate for a key the node never had.
 * The certificate never outlives the CA, as in Swarm: TLS would reject the rest anyway.
 */
export async function issueNodeCertificate(
  ca: RootCa,
  csrPem: string,
  request: NodeCertificateRequest,
): Promise<string> {
  const { nodeId, role, clusterId, validityDays = NODE_VALIDITY_DAYS, now = new Date() } = request;
  if (!isWellFormedId(nodeId)) {
    throw new CertificateError(`node id ${JSON.stringify(nodeId)} is not a valid id`);
  }
  if (!isWellFormedId(clusterId)) {
    throw new CertificateError(`cluster id ${JSON.stringify(clusterId)} is not a valid id`);
  }
  if (role !== 'manager' && role !== 'worker') {
    throw new CertificateError(`role ${JSON.stringify(role)} is neither manager nor worker`);
  }
  assertPositiveDays(validityDays);

  const csr = parseCsr(csrPem);
  if (!(await verifyCsr(csr))) {
    throw new CertificateError(
      "the certificate request's signature does not match its public key: " +
        'it was altered, or signed by another key than the one it carries',
    );
  }
  const nodePublicKey = createPublicKey({
    key: Buffer.from(csr.publicKey.rawData),
    format: 'der',
    type: 'spki',
  });
  assertP256(nodePublicKey, "the certificate request's key");

  const caCert = new x509.X509Certificate(ca.certPem);
  const caKey = parseP256PrivateKey(ca.keyPem, 'the CA key');
  const notAfter = new Date(
    Math.min(now.getTime() + validityDays * DAY_MS, caCert.notAfter.getTime()),
  );
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: [{ O: [clusterId] }, { OU: [organizationalUnit(role)] }, { CN: [nodeId] }],
    // The CA's name as its certificate encodes it, byte for byte: chain building compares
    // issuer and subject names, and a re-encoded name could differ in string types.
    issuer: caCert.subjectName,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_BACKDATE_MS),
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: csr.publicKey,
    signingKey: signingKey(caKey),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      // Every node is both: it serves its peers and dials them.
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension(
        subjectAltDnsNames(nodeId, role).map((value) => ({ type: 'dns' as const, value })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
      await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
    ],
  });
  return cert.toString('pem');
}

function parseCsr(csrPem: string): x509.Pkcs10CertificateRequest {
  try {
    return new x509.Pkcs10CertificateRequest(csrPem);
  } catch (error) {
    throw new CertificateError(
      `the certificate request is not a PKCS#10 CSR in PEM (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** A CSR that parses can still carry a key WebCrypto cannot read: that is a bad CSR too. */
async function verifyCsr(csr: x509.Pkcs10CertificateRequest): Promise<boolean> {
  try {
    return await csr.verify();
  } catch (error) {
    throw new CertificateError(
      `the certificate request's public key cannot be read (${(error as Error).message})`,
      { cause: error },
    );
  }
}
