import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { aesGcmCipher, ValueCipherError } from '../../src/raft/value-cipher.ts';

const NONCE_AT = 1;
const NONCE_END = 13;

describe('aesGcmCipher', () => {
  it('never reuses a nonce, across refills of its nonce pool', () => {
    const cipher = aesGcmCipher(randomBytes(32));
    const plain = Buffer.from('the same value every time');
    const nonces = new Set<string>();
    // More than one pool's worth (256 nonces), so a refill happens on the way.
    for (let i = 0; i < 1_000; i++) {
      const sealed = cipher.seal(plain);
      nonces.add(sealed.subarray(NONCE_AT, NONCE_END).toString('hex'));
      assert.deepEqual(cipher.open(sealed), plain);
    }
    assert.equal(nonces.size, 1_000);
  });

  it('keeps a sealed value intact after later seals reuse the pool', () => {
    const cipher = aesGcmCipher(randomBytes(32));
    const first = cipher.seal(Buffer.from('first'));
    const before = Buffer.from(first);
    for (let i = 0; i < 600; i++) cipher.seal(Buffer.from(`v${i}`));
    assert.deepEqual(first, before);
    assert.equal(cipher.open(first).toString(), 'first');
  });

  it('refuses a value altered after sealing, or sealed with another key', () => {
    const cipher = aesGcmCipher(randomBytes(32));
    const sealed = cipher.seal(Buffer.from('secret'));
    const altered = Buffer.from(sealed);
    altered[altered.length - 1]! ^= 1;
    assert.throws(() => cipher.open(altered), ValueCipherError);
    assert.throws(() => aesGcmCipher(randomBytes(32)).open(sealed), ValueCipherError);
  });
});
