// ECDSA P-256 keys, held as PKCS#8 PEM. P-256 because every TLS stack and WebCrypto speak it,
// generating a key takes a millisecond, and its signatures are small; it is what Swarm uses.

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import { CertificateError } from '../errors.ts';

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** A node's own key pair. The private key is written to the node's disk and sent nowhere. */
export interface NodeKey {
  readonly keyPem: string;
  readonly publicKeyPem: string;
}

export function generateP256Key(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

export function createNodeKey(): NodeKey {
  const privateKey = generateP256Key();
  const publicKey = createPublicKey(privateKey);
  return {
    keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** `whose` names the key in errors: "the CA key", "the node key". */
export function parseP256PrivateKey(keyPem: string, whose: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (error) {
    throw new CertificateError(`${whose} is not a PEM private key (${(error as Error).message})`, {
      cause: error,
    });
  }
  assertP256(key, whose);
  return key;
}

export function assertP256(key: KeyObject, whose: string): void {
  const details = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType !== 'ec' || details?.namedCurve !== 'prime256v1') {
    const found =
      key.asymmetricKeyType === 'ec'
        ? `ECDSA on curve ${details?.namedCurve}`
        : `${key.asymmetricKeyType?.toUpperCase()}${details?.modulusLength ? ` ${details.modulusLength}` : ''}`;
    throw new CertificateError(`${whose} is ${found}; orca uses ECDSA P-256 keys only`);
  }
}

/** The WebCrypto handle @peculiar/x509 signs with; it cannot be exported back out. */
export function signingKey(key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey(P256, false, ['sign']);
}

export function verifyingKey(key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey(P256, true, ['verify']);
}
