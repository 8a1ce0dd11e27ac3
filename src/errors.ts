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
