// Encryption at rest and autolock on a manager, as Swarm has them.
//
// Every manager's Raft data (log and snapshots, so the cluster's CA key and join tokens too) and
// its private keys in certificates/ are sealed with a data encryption key (DEK) of its own,
// kept in `<data-dir>/keys.json` wrapped by a key encryption key (at-rest-keys.ts). Without
// autolock the KEK is stored beside it; with autolock the KEK is the cluster's unlock key,
// which lives only in the Raft-replicated Cluster object (and with the operator), so a manager
// that restarts cannot read its own data until someone gives it the key (`swarm unlock`).
//
// Each manager follows the Cluster object: whenever its unlock key changes (autolock turned on
// or off, the key rotated, on whichever manager), it wraps its own DEK again as the cluster
// says. Nothing is re-encrypted: only keys.json is rewritten.

import { readdir } from 'node:fs/promises';
import type { Cluster, ClusterSpec } from '../api/objects.ts';
import { createUnlockKey } from '../ca/unlock-key.ts';
import { OrcaError, SwarmLockedError, WatchLostError } from '../errors.ts';
import type { Store } from '../store/index.ts';
import {
  createAtRestKeys,
  readAtRestKeys,
  removeAtRestKeys,
  unlockAtRestKeys,
  wrapAtRestKeys,
} from './at-rest-keys.ts';
import type { Logger } from './logger.ts';

export interface KeyFollower {
  /** Stops following the Cluster object, once a wrap in progress is written. */
  stop(): Promise<void>;
}

/** This manager's data key, and how keys.json wraps it. One per daemon. */
export class ManagerKeys {
  readonly #dataDir: string;
  readonly #log: Logger;
  /**
   * The data key once known (created, read beside its KEK, or unlocked); null for a Raft store
   * written before orca encrypted at rest, which stays plain; undefined before any of that.
   */
  #dek: Buffer | null | undefined;
  /** What keys.json wraps the DEK with now: the unlock key, or null for a KEK stored beside it. */
  #wrappedWith: string | null = null;
  /** The Cluster object as this manager's store holds it, while a follower runs. */
  #cluster: (() => Cluster | undefined) | null = null;
  /** Wraps run one at a time, each from what the store holds when it starts. */
  #queue: Promise<void> = Promise.resolve();
  #warnedPlain = false;

  constructor(dataDir: string, log: Logger) {
    this.#dataDir = dataDir;
    this.#log = log;
  }

  /** Whether the data dir is locked: its DEK wrapped by an unlock key nobody has given yet. */
  async locked(): Promise<boolean> {
    if (this.#dek !== undefined) return false;
    return (await readAtRestKeys(this.#dataDir))?.state === 'locked';
  }

  /** Opens the DEK with the unlock key; an UnlockKeyError (still locked) for a wrong one. */
  async unlock(unlockKey: string): Promise<void> {
    const dek = await unlockAtRestKeys(this.#dataDir, unlockKey);
    this.#dek = dek;
    this.#wrappedWith = unlockKey.trim();
  }

  /**
   * The DEK for this manager's Raft store and private keys: a new one for a new store
   * (`fresh`, or a data dir without Raft data), the stored one, or the one `unlock` opened.
   * A new DEK is wrapped by a stored KEK; the follower wraps it with the unlock key once the
   * Cluster object says so, so a crash before the key is committed never locks a node with a
   * key nobody was shown. null: a store from before encryption at rest, opened plain.
   */
  async open(raftDir: string, fresh: boolean): Promise<Buffer | null> {
    if (!fresh && this.#dek !== undefined) return this.#dek;
    const keys = fresh ? null : await readAtRestKeys(this.#dataDir);
    if (keys?.state === 'locked') throw new SwarmLockedError();
    if (keys?.state === 'unlocked') {
      this.#dek = keys.dek;
    } else if (!fresh && (await holdsData(raftDir))) {
      this.#log.warn(
        { dir: raftDir },
        'this Raft data was written before orca encrypted it at rest: it stays plain, and this manager cannot be autolocked; leave and join (or init) again to encrypt it',
      );
      this.#dek = null;
    } else {
      this.#dek = await createAtRestKeys(this.#dataDir, null);
    }
    this.#wrappedWith = null;
    this.#warnedPlain = false;
    return this.#dek;
  }

  /** The DEK `open` gave (null: plain data, or not opened yet). */
  current(): Buffer | null {
    return this.#dek ?? null;
  }

  /** Refuses to turn autolock on (or rotate its key) where this manager could not follow. */
  assertCanLock(): void {
    if (this.#dek === null) {
      throw new OrcaError(
        'ORCA_SWARM_PLAIN_DATA',
        "this manager's Raft data was written before orca encrypted it at rest, so it cannot be locked; leave and join (or init) again to encrypt it",
      );
    }
  }

  /**
   * Follows the Cluster object in `store`: wraps the DEK as it says now (awaited) and again
   * whenever it changes. Every manager runs one, so a key rotated or autolock turned on or off
   * on any manager reaches them all.
   */
  async follow(store: Store, clusterId: string): Promise<KeyFollower> {
    const stopping = new AbortController();
    this.#cluster = () => store.view((tx) => tx.clusters.get(clusterId));
    await this.sync();
    const run = async () => {
      while (!stopping.signal.aborted) {
        const watch = store.watch(
          { table: 'clusters', kind: ['create', 'update'] },
          { signal: stopping.signal },
        );
        // What changed before the watch began (a snapshot restored, say) counts too.
        await this.#syncLogged();
        try {
          for await (const _ of watch) await this.#syncLogged();
        } catch (err) {
          if (!(err instanceof WatchLostError)) throw err;
        }
      }
    };
    const running = run().catch((err: unknown) => {
      this.#log.error({ err }, 'stopped following the unlock key');
    });
    return {
      stop: async () => {
        stopping.abort();
        await running;
        await this.#queue;
        this.#cluster = null;
      },
    };
  }

  /** Wraps the DEK as the Cluster object says now; settles once keys.json is written. */
  sync(): Promise<void> {
    const job = this.#queue.then(() => this.#wrapAsTheClusterSays());
    this.#queue = job.catch(() => {});
    return job;
  }

  /** Leaving the swarm: keys.json removed, and the next member starts from nothing. */
  async discard(): Promise<void> {
    this.#dek = undefined;
    this.#wrappedWith = null;
    await removeAtRestKeys(this.#dataDir);
  }

  async #syncLogged(): Promise<void> {
    await this.sync().catch((err: unknown) => {
      this.#log.error(
        { err },
        'could not wrap the data key as the cluster says; retried on its next change',
      );
    });
  }

  async #wrapAsTheClusterSays(): Promise<void> {
    const cluster = this.#cluster?.();
    if (cluster === undefined) return;
    const want = cluster.unlockKey ?? null;
    if (want === this.#wrappedWith) return;
    const dek = this.#dek;
    if (dek === null || dek === undefined) {
      if (want !== null && !this.#warnedPlain) {
        this.#warnedPlain = true;
        this.#log.warn({}, 'autolock is on, but this manager keeps its Raft data plain');
      }
      return;
    }
    await wrapAtRestKeys(this.#dataDir, dek, want);
    this.#wrappedWith = want;
    this.#log.info(
      {},
      want === null
        ? 'autolock off: the data key is wrapped by a key stored beside it'
        : 'the data key is wrapped by the unlock key: a restart needs "orca swarm unlock"',
    );
  }
}

/** A Raft data dir that holds a store (LevelDB's CURRENT file), rather than nothing yet. */
async function holdsData(raftDir: string): Promise<boolean> {
  try {
    return (await readdir(raftDir)).includes('CURRENT');
  } catch {
    return false;
  }
}

type Lockable = { readonly spec: ClusterSpec; readonly unlockKey?: string };

/**
 * The cluster with autolock as asked: on, with a new unlock key (the current one kept when it
 * is on already); off, without one; undefined, unchanged.
 */
export function withAutolock<C extends Lockable>(cluster: C, on: boolean | undefined): C {
  if (on === undefined) return cluster;
  if (on) {
    return {
      ...cluster,
      spec: { ...cluster.spec, autolock: true },
      unlockKey: cluster.unlockKey ?? createUnlockKey(),
    };
  }
  const { unlockKey: _dropped, ...rest } = cluster;
  return { ...rest, spec: { ...cluster.spec, autolock: false } } as C;
}

/** The unlock key of a new cluster: one when it starts with autolock on (`swarm init --autolock`). */
export function initialUnlockKey(autolock: boolean): { unlockKey?: string } {
  return autolock ? { unlockKey: createUnlockKey() } : {};
}

/** `swarm unlock-key --rotate`: a new key; refused while autolock is off, as Docker does. */
export function withNewUnlockKey<C extends Lockable>(cluster: C): C {
  if (cluster.unlockKey === undefined) {
    throw new OrcaError(
      'ORCA_SWARM_NOT_AUTOLOCKED',
      'cannot rotate because autolock is not turned on',
    );
  }
  return { ...cluster, unlockKey: createUnlockKey() };
}

/** `swarm unlock` where there is nothing to unlock: Docker's words. */
export function notLocked(): OrcaError {
  return new OrcaError('ORCA_SWARM_NOT_LOCKED', 'swarm is not locked');
}
