// Who is on the other end: read from a certificate only after checking that this cluster's CA
// signed it and that it is in date. Synchronous, so that TLS's server identity callback can
// use it.

import type { X509Certificate } from 'node:crypto';
import { CertificateError } from '../errors.ts';
import { oneLine, parseCertificate } from './certificate-text.ts';
import { isWellFormedId, type NodeRole, roleOfOrganizationalUnit } from './identity-names.ts';
import { x509 } from './x509.ts';

export interface NodeIdentity {
  readonly nodeId: string;
  readonly role: NodeRole;
  readonly clusterId: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** `certificate` is PEM text, or DER bytes as TLS hands a peer's certificate over. */
export function nodeIdentity(
  certificate: string | Buffer,
  caCertPem: string,
  options: { now?: Date } = {},
): NodeIdentity {
  const { now = new Date() } = options;
  const cert = parseCertificate(certificate, 'the node certificate');
  const ca = parseCertificate(caCertPem, 'the CA certificate');
  const named = `the certificate of ${oneLine(cert.subject) || 'an unnamed subject'}`;
  assertSignedBy(cert, ca, named);
  if (now.getTime() > cert.validToDate.getTime()) {
    throw new CertificateError(`${named} expired on ${cert.validToDate.toISOString()}`);
  }
  if (now.getTime() < cert.validFromDate.getTime()) {
    throw new CertificateError(`${named} is not valid until ${cert.validFromDate.toISOString()}`);
  }
  if (cert.ca) throw notANodeCertificate(named, 'it is a CA certificate');

  const subject = new x509.X509Certificate(cert.raw).subjectName;
  const nodeId = singleField(subject, 'CN', named);
  const ou = singleField(subject, 'OU', named);
  const clusterId = singleField(subject, 'O', named);
  const role = roleOfOrganizationalUnit(ou);
  if (role === undefined) {
    throw notANodeCertificate(
      named,
      `its OU is ${JSON.stringify(ou)}, expected orca-manager or orca-worker`,
    );
  }
  if (!isWellFormedId(nodeId)) {
    throw notANodeCertificate(named, `its CN ${JSON.stringify(nodeId)} is not a node id`);
  }
  if (!isWellFormedId(clusterId)) {
    throw notANodeCertificate(named, `its O ${JSON.stringify(clusterId)} is not a cluster id`);
  }
  return { nodeId, role, clusterId, notBefore: cert.validFromDate, notAfter: cert.validToDate };
}

function assertSignedBy(cert: X509Certificate, ca: X509Certificate, named: string): void {
  // Same issuer name is not same issuer: every orca cluster's root is called orca-root-ca, so
  // checkIssued (which also compares key identifiers) and the signature decide.
  if (!cert.checkIssued(ca)) {
    const issuer = cert.issuer === ca.subject ? 'of the same name' : `(${oneLine(cert.issuer)})`;
    throw new CertificateError(
      `${named} was signed by another CA ${issuer}, not this cluster's (${oneLine(ca.subject)})`,
    );
  }
  if (!cert.verify(ca.publicKey)) {
    throw new CertificateError(
      `${named} was signed by another CA than this cluster's, or altered: its signature does not verify with this cluster's CA key`,
    );
  }
}

function singleField(subject: x509.Name, field: 'CN' | 'OU' | 'O', named: string): string {
  const values = subject.getField(field);
  if (values.length !== 1) {
    throw notANodeCertificate(named, `it has ${values.length} ${field} values, expected one`);
  }
  return values[0]!;
}

function notANodeCertificate(named: string, reason: string): CertificateError {
  return new CertificateError(`${named} is not an orca node certificate: ${reason}`);
}
