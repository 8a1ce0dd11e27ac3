// Join tokens: their format, the CA they pin, and the secret's comparison.

import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  caDigest,
  caMatchesToken,
  createJoinToken,
  createJoinTokens,
  parseJoinToken,
  sameSecret,
} from '../../src/ca/join-token.ts';
import { createRootCa } from '../../src/ca/root-ca.ts';

const ca = await createRootCa();
const otherCa = await createRootCa();

describe('join tokens', () => {
  it('reads ORCA-1-<50 base-36 digest>-<25 base-36 secret>', () => {
    const token = createJoinToken(ca.certPem);
    assert.match(token, /^ORCA-1-[0-9a-z]{50}-[0-9a-z]{25}$/);
    const parsed = parseJoinToken(token);
    assert.equal(parsed.version, 1);
    assert.equal(`ORCA-1-${parsed.caDigest}-${parsed.secret}`, token);
  });

  it("digests the CA certificate's DER with SHA-256, in base 36 as Swarm does", () => {
    const der = new X509Certificate(ca.certPem).raw;
    const hex = createHash('sha256').update(der).digest('hex');
    assert.equal(BigInt(`0x${hex}`).toString(36).padStart(50, '0'), caDigest(ca.certPem));
    assert.equal(parseJoinToken(createJoinToken(ca.certPem)).caDigest, caDigest(ca.certPem));
  });

  it('gives workers and managers different secrets for the same CA', () => {
    const { worker, manager } = createJoinTokens(ca.certPem);
    assert.notEqual(parseJoinToken(worker).secret, parseJoinToken(manager).secret);
    assert.ok(caMatchesToken(ca.certPem, worker));
    assert.ok(caMatchesToken(ca.certPem, parseJoinToken(manager)));
  });

  it('does not match a CA it was not made for', () => {
    assert.equal(caMatchesToken(otherCa.certPem, createJoinToken(ca.certPem)), false);
  });

  it('ignores the whitespace around a pasted token', () => {
    const token = createJoinToken(ca.certPem);
    assert.deepEqual(parseJoinToken(`  ${token}\n`), parseJoinToken(token));
  });

  it('names what is wrong with a malformed token', () => {
    const token = createJoinToken(ca.certPem);
    const { caDigest: digest, secret } = parseJoinToken(token);
    const cases: [string, RegExp][] = [
      ['', /the join token is empty/],
      [`SWMTKN-1-${digest}-${secret}`, /this is a Docker Swarm join token/],
      ['hello', /not an orca join token: it must start with ORCA-1-/],
      [`ORCA-1-${digest}`, /found 3 dash-separated parts instead of 4/],
      [`ORCA-1-${digest}-${secret}-x`, /found 5 dash-separated parts instead of 4/],
      [
        `ORCA-2-${digest}-${secret}`,
        /join token version "2" is not supported; this orca reads version 1/,
      ],
      [`ORCA-1-${digest.slice(1)}-${secret}`, /the CA digest must be 50 characters, it has 49/],
      [`ORCA-1-${digest}-${secret}0`, /the secret must be 25 characters, it has 26/],
      [`ORCA-1-${digest.toUpperCase()}-${secret}`, /the CA digest must be lowercase base 36/],
      [`ORCA-1-${digest}-${'_'.repeat(25)}`, /the secret must be lowercase base 36/],
    ];
    for (const [text, message] of cases) {
      assert.throws(() => parseJoinToken(text), message, JSON.stringify(text));
    }
    assert.throws(() => caMatchesToken(ca.certPem, 'ORCA-1-x'), /malformed join token/);
  });

  it('compares secrets whatever their lengths', () => {
    const { secret } = parseJoinToken(createJoinToken(ca.certPem));
    assert.ok(sameSecret(secret, `${secret}`));
    // The last character changed (a random secret ends in x one time in 36).
    const last = secret.endsWith('x') ? 'y' : 'x';
    assert.equal(sameSecret(secret, `${secret.slice(0, -1)}${last}`), false);
    assert.equal(sameSecret(secret, secret.slice(1)), false);
    assert.equal(sameSecret(secret, ''), false);
  });
});
