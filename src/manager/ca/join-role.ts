// Which role a join token admits a node as: pure, so that every way a token can be wrong is
// tested without a manager. The CA service calls it before it signs or stores anything.

import type { JoinTokens, NodeRole } from '../../api/objects.ts';
import { caDigest, parseJoinToken, sameSecret } from '../../ca/index.ts';
import { JoinTokenError } from '../../errors.ts';

/**
 * The role whose token `presented` is, or a JoinTokenError saying why it admits nobody: not a
 * token, made for another swarm's CA, or not (any longer) one of this swarm's. Both secrets are
 * always compared, so the time taken does not say which one came close.
 */
export function joinRole(presented: string, tokens: JoinTokens, caCertPem: string): NodeRole {
  const token = parseJoinToken(presented);
  if (token.caDigest !== caDigest(caCertPem)) {
    throw new JoinTokenError(
      "the join token was made for another swarm: its CA digest is not this swarm's root CA",
    );
  }
  const worker = sameSecret(token.secret, parseJoinToken(tokens.worker).secret);
  const manager = sameSecret(token.secret, parseJoinToken(tokens.manager).secret);
  if (worker) return 'worker';
  if (manager) return 'manager';
  throw new JoinTokenError(
    'the join token is not valid in this swarm: it is wrong, or it was rotated; ' +
      'get the current one with "orca swarm join-token worker" on a manager',
  );
}
