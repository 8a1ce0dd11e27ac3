import { X509Certificate } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { hostOfAddr } from '../api/addr-host.ts';
import type {
  Info,
  ManagerStatus,
  NodeListResponse,
  NodeRemoveRequest,
  NodeUpdateRequest,
  NodeUpdateResponse,
  NodeView,
  ServiceLogsMessage,
  SwarmInitRequest,
  SwarmInitResponse,
  SwarmJoinRequest,
  SwarmJoinResponse,
  SwarmJoinTokenRequest,
  SwarmJoinTokenResponse,
  SwarmUnlockKeyRequest,
  SwarmUnlockKeyResponse,
  SwarmUnlockRequest,
  SwarmUpdateRequest,
} from '../api/control-wire.ts';
import {
  type Cluster,
  type Node,
  type NodeAvailability,
  type NodeDescription,
  type NodeRole,
  publicCluster,
} from '../api/objects.ts';
import {
  createJoinToken,
  createJoinTokens,
  createRootCa,
  loadCa,
  managerPeerProblem,
  type NodeTlsMaterial,
  nodeClientTls,
  nodeServerCredentials,
  parseJoinToken,
  type RootCa,
  renewalDue,
} from '../ca/index.ts';
import {
  NotLeaderError,
  NotManagerError,
  OrcaError,
  ProposalUnknownError,
  StoreConflictError,
  SwarmLockedError,
} from '../errors.ts';
import { CaService, newNode, serveCa } from '../manager/ca/index.ts';
import { DEFAULT_HEARTBEAT_MS, Dispatcher, serveDispatcher } from '../manager/dispatcher/index.ts';
import { LogBroker } from '../manager/logbroker/index.ts';
import { Leadership, OrchestratorLoop, SchedulerLoop } from '../manager/loops/index.ts';
import { RaftMembership } from '../manager/membership/raft-membership.ts';
import { checkRoleChange } from '../manager/membership/role-change.ts';
import type { ServiceDiscovery } from '../netmesh/sandbox/service-discovery.ts';
import { RaftNode } from '../raft/node.ts';
import { aesGcmCipher } from '../raft/value-cipher.ts';
import { newId, Store } from '../store/index.ts';
import type { WorkerSession } from '../worker/session.ts';
import {
  badFlag,
  DEFAULT_CLUSTER_PORT,
  formatHostPort,
  parseHostPort,
  resolveAdvertise,
} from './addr.ts';
import {
  initialUnlockKey,
  ManagerKeys,
  notLocked,
  withAutolock,
  withNewUnlockKey,
} from './autolock.ts';
import { type Admission, renewCertificate, requestAdmission } from './join.ts';
import { joinRaftGroup } from './join-raft.ts';
import type { Logger } from './logger.ts';
import {
  CERTIFICATES_DIR,
  ensureNodeCertificate,
  type NodeCertificateFiles,
  readManagerCa,
  readNodeCertificate,
  sameCa,
  writeNodeCertificate,
} from './node-certificates.ts';
import type { RoutingMesh } from './routing-mesh.ts';
import {
  IDENTITY_FILE,
  type ManagerIdentity,
  readIdentity,
  type SwarmIdentity,
  type WorkerIdentity,
  writeIdentity,
} from './swarm-identity.ts';
import { removeNodeContainers, startWorkerRole, type WorkerRoleOptions } from './worker-role.ts';

export interface SwarmOptions {
  readonly dataDir: string;
  /** Defaults for `swarm init`, from the daemon's flags. */
  readonly listenAddr: string;
  readonly advertiseAddr?: string;
  readonly dockerHost: string;
  readonly logger: Logger;
  readonly tickMs?: number;
  /** How long a request waits for a restarting member to elect a leader (default 10 s). */
  readonly readyTimeoutMs?: number;
  /** This host's description and live usage: the Node's at init, then the worker's reports. */
  readonly describeHost: () => Promise<NodeDescription>;
  /** How often the local worker reports it (default 10 s). */
  readonly nodeReportIntervalMs?: number;
  /** How often this node looks whether its certificate is due for renewal (default 10 min). */
  readonly renewalCheckMs?: number;
  /** The node's routing mesh, fed by its worker session; absent: published ingress ports are not served here. */
  readonly mesh?: RoutingMesh;
  /** Service discovery (DNS and VIPs in tasks' namespaces); absent: tasks find no service by name. */
  readonly discovery?: ServiceDiscovery;
}

type Member = ManagerMember | WorkerMember;

interface ManagerMember {
  readonly identity: ManagerIdentity;
  readonly node: RaftNode;
  readonly store: Store;
  /**
   * The CA this manager's certificate came from, with its key (from disk, or made for a new
   * swarm); null for a manager that joined, which signs with the cluster's copy in the store.
   */
  readonly ca: RootCa | null;
  /** This node's certificate, key and CA certificate, as the listener uses them. */
  readonly tls: NodeTlsMaterial;
  /** What runs on top of the store: the leader loops, the dispatcher, the local worker. */
  roles: Roles | null;
}

/** A worker-only node: no Raft, no store; a dispatcher session to the manager it joined. */
interface WorkerMember {
  /** Rewritten as sessions name the managers (keepManagers). */
  identity: WorkerIdentity;
  readonly worker: WorkerSession;
}

interface Roles {
  /** Where the local worker dials the dispatcher. */
  readonly dispatcherAddr: string;
  /** `service logs`, read through the dispatcher's sessions. */
  readonly logs: LogBroker;
  stop(): Promise<void>;
}

export const DEFAULT_TASK_HISTORY_LIMIT = 5;
export const DEFAULT_NODE_REPORT_INTERVAL_MS = 10_000;
/**
 * The dispatcher writes a node's usage at least once every this many report intervals, however
 * little it moved: a reader then knows a stored usage is at most that old (a minute by default).
 */
const REPORTS_PER_USAGE_REFRESH = 6;
const availabilities: readonly NodeAvailability[] = ['active', 'pause', 'drain'];

function swarmError(code: string, message: string): OrcaError {
  return new OrcaError(code, message);
}

const notInSwarm = () =>
  swarmError(
    'ORCA_SWARM_INACTIVE',
    'this node is not part of a swarm; create one with: orca swarm init',
  );

const alreadyInSwarm = () =>
  swarmError(
    'ORCA_SWARM_ACTIVE',
    'this node is already part of a swarm; use "orca swarm leave" to leave this swarm and join another one',
  );

/** How long `swarm join` waits for the new worker's first dispatcher session. */
const JOIN_SESSION_WAIT_MS = 10_000;

const isManager = (m: Member): m is ManagerMember => m.identity.role === 'manager';

/**
 * This daemon's membership of a swarm: nothing before `swarm init` or `swarm join`. A manager
 * is a Raft member whose state machine is the cluster store; a worker is only a dispatcher
 * session to the manager it joined. Either is resumed from the data dir on every start.
 * Everything the control API does to the cluster goes through here.
 */
export class Swarm {
  private readonly opts: SwarmOptions;
  private readonly log: Logger;
  private state: Info['swarm'] = 'inactive';
  private message = '';
  private member: Member | null = null;
  /** The pending resume or init; requests that need the swarm wait on it. */
  private starting: Promise<void> | null = null;
  /** init, join and leave change what the data dir holds: one at a time. */
  private changing = false;
  private closed = false;
  /** A promotion or demotion in progress. */
  private roleChange: Promise<void> | null = null;
  private renewalTimer: NodeJS.Timeout | null = null;
  /** The last write of a worker's learnt managers to swarm.json. */
  private identityWrite: Promise<void> = Promise.resolve();
  /** This manager's data key at rest, and autolock (autolock.ts). */
  private readonly keys: ManagerKeys;

  constructor(opts: SwarmOptions) {
    this.opts = opts;
    this.log = opts.logger;
    this.keys = new ManagerKeys(opts.dataDir, opts.logger.child({ part: 'keys' }));
  }

  private get raftDir(): string {
    return path.join(this.opts.dataDir, 'raft');
  }

  private get reportIntervalMs(): number {
    return this.opts.nodeReportIntervalMs ?? DEFAULT_NODE_REPORT_INTERVAL_MS;
  }

  /** Resumes the member a previous run created, in the background; the daemon serves meanwhile. */
  async open(): Promise<void> {
    this.renewalTimer = setInterval(() => {
      this.renewIfDue().catch((err: unknown) => {
        this.log.warn({ err }, 'renewing the node certificate failed; trying again later');
      });
    }, this.opts.renewalCheckMs ?? 600_000);
    this.renewalTimer.unref();
    const identity = await readIdentity(this.opts.dataDir);
    if (identity === null) return;
    // An unreadable keys.json is not "locked": the resume below fails on it and says why.
    if (identity.role === 'manager' && (await this.keys.locked().catch(() => false))) {
      // Autolock: nothing starts (no Raft, no cluster port) until `swarm unlock`.
      this.state = 'locked';
      this.message = 'this manager restarted with autolock on: run "orca swarm unlock"';
      this.log.warn({}, 'the swarm is locked: run "orca swarm unlock" and enter the unlock key');
      return;
    }
    this.resume(identity);
  }

  /** Starts the member a previous run created, in the background: at open, or once unlocked. */
  private resume(identity: SwarmIdentity): void {
    this.state = 'pending';
    this.message =
      identity.role === 'manager'
        ? 'restarting the Raft member and waiting for a leader'
        : 'restarting the worker';
    const resume =
      identity.role === 'manager'
        ? this.startManager(identity, false)
        : this.resumeWorker(identity);
    this.starting = resume.then(
      () => {
        this.state = 'active';
        this.message = '';
      },
      (err: unknown) => {
        if (this.closed) return;
        this.state = 'error';
        this.message = err instanceof Error ? err.message : String(err);
        this.log.error({ err }, 'could not resume the swarm member; restart the daemon');
      },
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.renewalTimer !== null) clearInterval(this.renewalTimer);
    await this.roleChange;
    await this.starting?.catch(() => {});
    const m = this.member;
    this.member = null;
    if (m !== null) await stopMember(m);
    await this.opts.mesh?.close();
    await this.opts.discovery?.close();
  }

  // ---- swarm init / join / leave -------------------------------------------------------------

  async init(req: SwarmInitRequest): Promise<SwarmInitResponse> {
    if (req.forceNewCluster === true) return this.forceNewCluster();
    if (this.state !== 'inactive') throw alreadyInSwarm();
    const limit = req.taskHistoryLimit ?? DEFAULT_TASK_HISTORY_LIMIT;
    const heartbeatMs = req.dispatcherHeartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    checkClusterSettings({ taskHistoryLimit: limit, dispatcherHeartbeatMs: heartbeatMs });
    const listen = parseHostPort(
      req.listenAddr ?? this.opts.listenAddr,
      '--listen-addr',
      DEFAULT_CLUSTER_PORT,
    );
    const advertise = resolveAdvertise(
      listen,
      req.advertiseAddr ?? this.opts.advertiseAddr,
      '--advertise-addr',
    );
    if (advertise.port === 0) {
      throw badFlag('--advertise-addr: give the port other members dial (the listen port is 0)');
    }
    const externalCa = givenCa(req);
    const dataPath = dataPathOf(req.dataPathAddr);
    this.enterChange();
    const identity: ManagerIdentity = {
      version: 1,
      role: 'manager',
      clusterId: newId(),
      nodeId: newId(),
      listenAddr: formatHostPort(listen),
      advertiseAddr: formatHostPort(advertise),
      taskHistoryLimit: limit,
      dispatcherHeartbeatMs: heartbeatMs,
      ...(req.autolock === true ? { autolock: true } : {}),
      ...dataPath,
    };
    try {
      // The identity goes to disk first: a crash after it leaves a member that the next start
      // resumes (and completes the objects of); a crash before it leaves nothing.
      await writeIdentity(this.opts.dataDir, identity);
      this.state = 'pending';
      await this.startManager(identity, true, false, externalCa);
      this.state = 'active';
      this.log.info(
        {
          nodeId: identity.nodeId,
          clusterId: identity.clusterId,
          advertise: identity.advertiseAddr,
        },
        'swarm initialized',
      );
      return { nodeId: identity.nodeId, clusterId: identity.clusterId };
    } catch (err) {
      await this.discard();
      throw err;
    } finally {
      this.changing = false;
    }
  }

  /**
   * Joins the swarm of the manager at `remoteAddr` as a worker: its CA checked against the
   * token, this node's certificate asked for with the token, both written with the identity,
   * then the worker's session started. A manager refuses its manager token for now.
   */
  async join(req: SwarmJoinRequest): Promise<SwarmJoinResponse> {
    if (this.state !== 'inactive') throw alreadyInSwarm();
    if (typeof req.token !== 'string') throw badFlag('--token: give the join token');
    try {
      parseJoinToken(req.token);
    } catch (err) {
      throw badFlag(`--token: ${(err as Error).message}`);
    }
    if (typeof req.remoteAddr !== 'string') throw badFlag('HOST:PORT: give a manager address');
    const manager = parseHostPort(req.remoteAddr, 'HOST:PORT', DEFAULT_CLUSTER_PORT);
    const listen = parseHostPort(
      req.listenAddr ?? this.opts.listenAddr,
      '--listen-addr',
      DEFAULT_CLUSTER_PORT,
    );
    const advertiseText = req.advertiseAddr ?? this.opts.advertiseAddr;
    const advertise =
      advertiseText === undefined || advertiseText === ''
        ? null
        : parseHostPort(advertiseText, '--advertise-addr', listen.port);
    const dataPath = dataPathOf(req.dataPathAddr);
    this.enterChange();
    try {
      this.state = 'pending';
      this.message = `joining the swarm through ${formatHostPort(manager)}`;
      const admission = await requestAdmission({
        managerAddr: formatHostPort(manager),
        token: req.token.trim(),
        description: await this.opts.describeHost(),
        ...(advertise === null ? {} : { advertiseAddr: advertise.host }),
      });
      // Certificates first, the identity last: its presence is what a restart resumes.
      await writeNodeCertificate(this.opts.dataDir, admission.files, null);
      if (admission.role === 'manager') {
        const identity: ManagerIdentity = {
          version: 1,
          role: 'manager',
          clusterId: admission.clusterId,
          nodeId: admission.nodeId,
          listenAddr: formatHostPort(listen),
          advertiseAddr: formatHostPort(
            resolveAdvertise(listen, advertiseText, '--advertise-addr'),
          ),
          taskHistoryLimit: DEFAULT_TASK_HISTORY_LIMIT,
          joinedVia: formatHostPort(manager),
          ...dataPath,
        };
        await writeIdentity(this.opts.dataDir, identity);
        this.message = 'joining the Raft group and catching up';
        await this.startManager(identity, false);
        this.state = 'active';
        this.message = '';
        this.log.info(
          { nodeId: identity.nodeId, clusterId: identity.clusterId, via: identity.joinedVia },
          'joined the swarm as a manager',
        );
        return { nodeId: identity.nodeId, role: 'manager', sessionOpen: true };
      }
      const identity: WorkerIdentity = {
        version: 1,
        role: 'worker',
        clusterId: admission.clusterId,
        nodeId: admission.nodeId,
        listenAddr: formatHostPort(listen),
        advertiseAddr: advertise === null ? '' : formatHostPort(advertise),
        managerAddr: formatHostPort(manager),
        ...dataPath,
      };
      await writeIdentity(this.opts.dataDir, identity);
      const member = this.startWorker(identity, admission.files);
      this.state = 'active';
      this.message = '';
      this.log.info(
        { nodeId: identity.nodeId, clusterId: identity.clusterId, manager: identity.managerAddr },
        'joined the swarm as a worker',
      );
      const sessionOpen = await member.worker.opened(JOIN_SESSION_WAIT_MS);
      return { nodeId: identity.nodeId, role: 'worker', sessionOpen };
    } catch (err) {
      await this.discard();
      throw err;
    } finally {
      this.changing = false;
    }
  }

  async leave(force: boolean): Promise<void> {
    if (this.state === 'inactive') throw notInSwarm();
    // What the data dir says, too: a member that failed to resume has no Member.
    const role = (this.member?.identity ?? (await readIdentity(this.opts.dataDir)))?.role;
    if (role !== 'worker' && !force) {
      throw swarmError(
        'ORCA_SWARM_MANAGER_LEAVE',
        'this node is a manager: leaving the swarm removes its copy of the cluster state, and ' +
          'removing the last manager erases the swarm; use "orca swarm leave --force" to leave anyway',
      );
    }
    this.enterChange();
    try {
      await this.starting?.catch(() => {});
      await this.discard();
      this.log.info({}, 'left the swarm');
    } finally {
      this.changing = false;
    }
  }

  private enterChange(): void {
    if (this.changing) {
      throw swarmError('ORCA_SWARM_BUSY', 'a swarm init, join or leave is already in progress');
    }
    this.changing = true;
  }

  /**
   * Stops the member, removes its task containers (as Docker does: the swarm runs those tasks
   * elsewhere now) and the swarm state from the data dir.
   */
  private async discard(): Promise<void> {
    const m = this.member;
    this.member = null;
    this.starting = null;
    const identity = m?.identity ?? (await readIdentity(this.opts.dataDir).catch(() => null));
    if (m !== null) await stopMember(m).catch(() => {});
    await this.opts.mesh?.clear();
    this.opts.discovery?.clear();
    if (identity !== null) {
      await removeNodeContainers(this.opts.dockerHost, identity.nodeId, this.log);
    }
    await this.identityWrite;
    await rm(path.join(this.opts.dataDir, IDENTITY_FILE), { force: true });
    await rm(this.raftDir, { recursive: true, force: true });
    await rm(path.join(this.opts.dataDir, CERTIFICATES_DIR), { recursive: true, force: true });
    await this.keys.discard();
    this.state = 'inactive';
    this.message = '';
  }

  // ---- the worker ----------------------------------------------------------------------------

  /** A worker's restart: its certificate from disk, then the same session as after joining. */
  private async resumeWorker(identity: WorkerIdentity): Promise<void> {
    const files = await readNodeCertificate(this.opts.dataDir);
    if (files === null) {
      throw new OrcaError(
        'ORCA_DATA_DIR',
        `${path.join(this.opts.dataDir, CERTIFICATES_DIR)} lacks this worker's certificate; ` +
          'leave the swarm ("orca swarm leave") and join it again',
      );
    }
    this.startWorker(identity, files);
  }

  private startWorker(identity: WorkerIdentity, tls: NodeTlsMaterial): WorkerMember {
    const known = identity.managerAddrs ?? [];
    const worker = startWorkerRole({
      managerAddr: identity.managerAddr,
      managers: () => known,
      onRole: (role, via) => this.onDesiredRole(role, via),
      onManagers: (addrs) => this.keepManagers(identity, addrs),
      nodeId: identity.nodeId,
      ...this.meshOptions(identity),
      tls,
      dockerHost: this.opts.dockerHost,
      describe: this.opts.describeHost,
      reportIntervalMs: this.reportIntervalMs,
      log: this.log.child({ part: 'worker' }),
    });
    const member: WorkerMember = { identity, worker };
    this.member = member;
    this.log.info({ manager: identity.managerAddr }, 'worker session started');
    return member;
  }

  /** A worker writes down the managers its session named, for its next start. */
  /** What the node's worker session needs for the routing mesh. */
  private meshOptions(
    identity: SwarmIdentity,
  ): Pick<WorkerRoleOptions, 'dataPathAddr' | 'onEndpoints' | 'onDiscovery' | 'sandboxHost'> {
    const { mesh, discovery } = this.opts;
    return {
      ...(identity.dataPathAddr === undefined ? {} : { dataPathAddr: identity.dataPathAddr }),
      ...(mesh === undefined
        ? {}
        : { onEndpoints: (services) => mesh.update(services, identity.nodeId) }),
      ...(discovery === undefined
        ? {}
        : {
            onDiscovery: (networks, peers) => {
              const others = peers.filter((p) => p.nodeId !== identity.nodeId);
              discovery.update(
                networks,
                others.map((p) => p.addr),
              );
            },
            sandboxHost: discovery,
          }),
    };
  }

  private keepManagers(identity: WorkerIdentity, addrs: readonly string[]): void {
    const m = this.member;
    if (m === null || isManager(m) || m.identity.nodeId !== identity.nodeId) return;
    const updated: WorkerIdentity = { ...m.identity, managerAddrs: [...addrs] };
    m.identity = updated;
    // Chained, and awaited before swarm.json is removed: a late write must not bring back a
    // swarm this node has left.
    this.identityWrite = this.identityWrite
      .then(() => (this.member === m ? writeIdentity(this.opts.dataDir, updated) : undefined))
      .catch((err: unknown) => {
        this.log.warn({ err }, 'could not write down the managers');
      });
  }

  // ---- certificate renewal -------------------------------------------------------------------

  /**
   * At half its lifetime (renewal.ts) a node asks a manager for a new certificate, proven by the
   * one it holds, with a new key; then its member restarts on it (the TLS listener and links are
   * made with the certificate): a few seconds once every 45 days by default. Containers are
   * adopted, not restarted.
   */
  private async renewIfDue(): Promise<void> {
    const m = this.member;
    if (m === null || this.roleChange !== null || this.changing || this.state !== 'active') return;
    const files = isManager(m) ? m.tls : await readNodeCertificate(this.opts.dataDir);
    if (files === null) return;
    const cert = new X509Certificate(files.certPem);
    if (!renewalDue(new Date(cert.validFrom), new Date(cert.validTo), new Date())) return;
    const managers = isManager(m)
      ? Object.values(m.node.status().members)
      : [m.identity.managerAddr, ...m.worker.managers];
    const admission = await renewCertificate([...new Set(managers)], files);
    // A promotion or demotion on its way: that change brings the certificate with it.
    if (admission.role !== m.identity.role || this.member !== m) return;
    this.enterChange();
    try {
      this.log.info({ expires: cert.validTo }, 'renewing the node certificate');
      this.member = null;
      await stopMember(m);
      if (isManager(m)) {
        await writeNodeCertificate(this.opts.dataDir, admission.files, null, this.keys.current());
        await this.startManager(m.identity, false);
      } else {
        await writeNodeCertificate(this.opts.dataDir, admission.files, null);
        this.startWorker(m.identity, admission.files);
      }
    } finally {
      this.changing = false;
    }
  }

  // ---- promote and demote --------------------------------------------------------------------

  /**
   * The dispatcher says which role this node's spec asks for. A change is made here, by the
   * node itself: a new certificate with the new role, then this member stopped and the other
   * started on the same node id (containers are adopted, not restarted). A change that fails
   * is tried again shortly; the node keeps its current role meanwhile.
   */
  private onDesiredRole(role: NodeRole, via: string): void {
    const m = this.member;
    if (m === null || m.identity.role === role || this.roleChange !== null || this.closed) return;
    let retry = false;
    const change = isManager(m) ? this.becomeWorker(m) : this.becomeManager(m, via);
    this.roleChange = change
      .catch(async (err: unknown) => {
        this.log.error({ err, role }, 'changing role failed; retrying');
        await new Promise((r) => setTimeout(r, 2_000));
        retry = true;
      })
      .finally(() => {
        this.roleChange = null;
        if (retry) this.onDesiredRole(role, via);
      });
  }

  private async becomeManager(w: WorkerMember, via: string): Promise<void> {
    const current = await readNodeCertificate(this.opts.dataDir);
    if (current === null) throw new OrcaError('ORCA_DATA_DIR', "this worker's certificate is gone");
    const admission = await renewCertificate([...new Set([via, ...w.worker.managers])], current);
    if (admission.role !== 'manager') return;
    const listen = parseHostPort(w.identity.listenAddr, 'listen address', DEFAULT_CLUSTER_PORT);
    const identity: ManagerIdentity = {
      version: 1,
      role: 'manager',
      clusterId: w.identity.clusterId,
      nodeId: w.identity.nodeId,
      listenAddr: w.identity.listenAddr,
      advertiseAddr:
        w.identity.advertiseAddr !== ''
          ? w.identity.advertiseAddr
          : formatHostPort(resolveAdvertise(listen, undefined, '--advertise-addr')),
      taskHistoryLimit: DEFAULT_TASK_HISTORY_LIMIT,
      joinedVia: via,
      ...dataPathOf(w.identity.dataPathAddr),
    };
    this.log.info({ via }, 'promoted: becoming a manager');
    this.member = null;
    await stopMember(w);
    await this.identityWrite;
    await writeNodeCertificate(this.opts.dataDir, admission.files, null);
    await writeIdentity(this.opts.dataDir, identity);
    this.state = 'pending';
    this.message = 'promoted: joining the Raft group';
    await this.startManager(identity, false);
    this.state = 'active';
    this.message = '';
  }

  private async becomeWorker(m: ManagerMember): Promise<void> {
    const self = m.identity.nodeId;
    const managers = Object.entries(m.node.status().members)
      .filter(([id]) => id !== self)
      .map(([, addr]) => addr);
    // The leader takes this member out of the Raft group (handing leadership over first when
    // it is the one demoted) and only then gives it a worker's certificate: until then this
    // manager still counts towards quorum, and its own log will never show its removal.
    const deadline = Date.now() + 60_000;
    let admission: Admission;
    for (;;) {
      try {
        admission = await renewCertificate(managers, m.tls);
        break;
      } catch (err) {
        if (!(err instanceof OrcaError) || Date.now() > deadline) throw err;
        if (err.code !== 'ORCA_SWARM_PENDING' && err.code !== 'ORCA_NOT_LEADER') throw err;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    if (admission.role !== 'worker') return;
    const identity: WorkerIdentity = {
      version: 1,
      role: 'worker',
      clusterId: m.identity.clusterId,
      nodeId: self,
      listenAddr: m.identity.listenAddr,
      advertiseAddr: m.identity.advertiseAddr,
      managerAddr: managers[0] ?? '',
      ...dataPathOf(m.identity.dataPathAddr),
    };
    this.log.info({ managers }, 'demoted: becoming a worker');
    this.member = null;
    await stopMember(m);
    await rm(this.raftDir, { recursive: true, force: true });
    await rm(path.join(this.opts.dataDir, CERTIFICATES_DIR), { recursive: true, force: true });
    await this.keys.discard();
    await writeNodeCertificate(this.opts.dataDir, admission.files, null);
    await writeIdentity(this.opts.dataDir, identity);
    this.startWorker(identity, admission.files).worker.addManagers(managers);
  }

  // ---- the manager ---------------------------------------------------------------------------

  /**
   * `swarm init --force-new-cluster`: this manager restarts as the only member of its Raft
   * group, with every entry it holds (force-new-cluster.ts), so a swarm whose other managers
   * are gone for good works again; their Node objects stay, shown down, to demote or remove.
   */
  private async forceNewCluster(): Promise<SwarmInitResponse> {
    const identity = this.member?.identity ?? (await readIdentity(this.opts.dataDir));
    if (identity === null || identity.role !== 'manager') {
      throw swarmError(
        'ORCA_SWARM_NOT_MANAGER',
        '--force-new-cluster: this node is not a swarm manager; it needs the state a manager keeps',
      );
    }
    this.enterChange();
    try {
      await this.starting?.catch(() => {});
      const m = this.member;
      this.member = null;
      if (m !== null) await stopMember(m);
      this.state = 'pending';
      this.message = 'forcing a new cluster from this manager';
      await this.startManager(identity, false, true);
      this.state = 'active';
      this.message = '';
      this.log.warn({ nodeId: identity.nodeId }, 'forced a new cluster: the only manager now');
      return { nodeId: identity.nodeId, clusterId: identity.clusterId };
    } catch (err) {
      this.state = 'error';
      this.message = err instanceof Error ? err.message : String(err);
      throw err;
    } finally {
      this.changing = false;
    }
  }

  private async startManager(
    identity: ManagerIdentity,
    fresh: boolean,
    forceNewCluster = false,
    externalCa: RootCa | null = null,
  ): Promise<void> {
    let raft: RaftNode | null = null;
    const store = new Store({
      proposer: {
        propose: (command) => {
          if (raft === null) throw new OrcaError('ORCA_STOPPED', 'the Raft member is not started');
          return raft.propose(command);
        },
      },
    });
    // The data key seals the Raft data and the private keys at rest (autolock.ts).
    const dek = await this.keys.open(this.raftDir, fresh);
    const { ca, tls } = await this.managerTls(identity, dek, externalCa);
    const client = nodeClientTls(tls, { role: 'manager' });
    raft = await RaftNode.start({
      id: identity.nodeId,
      clusterId: identity.clusterId,
      dataDir: this.raftDir,
      listenAddr: identity.listenAddr,
      advertiseAddr: identity.advertiseAddr,
      credentials: {
        server: nodeServerCredentials(tls),
        channel: client.credentials,
        channelOptions: client.channelOptions,
      },
      authorize: (call, from) => managerPeerProblem(call, tls.caCertPem, from),
      // Ignored once the data dir holds a log, so a resume passes it unchanged; a manager that
      // joined has none: it must never found a group of its own.
      ...(identity.joinedVia === undefined
        ? { initialCluster: [{ id: identity.nodeId, addr: identity.advertiseAddr }] }
        : {}),
      ...(this.opts.tickMs === undefined ? {} : { tickMs: this.opts.tickMs }),
      ...(dek === null ? {} : { cipher: aesGcmCipher(dek) }),
      ...(forceNewCluster ? { forceNewCluster } : {}),
      machine: store,
      logger: this.log.child({ part: 'raft' }),
    });
    const node = raft;
    const member: ManagerMember = { identity, node, store, roles: null, ca, tls };
    this.member = member;
    try {
      // Nothing in the log yet: a joined manager asks the leader to add it (again, if a crash
      // cut the first request short: the leader answers a member's repeat without a change).
      if (identity.joinedVia !== undefined && node.status().commit === 0) {
        await joinRaftGroup({
          via: identity.joinedVia,
          raftAddr: identity.advertiseAddr,
          tls,
          stopped: () => this.closed,
        });
      }
      await this.waitForLeader(node);
      await this.reconcileObjects(member, fresh);
      member.roles = await this.startRoles(member);
    } catch (err) {
      this.member = null;
      await stopMember(member).catch(() => {});
      throw err;
    }
  }

  /**
   * The manager's CA and certificate, made or checked: a new swarm's CA is made here, before
   * the log runs (Raft's listener needs the certificate), and goes into the Cluster object in
   * reconcileObjects. A joined manager keeps the certificate the leader issued it.
   */
  private async managerTls(
    identity: ManagerIdentity,
    dek: Buffer | null,
    externalCa: RootCa | null,
  ): Promise<{ ca: RootCa | null; tls: NodeCertificateFiles }> {
    const subject = {
      nodeId: identity.nodeId,
      role: 'manager',
      clusterId: identity.clusterId,
    } as const;
    const dataDir = this.opts.dataDir;
    const kept = await readManagerCa(dataDir, dek);
    if (kept !== null) {
      return { ca: kept, tls: await ensureNodeCertificate(dataDir, kept, subject, dek) };
    }
    if (identity.joinedVia !== undefined) {
      const files = await readNodeCertificate(dataDir, dek);
      if (files === null) {
        throw new OrcaError(
          'ORCA_DATA_DIR',
          `${path.join(dataDir, CERTIFICATES_DIR)} lacks this manager's certificate; ` +
            'leave the swarm ("orca swarm leave --force") and join it again',
        );
      }
      // Written by the join before the data key existed: sealed now, as a manager's key is.
      if (dek !== null) await writeNodeCertificate(dataDir, files, null, dek);
      return { ca: null, tls: files };
    }
    const ca = externalCa ?? (await createRootCa({ clusterId: identity.clusterId }));
    return { ca, tls: await ensureNodeCertificate(dataDir, ca, subject, dek) };
  }

  /**
   * Starts what runs on the store: the dispatcher and the CA service (served on the Raft
   * listener: one cluster port, as Swarm's 2377), the leader loops with leadership, and this
   * host's worker session. Stopped in the reverse order, the loops first, so that a daemon
   * going down does not record its own node as down: containers keep running and the next
   * start adopts them.
   */
  private async startRoles(m: ManagerMember): Promise<Roles> {
    const log = this.log;
    const keys = await this.keys.follow(m.store, m.identity.clusterId);
    const dispatcher = new Dispatcher({
      caCertPem: m.tls.caCertPem,
      managers: () => Object.values(m.node.status().members),
      store: m.store,
      log: log.child({ part: 'dispatcher' }),
      usageMaxAgeMs: this.reportIntervalMs * REPORTS_PER_USAGE_REFRESH,
    });
    const stopServing = serveDispatcher(m.node, dispatcher);
    const stopCa = serveCa(
      m.node,
      new CaService({
        store: m.store,
        clusterId: m.identity.clusterId,
        raft: m.node,
        leadership: () => {
          const s = m.node.status();
          return {
            isLeader: s.role === 'leader',
            leaderAddr: s.leader === null ? null : (s.members[s.leader] ?? null),
          };
        },
      }),
    );
    const leadership = new Leadership({
      isLeader: () => m.node.status().role === 'leader',
      onChange: (changed) => m.node.onLeadershipChange(changed),
      loops: () => [
        new OrchestratorLoop({ store: m.store, log: log.child({ part: 'orchestrator' }) }),
        new SchedulerLoop({ store: m.store, log: log.child({ part: 'scheduler' }) }),
        new RaftMembership({
          raft: m.node,
          roleOf: (id) => m.store.view((tx) => tx.nodes.get(id)?.spec.role),
          log: log.child({ part: 'membership' }),
        }),
        dispatcher,
      ],
      log: log.child({ part: 'leadership' }),
    });
    leadership.start();
    const logs = new LogBroker({
      store: async () => {
        await m.node.linearizableBarrier();
        return m.store;
      },
      sessions: dispatcher,
      log: log.child({ part: 'logbroker' }),
    });
    const dispatcherAddr = localDialAddr(m.node.listenAddress);
    const worker = startWorkerRole({
      managerAddr: dispatcherAddr,
      managers: () => Object.values(m.node.status().members),
      onRole: (role, via) => this.onDesiredRole(role, via),
      nodeId: m.identity.nodeId,
      ...this.meshOptions(m.identity),
      tls: m.tls,
      dockerHost: this.opts.dockerHost,
      describe: this.opts.describeHost,
      reportIntervalMs: this.reportIntervalMs,
      log: log.child({ part: 'worker' }),
    });
    log.info({ dispatcher: m.node.listenAddress }, 'dispatcher serving; worker session started');
    return {
      dispatcherAddr,
      logs,
      async stop() {
        logs.close();
        await leadership.stop();
        await worker.stop();
        stopCa();
        stopServing();
        await keys.stop();
      },
    };
  }

  /**
   * Waits until this member can serve a linearizable read: a leader is known to the driver and
   * entries committed before a restart are applied (which needs this term's first commit).
   */
  private async waitForLeader(node: RaftNode): Promise<void> {
    for (;;) {
      if (this.closed) throw new OrcaError('ORCA_STOPPED', 'the daemon is stopping');
      try {
        await node.linearizableBarrier();
        return;
      } catch (err) {
        if (!(err instanceof NotLeaderError || err instanceof ProposalUnknownError)) throw err;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Writes the Cluster object if missing (with its CA and join tokens, added to a cluster made
   * before it had them) and this node's Node object: created at init with the host's
   * description, and on every start its status brought up to date (the address may have
   * changed while it was down). Its spec, which users own, is kept. A restarted node's
   * description is the worker's to refresh, through its dispatcher session, as any node's.
   */
  private async reconcileObjects(m: ManagerMember, fresh: boolean): Promise<void> {
    // Read whether or not the node exists: the transaction below cannot wait for it.
    const description = await this.opts.describeHost();
    const newCa = m.ca;
    const addr = hostOfAddr(m.identity.advertiseAddr);
    const status = { state: 'ready', message: '', addr } as const;
    await retryOnConflict(() =>
      m.store.update((tx) => {
        const cluster = tx.clusters.get(m.identity.clusterId);
        if (cluster === undefined) {
          if (newCa === null) {
            throw new OrcaError(
              'ORCA_SWARM_PENDING',
              'the Cluster object has not reached this manager yet; retry shortly',
            );
          }
          tx.clusters.create(
            {
              spec: {
                name: 'default',
                taskHistoryLimit: m.identity.taskHistoryLimit,
                dispatcherHeartbeatMs: m.identity.dispatcherHeartbeatMs ?? DEFAULT_HEARTBEAT_MS,
                autolock: m.identity.autolock === true,
              },
              rootCa: { certPem: newCa.certPem, keyPem: newCa.keyPem },
              joinTokens: createJoinTokens(newCa.certPem),
              ...initialUnlockKey(m.identity.autolock === true),
            },
            { id: m.identity.clusterId },
          );
        } else if (
          newCa !== null &&
          (cluster.rootCa === undefined || cluster.joinTokens === undefined)
        ) {
          const rootCa = cluster.rootCa ?? { certPem: newCa.certPem, keyPem: newCa.keyPem };
          tx.clusters.update({
            ...cluster,
            rootCa,
            joinTokens: cluster.joinTokens ?? createJoinTokens(rootCa.certPem),
          });
        }
        const existing = tx.nodes.get(m.identity.nodeId);
        if (existing === undefined) {
          tx.nodes.create(newNode({ role: 'manager', description, addr, state: 'ready' }), {
            id: m.identity.nodeId,
          });
        } else if (JSON.stringify(existing.status) !== JSON.stringify(status)) {
          tx.nodes.update({ ...existing, status });
        }
      }),
    );
    if (fresh) this.log.debug({}, 'created the cluster and node objects');
    const stored = m.store.view((tx) => tx.clusters.get(m.identity.clusterId)?.rootCa);
    if (stored !== undefined && m.ca !== null && !sameCa(stored.certPem, m.ca.certPem)) {
      // Only a data dir put together by hand gets here: the listener keeps what it started
      // with until the next start, which takes the cluster's CA from these files.
      this.log.warn({}, 'the certificates on disk were not from the cluster CA; reissued');
      await ensureNodeCertificate(
        this.opts.dataDir,
        loadCa(stored.certPem, stored.keyPem),
        {
          nodeId: m.identity.nodeId,
          role: 'manager',
          clusterId: m.identity.clusterId,
        },
        this.keys.current(),
      );
    }
  }

  // ---- reads and node updates ----------------------------------------------------------------

  /** The active member, once a resume in progress is done; refuses outside a swarm. */
  private async active(): Promise<Member> {
    if (this.starting !== null && this.state === 'pending') {
      const timeoutMs = this.opts.readyTimeoutMs ?? 10_000;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.starting,
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]).finally(() => clearTimeout(timer));
    }
    if (this.state === 'pending') {
      throw swarmError(
        'ORCA_SWARM_PENDING',
        'the swarm member is still starting (no Raft leader yet); retry shortly',
      );
    }
    if (this.state === 'error') {
      throw swarmError('ORCA_SWARM_ERROR', `the swarm member failed to start: ${this.message}`);
    }
    if (this.state === 'locked') throw new SwarmLockedError();
    if (this.member === null) throw notInSwarm();
    return this.member;
  }

  /** The active member where it is a manager: a worker holds no cluster state to read or change. */
  private async manager(): Promise<ManagerMember> {
    const m = await this.active();
    if (!isManager(m)) throw new NotManagerError();
    return m;
  }

  /** This member's node id, which `self` names; '' outside a swarm. */
  get nodeId(): string {
    return this.member?.identity.nodeId ?? '';
  }

  /** The ServiceLogs stream, from this member's log broker. */
  async *serviceLogs(req: unknown, signal: AbortSignal): AsyncGenerator<ServiceLogsMessage> {
    const m = await this.manager();
    if (m.roles === null) {
      throw swarmError('ORCA_SWARM_PENDING', 'the swarm member is still starting; retry shortly');
    }
    yield* m.roles.logs.serviceLogs(req, signal);
  }

  /** The store for the service control API: this member's, once a read on it is linearizable. */
  async controlStore(): Promise<Store> {
    const m = await this.manager();
    await m.node.linearizableBarrier();
    return m.store;
  }

  async info(): Promise<Omit<Info, 'dataDir' | 'dockerHost' | 'orcaVersion'>> {
    const m = this.member;
    const identity =
      m?.identity ?? (this.state === 'inactive' ? null : await readIdentity(this.opts.dataDir));
    const base = {
      swarm: this.state,
      message: this.message,
      nodeId: identity?.nodeId ?? '',
      isManager: identity?.role === 'manager',
      managerAddresses: managerAddresses(identity),
      clusterId: identity?.clusterId ?? '',
      advertiseAddr: identity?.advertiseAddr ?? '',
      listenAddr: identity?.listenAddr ?? this.opts.listenAddr,
    };
    if (m === null || !isManager(m) || this.state !== 'active') {
      return { ...base, cluster: null, managers: 0, nodes: 0, raft: null };
    }
    const s = m.node.status();
    const { cluster, nodes } = m.store.view((tx) => ({
      cluster: tx.clusters.get(m.identity.clusterId) ?? null,
      nodes: tx.nodes.all(),
    }));
    return {
      ...base,
      cluster: cluster === null ? null : publicCluster(cluster),
      managers: nodes.filter((n) => n.spec.role === 'manager').length,
      nodes: nodes.length,
      managerAddresses: Object.values(s.members),
      raft: {
        term: s.term,
        leader: s.leader,
        role: s.role,
        commit: s.commit,
        applied: s.applied,
        voters: s.voters,
        learners: s.learners,
      },
    };
  }

  async nodeList(): Promise<NodeListResponse> {
    const m = await this.manager();
    await m.node.linearizableBarrier();
    const nodes = m.store
      .view((tx) => tx.nodes.all())
      .map((n) => this.view(m, n))
      .sort(
        (a, b) =>
          a.description.hostname.localeCompare(b.description.hostname) ||
          a.meta.id.localeCompare(b.meta.id),
      );
    return { self: m.identity.nodeId, nodes };
  }

  async nodeInspect(ref: string): Promise<NodeView> {
    const m = await this.manager();
    await m.node.linearizableBarrier();
    return this.view(m, this.resolve(m, ref));
  }

  /** `swarm update`: the cluster settings given change, through the log; the rest are kept. */
  async update(req: SwarmUpdateRequest): Promise<Cluster> {
    checkClusterSettings(req);
    const m = await this.manager();
    if (req.autolock === true) this.keys.assertCanLock();
    await m.node.linearizableBarrier();
    const { value } = await retryOnConflict(() =>
      m.store.update((tx) => {
        const cluster = clusterOf(tx.clusters.get(m.identity.clusterId));
        const spec = {
          ...cluster.spec,
          taskHistoryLimit: req.taskHistoryLimit ?? cluster.spec.taskHistoryLimit,
          dispatcherHeartbeatMs: req.dispatcherHeartbeatMs ?? cluster.spec.dispatcherHeartbeatMs,
          ...(req.certExpiryMs === undefined && cluster.spec.certExpiryMs === undefined
            ? {}
            : { certExpiryMs: req.certExpiryMs ?? cluster.spec.certExpiryMs }),
        };
        return tx.clusters.update(withAutolock({ ...cluster, spec }, req.autolock));
      }),
    );
    // This manager's data key is wrapped as the cluster now says before the answer: a restart
    // right after `--autolock=true` is locked. The other managers follow the Cluster object.
    if (req.autolock !== undefined) await this.keys.sync();
    return publicCluster(value);
  }

  /**
   * `swarm unlock`: a locked manager opens its data key with the unlock key and starts as on
   * any restart. A wrong key is refused and leaves it locked.
   */
  async unlock(req: SwarmUnlockRequest): Promise<void> {
    if (typeof req.unlockKey !== 'string') throw badFlag('unlockKey: give the unlock key');
    if (this.state === 'inactive') throw notInSwarm();
    if (this.state !== 'locked') throw notLocked();
    const identity = await readIdentity(this.opts.dataDir);
    if (identity === null) throw notInSwarm();
    this.enterChange();
    try {
      await this.keys.unlock(req.unlockKey);
      this.log.info({}, 'unlocked');
      this.resume(identity);
    } finally {
      this.changing = false;
    }
    // As Docker's, the answer waits for the manager to be up; one still electing answers too.
    await this.active().catch((err: unknown) => {
      if (!(err instanceof OrcaError && err.code === 'ORCA_SWARM_PENDING')) throw err;
    });
  }

  /** `swarm unlock-key [--rotate]`: the key a restarted manager needs ('' with autolock off). */
  async unlockKey(req: SwarmUnlockKeyRequest): Promise<SwarmUnlockKeyResponse> {
    const m = await this.manager();
    await m.node.linearizableBarrier();
    if (req.rotate === true) {
      this.keys.assertCanLock();
      await retryOnConflict(() =>
        m.store.update((tx) => {
          tx.clusters.update(withNewUnlockKey(clusterOf(tx.clusters.get(m.identity.clusterId))));
        }),
      );
      await this.keys.sync();
      this.log.info({}, 'unlock key rotated');
    }
    const cluster = clusterOf(m.store.view((tx) => tx.clusters.get(m.identity.clusterId)));
    return { unlockKey: cluster.unlockKey ?? '' };
  }

  /**
   * `swarm join-token ROLE [--rotate]`: the role's token, replaced first when asked. A
   * rotated token admits nobody from the next request on; nodes that joined with it keep their
   * certificates and sessions.
   */
  async joinToken(req: SwarmJoinTokenRequest): Promise<SwarmJoinTokenResponse> {
    const role: unknown = req.role;
    if (role !== 'worker' && role !== 'manager') {
      throw badFlag(`role: "${String(role)}" is not a role; give worker or manager`);
    }
    const m = await this.manager();
    await m.node.linearizableBarrier();
    const tokens = req.rotate
      ? (
          await retryOnConflict(() =>
            m.store.update((tx) => {
              const cluster = clusterOf(tx.clusters.get(m.identity.clusterId));
              const joinTokens = {
                ...tokensOf(cluster),
                [role]: createJoinToken(caOf(cluster).certPem),
              };
              tx.clusters.update({ ...cluster, joinTokens });
              return joinTokens;
            }),
          )
        ).value
      : tokensOf(clusterOf(m.store.view((tx) => tx.clusters.get(m.identity.clusterId))));
    if (req.rotate) this.log.info({ role }, 'join token rotated');
    return { role, token: tokens[role as NodeRole], managerAddr: m.identity.advertiseAddr };
  }

  async nodeUpdate(req: NodeUpdateRequest): Promise<NodeUpdateResponse> {
    const problems: string[] = [];
    if (req.role !== undefined && req.role !== 'manager' && req.role !== 'worker') {
      problems.push(`role: "${String(req.role)}" is not one of manager, worker`);
    }
    if (req.availability !== undefined && !availabilities.includes(req.availability)) {
      problems.push(
        `availability: "${String(req.availability)}" is not one of ${availabilities.join(', ')}`,
      );
    }
    const add = req.labelAdd ?? {};
    if (typeof add !== 'object' || add === null || Array.isArray(add)) {
      problems.push('labelAdd: must be an object of label keys to values');
    } else {
      for (const [k, v] of Object.entries(add)) {
        if (k === '' || typeof v !== 'string') {
          problems.push(`labelAdd: "${k}" needs a non-empty key and a string value`);
        }
      }
    }
    const rm = req.labelRm ?? [];
    if (!Array.isArray(rm) || rm.some((k) => typeof k !== 'string' || k === '')) {
      problems.push('labelRm: must be a list of non-empty label keys');
    }
    if (problems.length > 0) throw badFlag(problems.join('; '));
    const m = await this.manager();
    await m.node.linearizableBarrier();
    let warnings: readonly string[] = [];
    const { value } = await retryOnConflict(() =>
      m.store.update((tx) => {
        const all = tx.nodes.all();
        const n = this.resolve(m, req.node, all);
        const role = req.role ?? n.spec.role;
        const check = checkRoleChange(all, n, role, req.force === true);
        if (check.problem !== null) throw swarmError('ORCA_SWARM_QUORUM', check.problem);
        warnings = check.warnings;
        const labels: Record<string, string> = { ...n.spec.labels };
        for (const k of rm) {
          if (!(k in labels)) {
            // As Docker: removing a label the node does not carry is an error, not a no-op.
            throw badFlag(`--label-rm: node ${n.meta.id} has no label "${k}"`);
          }
          delete labels[k];
        }
        Object.assign(labels, add);
        return tx.nodes.update({
          ...n,
          spec: { ...n.spec, role, availability: req.availability ?? n.spec.availability, labels },
        }).meta.id;
      }),
    );
    const updated = m.store.view((tx) => tx.nodes.get(value));
    if (updated === undefined) throw new OrcaError('ORCA_NOT_FOUND', `node ${value} not found`);
    return { ...this.view(m, updated), warnings };
  }

  /**
   * `node rm`: as Docker, a manager must be demoted first (it is a member of the Raft group),
   * and a node that is not down is removed only with force. Its tasks then run elsewhere
   * (the orchestrator treats them as on a removed node), and its certificate opens nothing:
   * the dispatcher ends its session and refuses the next, the CA renews nothing for it.
   */
  async nodeRemove(req: NodeRemoveRequest): Promise<{ id: string }> {
    const m = await this.manager();
    await m.node.linearizableBarrier();
    const { value } = await retryOnConflict(() =>
      m.store.update((tx) => {
        const n = this.resolve(m, req.node, tx.nodes.all());
        if (n.spec.role === 'manager') {
          throw swarmError(
            'ORCA_SWARM_NODE_IS_MANAGER',
            `node ${n.meta.id} is a manager and a member of the Raft group: demote it first ("orca node demote ${n.meta.id}")`,
          );
        }
        if (n.status.state !== 'down' && req.force !== true) {
          throw swarmError(
            'ORCA_SWARM_NODE_NOT_DOWN',
            `node ${n.meta.id} is not down and can't be removed; stop its daemon (or "orca swarm leave" on it) first, or use --force`,
          );
        }
        tx.nodes.delete(n.meta.id);
        return n.meta.id;
      }),
    );
    return { id: value };
  }

  /** As Docker: `self`, a full id, a hostname, then a unique id prefix. */
  private resolve(m: ManagerMember, ref: string, nodes?: readonly Node[]): Node {
    if (typeof ref !== 'string' || ref === '') throw badFlag('NODE: give a node id or hostname');
    const all = nodes ?? m.store.view((tx) => tx.nodes.all());
    const id = ref === 'self' ? m.identity.nodeId : ref;
    const byId = all.find((n) => n.meta.id === id);
    if (byId !== undefined) return byId;
    const byName = all.filter((n) => n.description.hostname === ref);
    const byPrefix = all.filter((n) => n.meta.id.startsWith(ref));
    const matches = byName.length > 0 ? byName : byPrefix;
    if (matches.length === 1) return matches[0] as Node;
    if (matches.length === 0) throw new OrcaError('ORCA_NOT_FOUND', `node ${ref} not found`);
    throw badFlag(
      `node ${ref} is ambiguous (${matches.length} matches: ${matches.map((n) => n.meta.id).join(', ')}); give more of the id`,
    );
  }

  private view(m: ManagerMember, n: Node): NodeView {
    let managerStatus: ManagerStatus | null = null;
    if (n.spec.role === 'manager') {
      const s = m.node.status();
      const addr = s.members[n.meta.id];
      managerStatus = {
        leader: s.leader === n.meta.id,
        reachability: managerReachability(n, m.identity.nodeId, addr !== undefined),
        addr: addr ?? '',
      };
    }
    // meta first, as Docker's inspect output starts with the ID.
    const { meta, ...rest } = n;
    return { meta, ...rest, managerStatus };
  }
}

/** The address this host's worker dials: loopback where the listener takes every address. */
/** `--data-path-addr`, checked: an IP address (Swarm also takes an interface name; orca does not yet). */
function dataPathOf(addr: string | undefined): { dataPathAddr?: string } {
  if (addr === undefined || addr === '') return {};
  if (isIP(addr) === 0) {
    throw badFlag(`--data-path-addr: "${addr}" is not an IP address (example: 10.0.0.5)`);
  }
  return { dataPathAddr: addr };
}

function localDialAddr(bound: string): string {
  const hp = parseHostPort(bound, 'dispatcher', 0);
  const any = hp.host === '0.0.0.0' || hp.host === '[::]' || hp.host === '::';
  return formatHostPort({ host: any ? '127.0.0.1' : hp.host, port: hp.port });
}

/** Stops whatever the member runs: the manager's roles and Raft member, or the worker. */
async function stopMember(m: Member): Promise<void> {
  if (!isManager(m)) {
    await m.worker.stop();
    return;
  }
  await m.roles?.stop();
  await m.node.stop();
}

/** A manager knows its own address; a worker, the managers its sessions named. */
function managerAddresses(identity: SwarmIdentity | null): string[] {
  if (identity === null) return [];
  if (identity.role === 'manager') return [identity.advertiseAddr];
  return [...new Set([identity.managerAddr, ...(identity.managerAddrs ?? [])])];
}

/**
 * Runs a "set these fields" write again when another write to the same object came first: it
 * is not based on what the caller read, so a concurrent change is no reason to refuse it.
 */
async function retryOnConflict<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof StoreConflictError) || attempt >= 3) throw err;
    }
  }
}

function clusterOf(cluster: Cluster | undefined): Cluster {
  if (cluster === undefined) {
    throw new OrcaError('ORCA_NOT_FOUND', 'the cluster object is not written yet; retry');
  }
  return cluster;
}

/** Written with the cluster since the CA exists, or added by the next start: never long absent. */
function caOf(cluster: Cluster): NonNullable<Cluster['rootCa']> {
  if (cluster.rootCa === undefined) {
    throw new OrcaError('ORCA_SWARM_PENDING', "the swarm's root CA is not written yet; retry");
  }
  return cluster.rootCa;
}

function tokensOf(cluster: Cluster): NonNullable<Cluster['joinTokens']> {
  if (cluster.joinTokens === undefined) {
    throw new OrcaError('ORCA_SWARM_PENDING', "the swarm's join tokens are not written yet; retry");
  }
  return cluster.joinTokens;
}

/** Bounds on the cluster settings, checked the same way by init and update. */
const HOUR_MS = 3_600_000;

function checkClusterSettings(s: SwarmUpdateRequest): void {
  const problems: string[] = [];
  const limit = s.taskHistoryLimit;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) {
    problems.push(`--task-history-limit: "${limit}" is not a whole number of 0 or more`);
  }
  const beat = s.dispatcherHeartbeatMs;
  // Below 100 ms the heartbeats are most of a worker's traffic; above a day a dead worker's
  // tasks would wait that long (times the grace of 3) to move.
  if (beat !== undefined && (!Number.isSafeInteger(beat) || beat < 100 || beat > 86_400_000)) {
    problems.push(`--dispatcher-heartbeat: "${beat}" ms is not between 100ms and 24h`);
  }
  const expiry = s.certExpiryMs;
  if (expiry !== undefined && (!Number.isSafeInteger(expiry) || expiry < HOUR_MS)) {
    problems.push(`--cert-expiry: "${expiry}" ms is shorter than 1h`);
  }
  if (s.autolock !== undefined && typeof s.autolock !== 'boolean') {
    problems.push(`--autolock: "${String(s.autolock)}" is not true or false`);
  }
  if (problems.length > 0) throw badFlag(problems.join('; '));
}

/** The CA `swarm init --ca-cert --ca-key` brought, checked; null when none was given. */
function givenCa(req: SwarmInitRequest): RootCa | null {
  const { caCertPem, caKeyPem } = req;
  if (caCertPem === undefined && caKeyPem === undefined) return null;
  if (typeof caCertPem !== 'string' || typeof caKeyPem !== 'string') {
    throw badFlag('--ca-cert, --ca-key: give both, the root CA certificate and its private key');
  }
  try {
    return loadCa(caCertPem, caKeyPem);
  } catch (err) {
    throw badFlag(`--ca-cert, --ca-key: ${(err as Error).message}`);
  }
}

/**
 * As `docker node ls` shows a manager: this one is reachable; another one by whether its own
 * worker session is up (every manager runs one, so the dispatcher marks a manager that stopped
 * answering down like any node); one not (yet) in the Raft group is unknown.
 */
function managerReachability(
  n: Node,
  self: string,
  member: boolean,
): 'reachable' | 'unreachable' | 'unknown' {
  if (n.meta.id === self) return 'reachable';
  if (!member) return 'unknown';
  if (n.status.state === 'ready') return 'reachable';
  return n.status.state === 'down' ? 'unreachable' : 'unknown';
}
