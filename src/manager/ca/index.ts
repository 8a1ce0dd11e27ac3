// The manager's side of the cluster CA: admitting nodes (join tokens, their certificates and
// Node objects), served on the cluster port.

export { joinRole } from './join-role.ts';
export { type NewNodeFacts, newNode } from './new-node.ts';
export { serveCa } from './server.ts';
export { CaService, type CaServiceOptions, type Leadership } from './service.ts';
