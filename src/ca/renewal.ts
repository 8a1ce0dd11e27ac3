// When a node asks for a fresh certificate.
//
// Swarm renews at a random point between 50% and 80% of the lifetime, to spread the managers'
// load. orca renews at a fixed point, half the lifetime: decisions stay reproducible in tests
// and simulations, and the load is already spread because nodes joined (and so were issued
// certificates) at different times. Half leaves as much time again to retry through a manager
// outage before the certificate expires: 45 days with the default 90.

/** True once half of [notBefore, notAfter] has passed, and for a certificate already expired. */
export function renewalDue(notBefore: Date, notAfter: Date, now: Date): boolean {
  const start = notBefore.getTime();
  const end = notAfter.getTime();
  if (end <= start) return true;
  return now.getTime() >= start + (end - start) / 2;
}
