// A node asks for its certificate with a CSR signed by its own key: the CA learns the public key
// and that the node holds the private one, and the private key never leaves the node.

import { createPublicKey } from 'node:crypto';
import { SIGNING_ALGORITHM } from './certificate-template.ts';
import { parseP256PrivateKey, signingKey, verifyingKey } from './keys.ts';
import { x509 } from './x509.ts';

/**
 * The subject is left empty: the CA decides the node's identity (id, role, cluster) and writes
 * it into the certificate, so nothing the node could put here would be believed.
 */
export async function createCsr(keyPem: string): Promise<string> {
  const key = parseP256PrivateKey(keyPem, 'the node key');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys: { privateKey: signingKey(key), publicKey: verifyingKey(createPublicKey(key)) },
    signingAlgorithm: SIGNING_ALGORITHM,
  });
  return csr.toString('pem');
}
