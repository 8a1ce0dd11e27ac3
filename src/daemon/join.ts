// The joining node's side of `swarm join`: a key made here, the manager's CA fetched and
// checked against the token, then a certificate asked for with a CSR and the token's secret.
// What comes back is checked as well: it must be for this node's key, from that CA, naming the
// node and role the manager announced.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import { CaClient, type IssueNodeCertificateResponse } from '../api/ca-wire.ts';
import type { NodeDescription, NodeRole } from '../api/objects.ts';
import {
  caMatchesToken,
  createCsr,
  createNodeKey,
  joiningClientTls,
  type NodeClientTls,
  type NodeTlsMaterial,
  nodeClientTls,
  nodeIdentity,
} from '../ca/index.ts';
import { CertificateError, JoinTokenError, OrcaError } from '../errors.ts';
import type { NodeCertificateFiles } from './node-certificates.ts';

export interface JoinRequest {
  /** The manager's cluster address, host:port. */
  readonly managerAddr: string;
  /** Already parsed once: a malformed token is the caller's bad input, refused before this. */
  readonly token: string;
  readonly description: NodeDescription;
  readonly advertiseAddr?: string;
  /** For each of the two calls (default 10 s). */
  readonly timeoutMs?: number;
}

export interface Admission {
  readonly nodeId: string;
  readonly clusterId: string;
  readonly role: NodeRole;
  readonly files: NodeCertificateFiles;
}

export async function requestAdmission(req: JoinRequest): Promise<Admission> {
  const timeoutMs = req.timeoutMs ?? 10_000;
  const key = createNodeKey();
  const csrPem = await createCsr(key.keyPem);
  const { certPem: caCertPem } = await withCa(req.managerAddr, joiningClientTls(null), (ca) =>
    ca.call('GetRootCACertificate', {}, timeoutMs),
  );
  if (!caMatchesToken(caCertPem, req.token)) {
    throw new JoinTokenError(
      `the manager's CA does not match the token: the manager at ${req.managerAddr} is not of ` +
        'the swarm the token was made for (or something in between answered for it); ' +
        'check the address and the token',
    );
  }
  // From here the manager must prove it holds a certificate of that CA, as a manager; so must
  // the leader a follower points at, which makes following the pointer safe.
  const body = {
    token: req.token,
    csrPem,
    description: req.description,
    ...(req.advertiseAddr === undefined ? {} : { advertiseAddr: req.advertiseAddr }),
  };
  let addr = req.managerAddr;
  for (let hop = 0; ; hop++) {
    try {
      const issued = await withCa(addr, joiningClientTls(caCertPem), (ca) =>
        ca.call('IssueNodeCertificate', body, timeoutMs),
      );
      return admitted(issued, caCertPem, key.keyPem, addr);
    } catch (err) {
      const leader =
        err instanceof OrcaError && err.code === 'ORCA_NOT_LEADER'
          ? LEADER_AT.exec(err.message)?.[1]
          : undefined;
      if (leader === undefined || hop >= MAX_REDIRECTS) throw err;
      addr = leader;
    }
  }
}

/** How a follower's refusal names the leader (src/manager/ca/service.ts). */
const LEADER_AT = /join through the leader at (\S+)$/;
const MAX_REDIRECTS = 3;

/** What came back, checked: from that CA, naming the node and role announced, for our key. */
function admitted(
  issued: IssueNodeCertificateResponse,
  caCertPem: string,
  keyPem: string,
  managerAddr: string,
): Admission {
  const identity = nodeIdentity(issued.certPem, caCertPem);
  if (
    identity.nodeId !== issued.nodeId ||
    identity.role !== issued.role ||
    identity.clusterId !== issued.clusterId ||
    !new X509Certificate(issued.certPem).checkPrivateKey(createPrivateKey(keyPem))
  ) {
    throw new CertificateError(
      `the manager at ${managerAddr} sent a certificate that is not the one asked for`,
    );
  }
  return {
    nodeId: identity.nodeId,
    clusterId: identity.clusterId,
    role: identity.role,
    files: { caCertPem, keyPem, certPem: issued.certPem },
  };
}

/**
 * A new key and certificate for a node of the swarm, asked of the first of `managers` that
 * answers, proven by the certificate the node holds: the role in it is the one its Node asks
 * for now (promote, demote).
 */
export async function renewCertificate(
  managers: readonly string[],
  current: NodeTlsMaterial,
  timeoutMs = 10_000,
): Promise<Admission> {
  const key = createNodeKey();
  const csrPem = await createCsr(key.keyPem);
  const tls = nodeClientTls(current, { role: 'manager' });
  let last: unknown = new OrcaError('ORCA_JOIN', 'no manager to ask for a certificate');
  for (const addr of managers) {
    try {
      const issued = await withCa(addr, tls, (ca) =>
        ca.call('RenewNodeCertificate', { csrPem }, timeoutMs),
      );
      return admitted(issued, current.caCertPem, key.keyPem, addr);
    } catch (err) {
      if (err instanceof OrcaError && err.code === 'ORCA_SWARM_NODE_REMOVED') throw err;
      last = err;
    }
  }
  throw last;
}

async function withCa<T>(
  addr: string,
  tls: NodeClientTls,
  use: (ca: CaClient) => Promise<T>,
): Promise<T> {
  const ca = new CaClient(addr, tls.credentials, tls.channelOptions);
  try {
    return await use(ca);
  } finally {
    ca.close();
  }
}
