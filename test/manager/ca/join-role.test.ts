// Which role a join token admits: every way a token can be wrong, without a manager.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createJoinToken, createJoinTokens, createRootCa } from '../../../src/ca/index.ts';
import { JoinTokenError } from '../../../src/errors.ts';
import { joinRole } from '../../../src/manager/ca/index.ts';
import { CLUSTER_ID } from '../../ca/fixtures.ts';

const ca = await createRootCa({ clusterId: CLUSTER_ID });
const otherCa = await createRootCa({ clusterId: CLUSTER_ID });
const tokens = createJoinTokens(ca.certPem);

const refusedWith = (message: RegExp) => (err: unknown) =>
  err instanceof JoinTokenError && message.test(err.message);

describe('joinRole', () => {
  it("gives the role whose token's secret matches", () => {
    assert.equal(joinRole(tokens.worker, tokens, ca.certPem), 'worker');
    assert.equal(joinRole(tokens.manager, tokens, ca.certPem), 'manager');
    assert.equal(joinRole(`  ${tokens.worker}\n`, tokens, ca.certPem), 'worker');
  });

  it('refuses a token of this CA whose secret is neither (a rotated one)', () => {
    assert.throws(
      () => joinRole(createJoinToken(ca.certPem), tokens, ca.certPem),
      refusedWith(/not valid in this swarm: it is wrong, or it was rotated/),
    );
  });

  it("refuses a token made for another swarm's CA, even with this swarm's secret", () => {
    const secret = tokens.worker.split('-')[3];
    const foreign = createJoinToken(otherCa.certPem).split('-').slice(0, 3).join('-');
    assert.throws(
      () => joinRole(`${foreign}-${secret}`, tokens, ca.certPem),
      refusedWith(/made for another swarm/),
    );
  });

  it('refuses what is not a token at all', () => {
    assert.throws(() => joinRole('', tokens, ca.certPem), refusedWith(/empty/));
    assert.throws(() => joinRole('SWMTKN-1-x-y', tokens, ca.certPem), refusedWith(/Docker Swarm/));
    assert.throws(
      () => joinRole(tokens.worker.slice(0, -1), tokens, ca.certPem),
      refusedWith(/secret must be 25 characters/),
    );
  });
});
