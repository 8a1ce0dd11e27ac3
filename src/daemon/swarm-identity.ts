// `<data-dir>/swarm.json`: who this daemon is in its swarm, written when it creates or joins
// one, so that a restart resumes the same member. Its presence is what "part of a swarm" means
// on disk; the certificates beside it (node-certificates.ts) are what the member proves it with.

import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { OrcaError } from '../errors.ts';

interface IdentityBase {
  readonly version: 1;
  readonly clusterId: string;
  readonly nodeId: string;
  readonly listenAddr: string;
  /** Where other nodes reach this one; '' for a worker that joined without --advertise-addr. */
  readonly advertiseAddr: string;
  /** `--data-path-addr`: where other nodes reach its published host ports; absent: the advertise host. */
  readonly dataPathAddr?: string;
}

/** A manager: a Raft member whose state machine is the cluster store. */
export interface ManagerIdentity extends IdentityBase {
  readonly role: 'manager';
  /** Only for the Cluster object, which a restart re-creates if a crash lost it. */
  readonly taskHistoryLimit: number;
  /** Absent in identities written before it could be set at init. */
  readonly dispatcherHeartbeatMs?: number;
  /**
   * The manager this one joined through (`swarm join` with the manager token); absent for the
   * manager that created the swarm. A joined manager never bootstraps a Raft group of its own:
   * with an empty log it asks to be added to the swarm's.
   */
  readonly joinedVia?: string;
  /** `swarm init --autolock`, for the same purpose; absent: off. */
  readonly autolock?: boolean;
}

/** A worker: a dispatcher session to the manager it joined through, nothing else. */
export interface WorkerIdentity extends IdentityBase {
  readonly role: 'worker';
  /** The manager's cluster address, as `swarm join` was given it. */
  readonly managerAddr: string;
  /**
   * Every manager a session named, kept so that a restart finds the leader even when the
   * manager it joined through is gone; absent until a session named them.
   */
  readonly managerAddrs?: readonly string[];
}

export type SwarmIdentity = ManagerIdentity | WorkerIdentity;

export const IDENTITY_FILE = 'swarm.json';

/** The identity in `dataDir`, or null when it holds none. */
export async function readIdentity(dataDir: string): Promise<SwarmIdentity | null> {
  const file = path.join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const id = JSON.parse(text) as SwarmIdentity | (Omit<ManagerIdentity, 'role'> & { role?: never });
  if (id.version !== 1) {
    throw new OrcaError(
      'ORCA_DATA_DIR',
      `${file} was written by a newer orca (layout ${String(id.version)})`,
    );
  }
  // Written before workers could join: every member was a manager.
  return id.role === undefined ? { ...id, role: 'manager' } : id;
}

/** Written whole or not at all: a temp file, fsync'd, renamed over, and the dir fsync'd. */
export async function writeIdentity(dataDir: string, identity: SwarmIdentity): Promise<void> {
  const file = path.join(dataDir, IDENTITY_FILE);
  await mkdir(dataDir, { recursive: true });
  const tmp = `${file}.tmp`;
  const f = await open(tmp, 'w', 0o600);
  try {
    await f.writeFile(`${JSON.stringify(identity, null, 2)}\n`);
    await f.sync();
  } finally {
    await f.close();
  }
  await rename(tmp, file);
  const dir = await open(dataDir, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
