// How a node's identity is written into its certificate, in Swarm's layout: CN is the node id,
// OU its role, O the cluster id. Peers read identity from the certificate the TLS handshake
// verified, never from anything the peer says about itself.

export type NodeRole = 'manager' | 'worker';

export const ROOT_CA_COMMON_NAME = 'orca-root-ca';

const organizationalUnitOfRole: Record<NodeRole, string> = {
  manager: 'orca-manager',
  worker: 'orca-worker',
};

export function organizationalUnit(role: NodeRole): string {
  return organizationalUnitOfRole[role];
}

export function roleOfOrganizationalUnit(ou: string): NodeRole | undefined {
  if (ou === organizationalUnitOfRole.manager) return 'manager';
  if (ou === organizationalUnitOfRole.worker) return 'worker';
  return undefined;
}

/**
 * The DNS names a node's certificate holds. Managers also answer to `orca-manager`, so that a
 * worker that knows only "some manager" can still pin the role by hostname, as Swarm's
 * `swarm-manager` name allows.
 */
export function subjectAltDnsNames(nodeId: string, role: NodeRole): string[] {
  return role === 'manager' ? [nodeId, organizationalUnitOfRole.manager] : [nodeId];
}

/**
 * Node and cluster ids go into DNS names, so they must be DNS labels: orca's own ids (25
 * lowercase base-36 characters) are; this refuses anything that could smuggle in a second name,
 * a wildcard or a dot.
 */
export function isWellFormedId(id: string): boolean {
  return /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(id);
}
