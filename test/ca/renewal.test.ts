// When a node asks for a fresh certificate: at half its lifetime since it was issued.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renewalDue } from '../../src/ca/renewal.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const issued = new Date('2030-01-01T00:00:00Z');
// As issued: valid from an hour before, for 60 days.
const notBefore = new Date(issued.getTime() - HOUR);
const notAfter = new Date(issued.getTime() + 60 * DAY);
const at = (day: number) => new Date(issued.getTime() + day * DAY);

describe('renewalDue', () => {
  it('is not due before half the lifetime since issuance has passed', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(0)), false);
    assert.equal(renewalDue(notBefore, notAfter, at(29.99)), false);
  });

  it('is due from half the lifetime on, and once expired', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(30)), true);
    assert.equal(renewalDue(notBefore, notAfter, at(59)), true);
    assert.equal(renewalDue(notBefore, notAfter, at(90)), true);
  });

  it('does not count the hour before issuance: a 1 h certificate is due after 30 min', () => {
    const from = new Date(issued.getTime() - HOUR);
    const to = new Date(issued.getTime() + HOUR);
    assert.equal(renewalDue(from, to, issued), false);
    assert.equal(renewalDue(from, to, new Date(issued.getTime() + 29 * 60_000)), false);
    assert.equal(renewalDue(from, to, new Date(issued.getTime() + 30 * 60_000)), true);
  });

  it('is not due for a clock behind the start of validity', () => {
    assert.equal(renewalDue(notBefore, notAfter, at(-10)), false);
  });

  it('is due for a certificate with no lifetime at all', () => {
    assert.equal(renewalDue(notAfter, notBefore, at(0)), true);
  });
});
