// The CA a joining node talks to on a manager's cluster port: the root certificate for anyone,
// and a node certificate, with a Node object in the store, for a valid join token and CSR.
//
// Only the leader admits nodes (the Node object is a write): a follower answers ORCA_NOT_LEADER
// naming the leader's address, and the joiner is pointed there (a redirect, not forwarding:
// the joiner has the token and can ask the leader itself). Everything is checked before
// anything is signed or stored, so a refused request leaves no trace.

import type {
  IssueNodeCertificateRequest,
  IssueNodeCertificateResponse,
  JoinRaftResponse,
  RootCaCertificateResponse,
} from '../../api/ca-wire.ts';
import type { Cluster } from '../../api/objects.ts';
import {
  type CallWithAuthContext,
  callerIdentity,
  issueNodeCertificate,
  loadCa,
} from '../../ca/index.ts';
import { BadRequestError, OrcaError } from '../../errors.ts';
import type { RaftStatus } from '../../raft/node.ts';
import { newId, type Store } from '../../store/index.ts';
import { parseNodeDescription } from '../dispatcher/index.ts';
import { joinRole } from './join-role.ts';
import { newNode } from './new-node.ts';

export interface Leadership {
  readonly isLeader: boolean;
  /** The leader's cluster address, when one is known. */
  readonly leaderAddr: string | null;
}

/** The Raft member a manager's admission changes. */
export interface RaftMembers {
  status(): Pick<RaftStatus, 'voters' | 'learners'>;
  addLearner(id: string, addr: string): Promise<void>;
}

export interface CaServiceOptions {
  readonly store: Store;
  readonly clusterId: string;
  readonly leadership: () => Leadership;
  readonly raft: RaftMembers;
}

export class CaService {
  readonly #store: Store;
  readonly #clusterId: string;
  readonly #leadership: () => Leadership;
  readonly #raft: RaftMembers;

  constructor(opts: CaServiceOptions) {
    this.#store = opts.store;
    this.#clusterId = opts.clusterId;
    this.#leadership = opts.leadership;
    this.#raft = opts.raft;
  }

  rootCaCertificate(): RootCaCertificateResponse {
    return { certPem: this.#cluster().rootCa.certPem };
  }

  /** `peerHost`: the address the request came from, the node's address unless it advertises one. */
  async issueNodeCertificate(
    body: unknown,
    peerHost: string,
  ): Promise<IssueNodeCertificateResponse> {
    const req = parseIssueRequest(body);
    const { isLeader, leaderAddr } = this.#leadership();
    if (!isLeader) {
      throw new OrcaError(
        'ORCA_NOT_LEADER',
        leaderAddr === null
          ? 'this manager is not the leader and no leader is known; retry shortly'
          : `this manager is not the leader; join through the leader at ${leaderAddr}`,
      );
    }
    const { rootCa, joinTokens } = this.#cluster();
    const role = joinRole(req.token, joinTokens, rootCa.certPem);
    const nodeId = newId();
    const certPem = await issueNodeCertificate(loadCa(rootCa.certPem, rootCa.keyPem), req.csrPem, {
      nodeId,
      role,
      clusterId: this.#clusterId,
      validityDays: this.#validityDays(),
    });
    await this.#store.update((tx) =>
      tx.nodes.create(
        newNode({
          role,
          description: req.description,
          addr: req.advertiseAddr ?? peerHost,
          state: 'unknown',
        }),
        { id: nodeId },
      ),
    );
    return { nodeId, clusterId: this.#clusterId, role, certPem, caCertPem: rootCa.certPem };
  }

  /**
   * A manager admitted by IssueNodeCertificate joins the Raft group: the caller is who its
   * certificate says, and must be a manager node of the store. Asking again is harmless.
   */
  async joinRaft(body: unknown, call: CallWithAuthContext): Promise<JoinRaftResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof b.raftAddr !== 'string' || b.raftAddr === '') {
      throw new BadRequestError('raftAddr: give the address other managers dial');
    }
    const { isLeader, leaderAddr } = this.#leadership();
    if (!isLeader) return { leaderAddr };
    const caller = callerIdentity(call, this.#cluster().rootCa.certPem);
    const node = this.#store.view((tx) => tx.nodes.get(caller.nodeId));
    if (caller.role !== 'manager' || node?.spec.role !== 'manager') {
      throw new OrcaError(
        'ORCA_SWARM_NOT_MANAGER',
        `node ${caller.nodeId} is not a manager of this swarm: only managers join the Raft group`,
      );
    }
    const { voters, learners } = this.#raft.status();
    if (!voters.includes(caller.nodeId) && !learners.includes(caller.nodeId)) {
      await this.#raft.addLearner(caller.nodeId, b.raftAddr);
    }
    return { joined: true };
  }

  /**
   * A new certificate for a node of the swarm, proven by the one it holds, with the role its
   * Node asks for now: promote and demote reach a node this way, and so does renewal.
   */
  async renewNodeCertificate(
    body: unknown,
    call: CallWithAuthContext,
  ): Promise<IssueNodeCertificateResponse> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    if (typeof b.csrPem !== 'string' || b.csrPem === '') {
      throw new BadRequestError('csrPem: give the certificate request (PEM)');
    }
    const { rootCa } = this.#cluster();
    const caller = callerIdentity(call, rootCa.certPem);
    const node = this.#store.view((tx) => tx.nodes.get(caller.nodeId));
    if (node === undefined) {
      throw new OrcaError(
        'ORCA_SWARM_NODE_REMOVED',
        `node ${caller.nodeId} was removed from the swarm: its certificate is not renewed; join again with a token`,
      );
    }
    const role = node.spec.role;
    if (caller.role === 'manager' && role === 'worker') {
      // Demoted: a worker's certificate only once the leader has taken the node out of the Raft
      // group, which the node cannot see itself (its log never receives its own removal).
      const { isLeader } = this.#leadership();
      const { voters, learners } = this.#raft.status();
      if (!isLeader || voters.includes(caller.nodeId) || learners.includes(caller.nodeId)) {
        throw new OrcaError(
          'ORCA_SWARM_PENDING',
          `node ${caller.nodeId} is demoted but not out of the Raft group yet; ask the leader again shortly`,
        );
      }
    }
    const certPem = await issueNodeCertificate(loadCa(rootCa.certPem, rootCa.keyPem), b.csrPem, {
      nodeId: caller.nodeId,
      role,
      clusterId: this.#clusterId,
      validityDays: this.#validityDays(),
    });
    return {
      nodeId: caller.nodeId,
      clusterId: this.#clusterId,
      role,
      certPem,
      caCertPem: rootCa.certPem,
    };
  }

  /** `swarm update --cert-expiry`, or 90 days. */
  #validityDays(): number | undefined {
    const ms = this.#store.view((tx) => tx.clusters.get(this.#clusterId)?.spec.certExpiryMs);
    return ms === undefined ? undefined : ms / 86_400_000;
  }

  #cluster(): Required<Pick<Cluster, 'rootCa' | 'joinTokens'>> {
    const cluster = this.#store.view((tx) => tx.clusters.get(this.#clusterId));
    if (cluster?.rootCa === undefined || cluster.joinTokens === undefined) {
      throw new OrcaError(
        'ORCA_SWARM_PENDING',
        "the swarm's CA and join tokens are not written yet; retry shortly",
      );
    }
    return { rootCa: cluster.rootCa, joinTokens: cluster.joinTokens };
  }
}

/** The request's fields, each checked; a problem names the field. */
function parseIssueRequest(body: unknown): IssueNodeCertificateRequest {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof b.token !== 'string' || b.token === '') problems.push('token: give the join token');
  if (typeof b.csrPem !== 'string' || b.csrPem === '') {
    problems.push('csrPem: give the certificate request (PEM)');
  }
  const description = parseNodeDescription(b.description);
  if (description === null) problems.push('description: not a node description');
  const advertise = b.advertiseAddr;
  if (advertise !== undefined && (typeof advertise !== 'string' || advertise === '')) {
    problems.push('advertiseAddr: must be a non-empty address when given');
  }
  if (problems.length > 0 || description === null) throw new BadRequestError(problems.join('; '));
  return {
    token: b.token as string,
    csrPem: b.csrPem as string,
    description,
    ...(typeof advertise === 'string' ? { advertiseAddr: advertise } : {}),
  };
}
