// Mutual TLS for orca's gRPC between hosts: every node presents its CA-issued certificate and
// accepts only peers whose certificate this cluster's CA signed. TLS 1.3 only: every orca node
// runs the same Node, so nothing needs the older versions, and 1.3 encrypts the certificates
// themselves (node ids and roles are not shown to the network).

import { createSecureContext, type PeerCertificate, type SecureContext } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CertificateError } from '../errors.ts';
import { type NodeIdentity, nodeIdentity } from './identity.ts';
import type { NodeRole } from './identity-names.ts';

/** What a node holds on disk to talk to its peers. */
export interface NodeTlsMaterial {
  readonly caCertPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

/** Whom a client means to reach; what is not known yet is not checked. */
export interface ExpectedPeer {
  readonly nodeId?: string;
  readonly role?: NodeRole;
}

const MIN_TLS_VERSION = 'TLSv1.3';

/**
 * grpc-js's `ServerCredentials.createSsl` has no say over the TLS version. Its abstract class
 * takes the options handed to `http2.createSecureServer` and to the server's secure context,
 * so a subclass sets them all: TLS 1.3 at least, a client certificate asked for and checked
 * against the CA alone (not the system's roots), but not required. The cluster port is one
 * port for everyone, as Swarm's 2377: a node joining has no certificate yet and must reach the
 * CA service there. So the handshake lets a caller without a certificate (or with one this CA
 * did not sign) through, grpc-js then hands its handlers no peer certificate, and every
 * service that is not for strangers refuses such a call itself: Raft through
 * `managerPeerProblem`, the dispatcher through `callerIdentity`. The TLS 1.2 test guards this
 * against grpc-js changing how it uses the options.
 */
class ClusterPortCredentials extends grpc.ServerCredentials {
  constructor(material: NodeTlsMaterial) {
    super(
      { requestCert: true, rejectUnauthorized: false },
      {
        ca: material.caCertPem,
        cert: material.certPem,
        key: material.keyPem,
        minVersion: MIN_TLS_VERSION,
      },
    );
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

export function nodeServerCredentials(material: NodeTlsMaterial): grpc.ServerCredentials {
  return new ClusterPortCredentials(material);
}

export interface NodeClientTls {
  readonly credentials: grpc.ChannelCredentials;
  /** Pass to the client's constructor along with the credentials. */
  readonly channelOptions: grpc.ChannelOptions;
}

/**
 * The server is recognised by the node id in its certificate, not by the address dialled:
 * nodes are dialled by IP, and their certificates name node ids, never addresses. Until the
 * id is known (a joining node dialling the manager it was given), any certificate of this
 * cluster passes, with the role checked when one is expected.
 */
export function nodeClientTls(
  material: NodeTlsMaterial,
  expected: ExpectedPeer = {},
): NodeClientTls {
  const context = createSecureContext({
    ca: material.caCertPem,
    cert: material.certPem,
    key: material.keyPem,
    minVersion: MIN_TLS_VERSION,
  });
  return clientTls(context, expected, (certificate) =>
    serverIdentityProblem(certificate, material.caCertPem, expected),
  );
}

/**
 * For a node joining, which has no certificate of its own yet. With the cluster's CA (once the
 * join token vouched for it) the server must be a manager of that CA. Without one (`null`,
 * only to fetch that CA) any server passes: what it hands over is believed only if its digest
 * is the token's, so nothing it says before that is trusted.
 */
export function joiningClientTls(caCertPem: string | null): NodeClientTls {
  const manager: ExpectedPeer = { role: 'manager' };
  if (caCertPem === null) {
    const context = createSecureContext({ minVersion: MIN_TLS_VERSION });
    return clientTls(context, manager, () => undefined, false);
  }
  const context = createSecureContext({ ca: caCertPem, minVersion: MIN_TLS_VERSION });
  return clientTls(context, manager, (certificate) =>
    serverIdentityProblem(certificate, caCertPem, manager),
  );
}

function clientTls(
  context: SecureContext,
  expected: ExpectedPeer,
  check: (certificate: PeerCertificate) => Error | undefined,
  verifyChain = true,
): NodeClientTls {
  const credentials = grpc.credentials.createFromSecureContext(context, {
    checkServerIdentity: (_hostname, certificate) => check(certificate),
    ...(verifyChain ? {} : { rejectUnauthorized: false }),
  });
  return {
    credentials,
    channelOptions: {
      // Without it grpc-js sends the IP dialled as the TLS server name, which RFC 6066 forbids
      // and Node warns about; the name sent is the one the certificate is expected to hold.
      'grpc.ssl_target_name_override':
        expected.nodeId ?? (expected.role === 'manager' ? 'orca-manager' : 'orca-node'),
    },
  };
}

function serverIdentityProblem(
  certificate: PeerCertificate,
  caCertPem: string,
  expected: ExpectedPeer,
): Error | undefined {
  let identity: NodeIdentity;
  try {
    identity = nodeIdentity(certificate.raw, caCertPem);
  } catch (error) {
    return error as Error;
  }
  if (expected.nodeId !== undefined && identity.nodeId !== expected.nodeId) {
    return new CertificateError(
      `the server is node ${identity.nodeId}, not node ${expected.nodeId} as expected`,
    );
  }
  if (expected.role !== undefined && identity.role !== expected.role) {
    return new CertificateError(
      `the server is node ${identity.nodeId}, a ${identity.role}, not a ${expected.role} as expected`,
    );
  }
  return undefined;
}

/** Any server-side call of grpc-js: unary, streaming or bidirectional. */
export interface CallWithAuthContext {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate } | null;
}

/**
 * The calling node, from the certificate its TLS handshake verified. grpc-js hands the peer's
 * certificate over only when the handshake authorised it, so a missing one means the call did
 * not come through mutual TLS.
 */
export function callerIdentity(call: CallWithAuthContext, caCertPem: string): NodeIdentity {
  const certificate = call.getAuthContext()?.sslPeerCertificate;
  if (!certificate?.raw) {
    throw new CertificateError(
      'the caller presented no verified certificate: the call did not come over mutual TLS',
    );
  }
  return nodeIdentity(certificate.raw, caCertPem);
}

/**
 * Only a manager speaks Raft, and only for itself: null when the caller's certificate names
 * `claimedNodeId` with the manager role, else why not. A worker's certificate, good for its
 * dispatcher session on the same port, gets no further.
 */
export function managerPeerProblem(
  call: CallWithAuthContext,
  caCertPem: string,
  claimedNodeId: string,
): string | null {
  try {
    const peer = callerIdentity(call, caCertPem);
    if (peer.role !== 'manager') {
      return `node ${peer.nodeId} is a ${peer.role}: only managers speak Raft`;
    }
    if (peer.nodeId !== claimedNodeId) {
      return `node ${peer.nodeId}'s certificate cannot speak for member ${claimedNodeId}`;
    }
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}
