// Every error orca raises on purpose, in one place: a stable `code` for programs and a message
// that tells a person what happened and what to do next. The CLI prints `message` and exits 1.

export class OrcaError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A write reached a member that is not the leader and cannot forward it. */
export class NotLeaderError extends OrcaError {
  readonly leader: string | null;
  constructor(leader: string | null) {
    super(
      'ORCA_NOT_LEADER',
      leader === null
        ? 'no leader is known: the cluster is electing one or has lost quorum; retry shortly'
        : `this member is not the leader; send the request to ${leader}`,
    );
    this.leader = leader;
  }
}

/** The core refused a proposal it could not place (no leader, leadership transfer, pending change). */
export class ProposalDroppedError extends OrcaError {
  constructor(reason: string) {
    super('ORCA_PROPOSAL_DROPPED', `proposal dropped: ${reason}`);
  }
}

/** A proposal was accepted but its fate is unknown: leadership changed or the wait timed out. */
export class ProposalUnknownError extends OrcaError {
  constructor(reason: string) {
    super(
      'ORCA_PROPOSAL_UNKNOWN',
      `outcome unknown: ${reason}; the write may or may not have been applied`,
    );
  }
}

export class ConfChangeError extends OrcaError {
  constructor(message: string) {
    super('ORCA_CONF_CHANGE', message);
  }
}

/** The data dir cannot be trusted: never repaired silently, the operator decides. */
export class DataDirError extends OrcaError {
  constructor(message: string, options?: ErrorOptions) {
    super('ORCA_DATA_DIR', message, options);
  }
}

export class TransportError extends OrcaError {
  constructor(message: string, options?: ErrorOptions) {
    super('ORCA_TRANSPORT', message, options);
  }
}

/**
 * An image is neither on this node nor pullable. Fatal for the task that needs it: the
 * orchestrator replaces the task, perhaps on a node that has the image.
 */
export class ImageUnavailableError extends OrcaError {
  readonly image: string;
  readonly temporary = false;
  constructor(image: string, reason: string, options?: ErrorOptions) {
    super(
      'ORCA_IMAGE_UNAVAILABLE',
      `image ${image} is not on this node and could not be pulled (${reason}); ` +
        `load it on this node with \`docker load\`, or make its registry reachable from this node`,
      options,
    );
    this.image = image;
  }
}

/**
 * The container runtime refused or failed a request. `temporary`: worth retrying as is (engine
 * unreachable, engine error); otherwise the request itself is wrong (bad spec, name taken, no
 * such container) and a retry fails the same way.
 */
export class RuntimeError extends OrcaError {
  readonly temporary: boolean;
  /** The engine's HTTP status, when it answered at all. */
  readonly status: number | null;
  constructor(
    message: string,
    opts: { temporary: boolean; status?: number | null },
    options?: ErrorOptions,
  ) {
    super('ORCA_RUNTIME', message, options);
    this.temporary = opts.temporary;
    this.status = opts.status ?? null;
  }
}

/**
 * A placement constraint that cannot be parsed. Raised where a spec is accepted (control API,
 * `--constraint`) so a typo is refused at once instead of leaving tasks pending forever.
 */
export class InvalidConstraintError extends OrcaError {
  readonly constraint: string;
  constructor(constraint: string, problem: string) {
    super(
      'ORCA_BAD_REQUEST',
      `invalid constraint ${JSON.stringify(constraint)}: ${problem}; expected <field>==<value> or ` +
        '<field>!=<value> with field one of node.id, node.hostname, node.role, node.platform.os, ' +
        'node.platform.arch, node.labels.<key>, engine.labels.<key>',
    );
    this.constraint = constraint;
  }
}

/** A placement preference other than `spread=node.labels.<key>` or `spread=engine.labels.<key>`. */
export class InvalidPlacementPreferenceError extends OrcaError {
  readonly preference: string;
  constructor(preference: string, problem: string) {
    super(
      'ORCA_BAD_REQUEST',
      `invalid placement preference ${JSON.stringify(preference)}: ${problem}; expected ` +
        'spread=node.labels.<key> or spread=engine.labels.<key>',
    );
    this.preference = preference;
  }
}

// ---- the cluster store ------------------------------------------------------------------------

/** A write was based on a version of an object that is no longer the stored one. */
export class StoreConflictError extends OrcaError {
  readonly table: string;
  readonly id: string;
  readonly expected: number;
  readonly actual: number;
  constructor(noun: string, table: string, id: string, expected: number, actual: number) {
    super(
      'ORCA_CONFLICT',
      `${noun} ${id} changed meanwhile (the write was based on version ${expected}, the stored one is ${actual}); read it again and retry`,
    );
    this.table = table;
    this.id = id;
    this.expected = expected;
    this.actual = actual;
  }
}

export class NotFoundError extends OrcaError {
  readonly table: string;
  readonly id: string;
  constructor(noun: string, table: string, id: string) {
    super('ORCA_NOT_FOUND', `${noun} ${id} not found`);
    this.table = table;
    this.id = id;
  }
}

/** A create named an id that is already stored. */
export class AlreadyExistsError extends OrcaError {
  readonly table: string;
  readonly id: string;
  constructor(noun: string, table: string, id: string) {
    super('ORCA_EXISTS', `${noun} ${id} already exists`);
    this.table = table;
    this.id = id;
  }
}

/** A value that must be unique within a table (a service's name) is held by another object. */
export class NameConflictError extends OrcaError {
  readonly table: string;
  readonly value: string;
  readonly holder: string;
  constructor(noun: string, table: string, field: string, value: string, holder: string) {
    super(
      'ORCA_NAME_TAKEN',
      `${noun} ${field} '${value}' is already taken by ${noun} ${holder}; choose another or remove that ${noun} first`,
    );
    this.table = table;
    this.value = value;
    this.holder = holder;
  }
}

/** A watch fell too far behind or the store was replaced; the consumer must re-read the state. */
export class WatchLostError extends OrcaError {
  constructor(reason: string) {
    super('ORCA_WATCH_LOST', `watch closed: ${reason}; read the state again and watch anew`);
  }
}

/** One transaction would make a log entry larger than the store accepts. */
export class TransactionTooLargeError extends OrcaError {
  constructor(changes: number, bytes: number, maxChanges: number, maxBytes: number) {
    super(
      'ORCA_TX_TOO_LARGE',
      `transaction of ${changes} changes (${bytes} bytes) exceeds one log entry (at most ${maxChanges} changes, ${maxBytes} bytes); use store.batch() for bulk writes`,
    );
  }
}

/** A batch stopped part way: the first `appliedChanges` changes are stored, the rest are not. */
export class BatchIncompleteError extends OrcaError {
  readonly appliedChanges: number;
  readonly totalChanges: number;
  constructor(appliedChanges: number, totalChanges: number, cause: unknown) {
    super(
      'ORCA_BATCH_INCOMPLETE',
      `batch stopped after ${appliedChanges} of ${totalChanges} changes: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.appliedChanges = appliedChanges;
    this.totalChanges = totalChanges;
  }
}

/** A command or snapshot the store cannot read: written by a newer orca, or damaged. */
export class StoreFormatError extends OrcaError {
  constructor(message: string, options?: ErrorOptions) {
    super('ORCA_STORE_FORMAT', message, options);
  }
}

/**
 * A command line (or request) that cannot become a valid object. Every problem names the flag,
 * the bad value and the form expected; all of them are reported at once so that a long
 * `service create` line is fixed in one round, not one flag per try.
 */
export class InvalidFlagsError extends OrcaError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(
      'ORCA_BAD_REQUEST',
      problems.length === 1
        ? (problems[0] as string)
        : `${problems.length} problems:\n  ${problems.join('\n  ')}`,
    );
    this.problems = problems;
  }
}

/**
 * The user stopped a command that runs until stopped (`service logs -f`) with Ctrl-C or a
 * SIGTERM. Not a failure to report: the CLI exits quietly with the shell's code for the signal.
 */
export class InterruptedError extends OrcaError {
  readonly exitCode: number;
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super('ORCA_INTERRUPTED', `interrupted by ${signal}`);
    this.exitCode = signal === 'SIGINT' ? 130 : 143;
  }
}

/** An orchestrator decision was handed a service of another mode: a bug in the caller. */
export class ServiceModeError extends OrcaError {
  constructor(serviceId: string, expected: string, actual: string) {
    super(
      'ORCA_INTERNAL',
      `service ${serviceId} is ${actual}, but the ${expected} orchestrator was asked to decide for it`,
    );
  }
}

/** Bad input to a command or an API call: the message names the field; the CLI exits 2. */
export class BadRequestError extends OrcaError {
  constructor(message: string) {
    super('ORCA_BAD_REQUEST', message);
  }
}

/**
 * A certificate, key or certificate request the cluster CA was handed is unusable, or a peer's
 * certificate does not prove what it must: the message names what is wrong with which one.
 */
export class CertificateError extends OrcaError {
  constructor(message: string, options?: ErrorOptions) {
    super('ORCA_CERTIFICATE', message, options);
  }
}

/** A join token that is not one, or that was made for another cluster's CA. */
export class JoinTokenError extends OrcaError {
  constructor(message: string) {
    super('ORCA_JOIN_TOKEN', message);
  }
}

/** An unlock key that is not one, or not the one that locks this node's data. */
export class UnlockKeyError extends OrcaError {
  constructor(message: string) {
    super('ORCA_UNLOCK_KEY', message);
  }
}

/**
 * This manager's data is encrypted with an unlock key it does not keep (autolock), and it has
 * restarted: nothing of the swarm can be served until `orca swarm unlock`.
 */
export class SwarmLockedError extends OrcaError {
  constructor() {
    super(
      'ORCA_SWARM_LOCKED',
      'the swarm is locked: this manager restarted and its data is encrypted with the unlock key; run `orca swarm unlock` and enter the key (`orca swarm unlock-key` on another manager shows it)',
    );
  }
}

/** A cluster-wide request reached a worker, which holds no cluster state: Docker's words. */
export class NotManagerError extends OrcaError {
  constructor() {
    super(
      'ORCA_SWARM_NOT_MANAGER',
      "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster " +
        'state. Please run this command on a manager node or promote the current node to a manager.',
    );
  }
}

/**
 * The routing mesh's kernel data path cannot run on this node: nft is missing, not permitted,
 * or the kernel lacks what the ruleset needs. The user-space data path serves instead.
 */
export class KernelMeshUnavailableError extends OrcaError {
  constructor(reason: string, options?: ErrorOptions) {
    super(
      'ORCA_MESH_KERNEL_UNAVAILABLE',
      `the kernel routing mesh (nftables) is unavailable: ${reason}; ` +
        'the user-space data path serves published ports instead',
      options,
    );
  }
}
