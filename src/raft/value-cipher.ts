// Encryption at rest for the values of the Raft store (entries and snapshots), for a locked
// swarm: AES-256-GCM with a fresh random nonce per value, so a value can neither be read nor
// changed without the key. The key itself (the data encryption key) is kept wrapped by the
// daemon (see src/daemon/at-rest-keys.ts); the store only ever sees the cipher.
//
// Layout of a sealed value: version (1 byte) | nonce (12) | tag (16) | ciphertext.

import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface ValueCipher {
  seal(plain: Uint8Array): Buffer;
  /** Throws a ValueCipherError when the value was not sealed with this key or was altered. */
  open(sealed: Uint8Array): Buffer;
}

export class ValueCipherError extends Error {}

const VERSION = 1;
const NONCE = 12;
const TAG = 16;
const HEADER = 1 + NONCE + TAG;
export const KEY_BYTES = 32;

/**
 * Random nonces drawn from the CSPRNG 256 at a time, each used once. One randomBytes call per
 * sealed value stalled the daemon's main thread for 1 to 20 ms each while containers were
 * starting on a busy host (about 120 ms over a 50-replica create); a pooled draw costs the same
 * randomness and no stall.
 */
class NoncePool {
  #pool = Buffer.alloc(0);
  #next = 0;

  take(): Buffer {
    if (this.#next + NONCE > this.#pool.length) {
      this.#pool = randomBytes(NONCE * 256);
      this.#next = 0;
    }
    this.#next += NONCE;
    return this.#pool.subarray(this.#next - NONCE, this.#next);
  }
}

export function aesGcmCipher(key: Uint8Array): ValueCipher {
  if (key.length !== KEY_BYTES) {
    throw new ValueCipherError(`an AES-256 key has ${KEY_BYTES} bytes, not ${key.length}`);
  }
  const k = Buffer.from(key);
  const nonces = new NoncePool();
  return {
    seal(plain) {
      const nonce = nonces.take();
      const cipher = createCipheriv('aes-256-gcm', k, nonce);
      const body = Buffer.concat([cipher.update(plain), cipher.final()]);
      return Buffer.concat([Buffer.of(VERSION), nonce, cipher.getAuthTag(), body]);
    },
    open(sealed) {
      const buf = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
      if (buf.length < HEADER || buf[0] !== VERSION) {
        throw new ValueCipherError('not a value sealed by orca (bad header)');
      }
      const decipher = createDecipheriv('aes-256-gcm', k, buf.subarray(1, 1 + NONCE));
      decipher.setAuthTag(buf.subarray(1 + NONCE, HEADER));
      try {
        return Buffer.concat([decipher.update(buf.subarray(HEADER)), decipher.final()]);
      } catch {
        throw new ValueCipherError('the value does not open with this key, or was altered');
      }
    },
  };
}
