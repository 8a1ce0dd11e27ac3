// What every certificate the CA signs shares, root included.

import { randomBytes } from 'node:crypto';
import { CertificateError } from '../errors.ts';

export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/**
 * Certificates start an hour in the past, as Swarm's do: a node whose clock is a little behind
 * the CA's would otherwise reject a certificate that is not valid yet for it.
 */
export const CLOCK_SKEW_BACKDATE_MS = 60 * 60 * 1000;

export const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * 16 random bytes (RFC 5280 allows 20; CA/B rules ask for 64 random bits at least), the top bit
 * cleared so that the DER integer stays positive without a padding byte.
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}

export function assertPositiveDays(days: number): void {
  if (!Number.isFinite(days) || days <= 0) {
    throw new CertificateError(`validity must be a positive number of days, not ${days}`);
  }
}
