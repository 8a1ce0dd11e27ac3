// When a node asks for a fresh certificate: at half its lifetime.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renewalDue } from '../../src/ca/renewal.ts';

const notBefore = new Date('2030-01-01T00:00:00Z');
const notAfter = new Date('2030-03-02T00:00:00Z'); // 60 days
const at = (day: number) => new Date(notBefore.getTime() + day * 86_400_000);

describe('renewalDue', () => {
  it('is not due before half the lifetime has passed', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(0)), false);
    assert.equal(renewalDue(notBefore, notAfter, at(29.99)), false);
  });

  it('is due from half the lifetime on, and once expired', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(30)), true);
    assert.equal(renewalDue(notBefore, notAfter, at(59)), true);
    assert.equal(renewalDue(notBefore, notAfter, at(90)), true);
  });

  it('is not due for a clock behind the start of validity', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(-10)), false);
  });

  it('is due for a certificate with no lifetime at all', () => {
    assert.equal(renewalDue(notAfter, notBefore, at(0)), true);
  });
});
