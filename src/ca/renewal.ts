// When a node asks for a fresh certificate.
//
// Swarm renews at a random point between 50% and 80% of the lifetime, to spread the managers'
// load. orca renews at a fixed point, half the lifetime: decisions stay reproducible in tests
// and simulations, and the load is already spread because nodes joined (and so were issued
// certificates) at different times. Half leaves as much time again to retry through a manager
// outage before the certificate expires: 45 days with the default 90.

import { CLOCK_SKEW_BACKDATE_MS } from './certificate-template.ts';

/**
 * True once half the lifetime since issuance has passed, and for a certificate already
 * expired. Node certificates start an hour before they are issued (for clocks behind the
 * CA's); that hour is not lifetime, or a certificate of `--cert-expiry 1h` would be due for
 * renewal the moment it is issued.
 */
export function renewalDue(notBefore: Date, notAfter: Date, now: Date): boolean {
  const issued = notBefore.getTime() + CLOCK_SKEW_BACKDATE_MS;
  const end = notAfter.getTime();
  if (end <= issued) return true;
  return now.getTime() >= issued + (end - issued) / 2;
}
