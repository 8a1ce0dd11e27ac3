// The cluster's root CA: made by the first manager, or brought by the user (as Swarm's
// `--ca-cert`/`--ca-key` let an organisation use its own). Either way the result is the same
// pair of PEM texts, checked once here so that issuing can trust them.

import { createPublicKey } from 'node:crypto';
import { CertificateError } from '../errors.ts';
import {
  assertPositiveDays,
  CLOCK_SKEW_BACKDATE_MS,
  DAY_MS,
  randomSerialNumber,
  SIGNING_ALGORITHM,
} from './certificate-template.ts';
import { oneLine, parseCertificate } from './certificate-text.ts';
import { isWellFormedId, ROOT_CA_COMMON_NAME } from './identity-names.ts';
import { generateP256Key, parseP256PrivateKey, signingKey, verifyingKey } from './keys.ts';
import { x509 } from './x509.ts';

/**
 * The CA certificate every node trusts, and the key only managers hold. Issuing takes it as
 * sound: get one from createRootCa or loadCa, not by pairing PEM texts by hand.
 */
export interface RootCa {
  readonly certPem: string;
  readonly keyPem: string;
}

export interface CreateRootCaOptions {
  /** Written as the CA's O, so that an operator looking at the certificate sees its cluster. */
  readonly clusterId?: string;
  readonly validityDays?: number;
  readonly now?: Date;
}

/** Twenty years, as Swarm's root: rotating a root is a cluster-wide event, not a routine one. */
const ROOT_VALIDITY_DAYS = 20 * 365;

export async function createRootCa(options: CreateRootCaOptions = {}): Promise<RootCa> {
  const { clusterId, validityDays = ROOT_VALIDITY_DAYS, now = new Date() } = options;
  if (clusterId !== undefined && !isWellFormedId(clusterId)) {
    throw new CertificateError(`cluster id ${JSON.stringify(clusterId)} is not a valid id`);
  }
  assertPositiveDays(validityDays);
  const key = generateP256Key();
  const publicKey = verifyingKey(createPublicKey(key));
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    name: [{ CN: [ROOT_CA_COMMON_NAME] }, ...(clusterId ? [{ O: [clusterId] }] : [])],
    notBefore: new Date(now.getTime() - CLOCK_SKEW_BACKDATE_MS),
    notAfter: new Date(now.getTime() + validityDays * DAY_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys: { privateKey: signingKey(key), publicKey },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
  return {
    certPem: cert.toString('pem'),
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

/**
 * Checks a CA brought from outside before the cluster trusts it: each failure names what is
 * wrong, since the user has to go and fetch the right file.
 */
export function loadCa(certPem: string, keyPem: string, options: { now?: Date } = {}): RootCa {
  const { now = new Date() } = options;
  const cert = parseCertificate(certPem, 'the CA certificate');
  const key = parseP256PrivateKey(keyPem, 'the CA key');
  // Read from the extensions rather than Node's `cert.ca`, which also says false for a CA whose
  // keyUsage lacks keyCertSign: the user needs to know which of the two to fix.
  const decoded = new x509.X509Certificate(cert.raw);
  if (!decoded.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new CertificateError(
      `the CA certificate (${oneLine(cert.subject)}) is not a CA: its basicConstraints do not say CA:true`,
    );
  }
  const keyUsage = decoded.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) === 0) {
    throw new CertificateError(
      `the CA certificate (${oneLine(cert.subject)}) may not sign certificates: its keyUsage lacks keyCertSign`,
    );
  }
  if (!cert.checkIssued(cert) || !cert.verify(cert.publicKey)) {
    throw new CertificateError(
      `the CA certificate (${oneLine(cert.subject)}) is not self-signed (issuer ${oneLine(cert.issuer)}): ` +
        'orca needs the root CA itself; intermediate CAs are not supported yet',
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new CertificateError(
      `the CA key does not match the CA certificate (${oneLine(cert.subject)}): ` +
        'the certificate was made for another key',
    );
  }
  if (now.getTime() > cert.validToDate.getTime()) {
    throw new CertificateError(`the CA certificate expired on ${cert.validToDate.toISOString()}`);
  }
  if (now.getTime() < cert.validFromDate.getTime()) {
    throw new CertificateError(
      `the CA certificate is not valid until ${cert.validFromDate.toISOString()}`,
    );
  }
  return {
    certPem: cert.toString(),
    keyPem: key.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}
