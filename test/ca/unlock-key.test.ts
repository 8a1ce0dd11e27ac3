import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createUnlockKey, parseUnlockKey } from '../../src/ca/unlock-key.ts';
import { UnlockKeyError } from '../../src/errors.ts';

describe('unlock keys', () => {
  it('are ORCAKEY-1- and 32 random bytes, and parse back to them', () => {
    const a = createUnlockKey();
    const b = createUnlockKey();
    assert.match(a, /^ORCAKEY-1-[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b);
    assert.equal(parseUnlockKey(a).length, 32);
    assert.deepEqual(parseUnlockKey(`  ${a}\n`), parseUnlockKey(a), 'pasted with blanks');
  });

  it('refuse text that is not a key, saying what is wrong', () => {
    const key = createUnlockKey();
    for (const [text, problem] of [
      ['', /empty/],
      ['SWMKEY-1-abc', /starts with ORCAKEY-1-/],
      [key.slice(0, -1), /43 base64url characters .* this one has 42/],
      [`${key.slice(0, -1)}!`, /not base64url/],
    ] as const) {
      assert.throws(
        () => parseUnlockKey(text),
        (err: unknown) => err instanceof UnlockKeyError && problem.test(err.message),
        text,
      );
    }
  });
});
