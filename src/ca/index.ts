// The cluster CA: root certificate, node keys and CSRs, issuing, checking peers, join tokens,
// renewal, and mutual TLS for gRPC. See docs/design/ca.md.

export { createCsr } from './csr.ts';
export {
  type CallWithAuthContext,
  callerIdentity,
  type ExpectedPeer,
  joiningClientTls,
  managerPeerProblem,
  type NodeClientTls,
  type NodeTlsMaterial,
  nodeClientTls,
  nodeServerCredentials,
} from './grpc-tls.ts';
export { type NodeIdentity, nodeIdentity } from './identity.ts';
export type { NodeRole } from './identity-names.ts';
export { issueNodeCertificate, type NodeCertificateRequest } from './issue.ts';
export {
  caDigest,
  caMatchesToken,
  createJoinToken,
  createJoinTokens,
  type JoinToken,
  parseJoinToken,
  sameSecret,
} from './join-token.ts';
export { createNodeKey, type NodeKey } from './keys.ts';
export { renewalDue } from './renewal.ts';
export { type CreateRootCaOptions, createRootCa, loadCa, type RootCa } from './root-ca.ts';
