// Unlock keys as Swarm's (`SWMKEY-1-<key>`), spelled `ORCAKEY-1-<key>`: 32 random bytes in
// base64url. With autolock on, a manager keeps its data encryption key wrapped by this key and
// the key itself nowhere on disk, so a stolen disk (or a restarted manager) yields nothing until
// someone types the key in.

import { randomBytes } from 'node:crypto';
import { UnlockKeyError } from '../errors.ts';

const PREFIX = 'ORCAKEY-1-';
const KEY_BYTES = 32;
/** 32 bytes in base64url without padding. */
const KEY_CHARS = 43;

export function createUnlockKey(): string {
  return PREFIX + randomBytes(KEY_BYTES).toString('base64url');
}

/** The key's bytes; an UnlockKeyError saying what is wrong with the text otherwise. */
export function parseUnlockKey(text: string): Buffer {
  const key = text.trim();
  if (key === '') throw new UnlockKeyError('the unlock key is empty');
  if (!key.startsWith(PREFIX)) {
    throw new UnlockKeyError(`an unlock key starts with ${PREFIX}; this one does not`);
  }
  const body = key.slice(PREFIX.length);
  if (body.length !== KEY_CHARS || !/^[A-Za-z0-9_-]+$/.test(body)) {
    throw new UnlockKeyError(
      `an unlock key has ${KEY_CHARS} base64url characters after ${PREFIX}; this one has ${body.length}${/^[A-Za-z0-9_-]*$/.test(body) ? '' : ', some of them not base64url'}`,
    );
  }
  return Buffer.from(body, 'base64url');
}
