// Join tokens as Swarm's (`SWMTKN-1-<digest>-<secret>`), spelled `ORCA-1-<digest>-<secret>`.
//
// Why the digest: a joining node has nothing to trust yet. It fetches the CA certificate from
// the manager it was pointed at over a connection it cannot authenticate, so a machine in the
// middle could hand it a CA of its own. The token reached the operator out of band (read on a
// real manager), and it carries the SHA-256 of the genuine CA certificate: the node accepts the
// fetched certificate only if its digest matches, and from then on verifies the manager
// against it. The secret then proves to the manager that the node
// was invited, and with which role; there is one secret for workers and one for managers.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { JoinTokenError } from '../errors.ts';
import { parseCertificate } from './certificate-text.ts';

export interface JoinToken {
  readonly version: number;
  /** SHA-256 of the CA certificate's DER, in base 36, padded to 50 characters. */
  readonly caDigest: string;
  readonly secret: string;
}

const PREFIX = 'ORCA';
const VERSION = 1;
/** 36^50 > 2^256 > 36^49: the widest SHA-256 in base 36 has 50 digits. */
const DIGEST_LENGTH = 50;
/** 16 random bytes: 36^25 > 2^128, so 25 digits always hold them. */
const SECRET_LENGTH = 25;
const SECRET_BYTES = 16;

export function caDigest(caCertPem: string): string {
  const der = parseCertificate(caCertPem, 'the CA certificate').raw;
  return toBase36(createHash('sha256').update(der).digest(), DIGEST_LENGTH);
}

export function createJoinToken(caCertPem: string): string {
  const secret = toBase36(randomBytes(SECRET_BYTES), SECRET_LENGTH);
  return `${PREFIX}-${VERSION}-${caDigest(caCertPem)}-${secret}`;
}

/** Separate secrets, so that a leaked worker token cannot make a manager. */
export function createJoinTokens(caCertPem: string): { worker: string; manager: string } {
  return { worker: createJoinToken(caCertPem), manager: createJoinToken(caCertPem) };
}

export function parseJoinToken(text: string): JoinToken {
  const token = text.trim();
  if (token === '') throw new JoinTokenError('the join token is empty');
  const parts = token.split('-');
  if (parts[0] === 'SWMTKN') {
    throw new JoinTokenError(
      'this is a Docker Swarm join token (SWMTKN-...); orca join tokens start with ORCA-1-',
    );
  }
  if (parts[0] !== PREFIX) {
    throw new JoinTokenError(`not an orca join token: it must start with ${PREFIX}-${VERSION}-`);
  }
  if (parts.length !== 4) {
    throw new JoinTokenError(
      `malformed join token: expected ${PREFIX}-<version>-<CA digest>-<secret>, ` +
        `found ${parts.length} dash-separated parts instead of 4`,
    );
  }
  const [, versionText, digest, secret] = parts as [string, string, string, string];
  if (versionText !== String(VERSION)) {
    throw new JoinTokenError(
      `join token version ${JSON.stringify(versionText)} is not supported; this orca reads version ${VERSION}`,
    );
  }
  assertBase36(digest, DIGEST_LENGTH, 'CA digest');
  assertBase36(secret, SECRET_LENGTH, 'secret');
  return { version: VERSION, caDigest: digest, secret };
}

/**
 * Whether the CA certificate a joining node was handed is the one the token was made for.
 * A plain comparison: the digest is public, only the secret needs `sameSecret`.
 */
export function caMatchesToken(caCertPem: string, token: string | JoinToken): boolean {
  const parsed = typeof token === 'string' ? parseJoinToken(token) : token;
  return caDigest(caCertPem) === parsed.caDigest;
}

/**
 * Compares a presented secret with the cluster's without the time taken saying how many leading
 * characters matched. Both are hashed first, since timingSafeEqual needs equal lengths and a
 * length check of its own would leak the length.
 */
export function sameSecret(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a).digest();
  const digestB = createHash('sha256').update(b).digest();
  return timingSafeEqual(digestA, digestB);
}

function toBase36(bytes: Buffer, width: number): string {
  return BigInt(`0x${bytes.toString('hex')}`)
    .toString(36)
    .padStart(width, '0');
}

function assertBase36(value: string, length: number, what: string): void {
  if (value.length !== length) {
    throw new JoinTokenError(
      `malformed join token: the ${what} must be ${length} characters, it has ${value.length}`,
    );
  }
  if (!/^[0-9a-z]+$/.test(value)) {
    throw new JoinTokenError(
      `malformed join token: the ${what} must be lowercase base 36 (0-9, a-z)`,
    );
  }
}
