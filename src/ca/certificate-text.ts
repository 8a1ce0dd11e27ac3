// Reading certificates with Node's own X.509 parser, with errors that say which certificate
// was unreadable.

import { X509Certificate } from 'node:crypto';
import { CertificateError } from '../errors.ts';

/** `what` names the certificate in errors. Accepts PEM text or DER bytes. */
export function parseCertificate(certificate: string | Buffer, what: string): X509Certificate {
  try {
    return new X509Certificate(certificate);
  } catch (error) {
    throw new CertificateError(
      `${what} is not an X.509 certificate in PEM (${(error as Error).message})`,
      { cause: error },
    );
  }
}

/** Node prints a distinguished name one attribute per line; errors want it on one. */
export function oneLine(distinguishedName: string): string {
  return distinguishedName.split('\n').join(', ');
}
