// The Raft log, hard state and latest snapshot of one member, in LevelDB.
//
// Every change is one LevelDB batch written with sync, so a crash leaves either all of a Ready
// or none of it. The in-memory bounds of the log (snapshot index, last index) let a save compute
// the keys to delete without reading: LevelDB has no atomic range delete inside a batch.
//
// A data dir that does not look exactly as orca left it is refused, never repaired: a member
// that forgets a vote or an acknowledged entry can break the safety of the whole cluster.
//
// With a cipher, entry and snapshot values are sealed (value-cipher.ts); the identity record
// says so, and the hard state (term, vote, commit index: nothing of the cluster's data) stays
// plain. A store is encrypted or not for its whole life.

import { mkdir } from 'node:fs/promises';
import { Level } from 'level';
import { DataDirError } from '../errors.ts';
import {
  CodecError,
  decodeEntry,
  decodeEntryKey,
  decodeHardState,
  decodeSnapshot,
  ENTRY_KEY_BYTES,
  ENTRY_KEY_PREFIX,
  encodeHardState,
  encodeSnapshot,
  entryKey,
  entryValueBytes,
  writeEntryKey,
  writeEntryValue,
} from './codec.ts';
import type { Entry, HardState, Snapshot } from './types.ts';
import { type ValueCipher, ValueCipherError } from './value-cipher.ts';

export interface StorageOptions {
  /** Seal entry and snapshot values: the store is created encrypted, and must be opened so. */
  readonly cipher?: ValueCipher;
}

/** Values as stored, either way: the identity functions when the store is not encrypted. */
interface Sealing {
  seal(plain: Buffer): Buffer;
  open(stored: Buffer): Buffer;
}

const plain: Sealing = { seal: (b) => b, open: (b) => b };

export interface StorageIdentity {
  readonly clusterId: string;
  readonly nodeId: string;
}

export interface StoredState {
  readonly hardState: HardState;
  readonly snapshot: Snapshot | null;
  /** The log after the snapshot, in index order. */
  readonly entries: Entry[];
}

export interface SaveBatch {
  readonly hardState?: HardState | null;
  readonly entries?: readonly Entry[];
  readonly snapshot?: Snapshot | null;
  /**
   * Defaults to true. Only a batch that changes nothing but the commit index may skip the
   * fsync: Raft does not need the commit index to be durable (a restarted member relearns it).
   */
  readonly sync?: boolean;
}

/** The hard state of a member that has never voted nor seen an entry. */
export const initialHardState: HardState = { term: 0, vote: null, commit: 0 };

/** Version of the layout of the whole store; bumped when an older orca could misread it. */
const FORMAT_VERSION = 1;

const KEY_IDENTITY = Buffer.from('i');
const KEY_HARD_STATE = Buffer.from('h');
const KEY_SNAPSHOT = Buffer.from('s');
const ENTRY_RANGE = {
  gt: Buffer.from([ENTRY_KEY_PREFIX]),
  lt: Buffer.from([ENTRY_KEY_PREFIX + 1]),
};

const SYNC = { sync: true };
const NO_SYNC = { sync: false };

type Db = Level<Buffer, Buffer>;

type Op =
  | { type: 'put'; key: Buffer; value: Buffer }
  | { type: 'del'; key: Buffer; value?: undefined };

export class RaftStorage {
  readonly dir: string;
  /** True when this open created the store: there is no earlier state to load. */
  readonly isNew: boolean;

  readonly #db: Db;
  readonly #sealing: Sealing;
  #snapshotIndex = 0;
  #snapshotTerm = 0;
  /** The last index in the log, or the snapshot index when the log after it is empty. */
  #lastIndex = 0;
  /** What open() read while checking the store, handed to the first load() to avoid a re-read. */
  #opened: StoredState | null;
  #tail: Promise<unknown> = Promise.resolve();
  #failed: Error | null = null;
  #closed = false;

  private constructor(dir: string, db: Db, sealing: Sealing, isNew: boolean, state: StoredState) {
    this.dir = dir;
    this.#db = db;
    this.#sealing = sealing;
    this.isNew = isNew;
    this.#opened = state;
    this.#snapshotIndex = state.snapshot?.meta.index ?? 0;
    this.#snapshotTerm = state.snapshot?.meta.term ?? 0;
    this.#lastIndex = state.entries.at(-1)?.index ?? this.#snapshotIndex;
  }

  static async open(
    dir: string,
    identity: StorageIdentity,
    opts: StorageOptions = {},
  ): Promise<RaftStorage> {
    try {
      await mkdir(dir, { recursive: true });
    } catch (err) {
      throw new DataDirError(`cannot create the data dir ${dir}: ${messageOf(err)}`, {
        cause: err,
      });
    }
    const db: Db = new Level<Buffer, Buffer>(dir, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
    });
    try {
      await db.open();
    } catch (err) {
      throw openError(dir, err);
    }
    try {
      const encrypted = opts.cipher !== undefined;
      const isNew = await checkIdentity(db, dir, identity, encrypted);
      const sealing = opts.cipher === undefined ? plain : sealingWith(opts.cipher, dir);
      const state = await readState(db, dir, sealing);
      return new RaftStorage(dir, db, sealing, isNew, state);
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
  }

  /** Index of the first entry the log can hold: the one after the snapshot. */
  get firstIndex(): number {
    return this.#snapshotIndex + 1;
  }

  /** Index of the last stored entry, or of the snapshot when no entry follows it. */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** Everything stored: the hard state, the latest snapshot and the log after it. */
  load(): Promise<StoredState> {
    return this.#serially(async () => {
      const opened = this.#opened;
      if (opened !== null) {
        this.#opened = null;
        return opened;
      }
      return readState(this.#db, this.dir, this.#sealing);
    });
  }

  /**
   * Persists one Ready in one synced batch. A snapshot replaces the previous one and the log up
   * to its index; entries are appended after deleting any stored entry from entries[0].index on.
   */
  save(batch: SaveBatch): Promise<void> {
    return this.#serially(() => this.#save(batch));
  }

  /** The state machine has snapshotted at snapshot.meta.index: drop the log up to there. */
  compact(snapshot: Snapshot): Promise<void> {
    return this.#serially(() => this.#compact(snapshot));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#tail;
    await this.#db.close();
  }

  // Writes run one after another so that the in-memory bounds each one starts from are those
  // the previous one left, and so that LevelDB applies them in call order.
  #serially<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('raft storage is closed'));
    const run = this.#tail.then(() => {
      if (this.#failed !== null) {
        throw new DataDirError(
          `an earlier write to the raft store in ${this.dir} failed (${this.#failed.message}); restart this member`,
          { cause: this.#failed },
        );
      }
      return fn();
    });
    this.#tail = run.catch(() => {});
    return run;
  }

  async #save(batch: SaveBatch): Promise<void> {
    const hardState = batch.hardState ?? null;
    const snapshot = batch.snapshot ?? null;
    const entries = batch.entries ?? [];
    if (hardState === null && snapshot === null && entries.length === 0) return;

    const ops: Op[] = [];
    let snapshotIndex = this.#snapshotIndex;
    let snapshotTerm = this.#snapshotTerm;
    let lastIndex = this.#lastIndex;

    if (hardState !== null) {
      ops.push({ type: 'put', key: KEY_HARD_STATE, value: encodeHardState(hardState) });
    }

    if (snapshot !== null) {
      const { index, term } = snapshot.meta;
      if (index <= snapshotIndex) {
        throw new Error(
          `snapshot at ${index} is not newer than the stored one at ${snapshotIndex}`,
        );
      }
      // The entries after the snapshot may stay only if the log agrees with it at its index:
      // otherwise they follow an entry the leader does not have, and must not survive a restart.
      let keepTail = false;
      if (lastIndex > index) {
        const stored = await this.#db.get(entryKey(index));
        keepTail = stored !== undefined && decodeEntry(this.#sealing.open(stored)).term === term;
      }
      const deleteTo = keepTail ? index : lastIndex;
      for (let i = snapshotIndex + 1; i <= deleteTo; i++) {
        ops.push({ type: 'del', key: entryKey(i) });
      }
      ops.push({
        type: 'put',
        key: KEY_SNAPSHOT,
        value: this.#sealing.seal(Buffer.from(encodeSnapshot(snapshot))),
      });
      snapshotIndex = index;
      snapshotTerm = term;
      if (!keepTail) lastIndex = index;
    }

    if (entries.length > 0) {
      const first = entries[0]!.index;
      if (first <= snapshotIndex) {
        throw new Error(`entry ${first} is already covered by the snapshot at ${snapshotIndex}`);
      }
      if (first > lastIndex + 1) {
        throw new Error(`entry ${first} would leave a gap after the last index ${lastIndex}`);
      }
      const newLast = first + entries.length - 1;
      // Stored entries up to newLast are overwritten by the puts below; only those after the
      // new tail need an explicit delete.
      for (let i = newLast + 1; i <= lastIndex; i++) {
        ops.push({ type: 'del', key: entryKey(i) });
      }
      // One buffer for every key and value of the batch: LevelDB copies them into its own
      // write batch, so views into a single allocation are enough.
      let bytes = 0;
      for (const e of entries) bytes += ENTRY_KEY_BYTES + entryValueBytes(e);
      const buf = Buffer.allocUnsafe(bytes);
      let off = 0;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (e.index !== first + i) {
          throw new Error(`entries are not contiguous: ${e.index} follows ${first + i - 1}`);
        }
        writeEntryKey(buf, off, e.index);
        const key = buf.subarray(off, off + ENTRY_KEY_BYTES);
        off += ENTRY_KEY_BYTES;
        const len = writeEntryValue(buf, off, e);
        ops.push({ type: 'put', key, value: this.#sealing.seal(buf.subarray(off, off + len)) });
        off += len;
      }
      lastIndex = newLast;
    }

    await this.#write(ops, batch.sync ?? true);
    this.#opened = null;
    this.#snapshotIndex = snapshotIndex;
    this.#snapshotTerm = snapshotTerm;
    this.#lastIndex = lastIndex;
  }

  async #compact(snapshot: Snapshot): Promise<void> {
    const { index, term } = snapshot.meta;
    if (index <= this.#snapshotIndex) return;
    if (index > this.#lastIndex) {
      throw new Error(`cannot compact to ${index}: the log ends at ${this.#lastIndex}`);
    }
    const stored = await this.#db.get(entryKey(index));
    const storedTerm =
      stored === undefined ? undefined : decodeEntry(this.#sealing.open(stored)).term;
    if (storedTerm !== term) {
      throw new Error(
        `snapshot at ${index} has term ${term} but the log has term ${storedTerm} there`,
      );
    }
    const ops: Op[] = [];
    for (let i = this.#snapshotIndex + 1; i <= index; i++) {
      ops.push({ type: 'del', key: entryKey(i) });
    }
    ops.push({
      type: 'put',
      key: KEY_SNAPSHOT,
      value: this.#sealing.seal(Buffer.from(encodeSnapshot(snapshot))),
    });
    await this.#write(ops);
    this.#opened = null;
    this.#snapshotIndex = index;
    this.#snapshotTerm = term;
  }

  async #write(ops: Op[], sync = true): Promise<void> {
    try {
      await this.#db.batch(ops, sync ? SYNC : NO_SYNC);
    } catch (err) {
      // Whether LevelDB kept part of it or none, the in-memory bounds can no longer be trusted.
      this.#failed = err instanceof Error ? err : new Error(String(err));
      throw new DataDirError(
        `writing the raft store in ${this.dir} failed: ${messageOf(err)}; restart this member`,
        { cause: err },
      );
    }
  }
}

function messageOf(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return err.message + cause;
  }
  return String(err);
}

function openError(dir: string, err: unknown): DataDirError {
  const text = messageOf(err);
  let hint: string;
  if (/lock/i.test(text)) {
    hint = 'is another orca already running with the same --data-dir?';
  } else if (/corrupt/i.test(text)) {
    hint = 'the store looks corrupt; restore this member from a backup or remove it and rejoin';
  } else {
    hint = 'check that the --data-dir is writable and that no other orca uses it';
  }
  return new DataDirError(`cannot open the raft store in ${dir}: ${text}; ${hint}`, {
    cause: err,
  });
}

function corrupt(dir: string, what: string, cause?: unknown): DataDirError {
  return new DataDirError(
    `the raft store in ${dir} is corrupt: ${what}; orca will not repair it: restore this member from a backup, or remove the data dir and let it rejoin the cluster`,
    cause === undefined ? undefined : { cause },
  );
}

interface IdentityRecord {
  format: number;
  clusterId: string;
  nodeId: string;
  /** Entry and snapshot values are sealed; absent in stores written before encryption. */
  encrypted?: boolean;
}

/** Returns true when the store was empty and has just been stamped with `identity`. */
async function checkIdentity(
  db: Db,
  dir: string,
  identity: StorageIdentity,
  encrypted: boolean,
): Promise<boolean> {
  const raw = await db.get(KEY_IDENTITY);
  if (raw === undefined) {
    for await (const _ of db.keys({ limit: 1 })) {
      throw corrupt(dir, 'it holds Raft state but no identity record');
    }
    const record: IdentityRecord = {
      format: FORMAT_VERSION,
      clusterId: identity.clusterId,
      nodeId: identity.nodeId,
      encrypted,
    };
    await db.put(KEY_IDENTITY, Buffer.from(JSON.stringify(record)), SYNC);
    return true;
  }

  let record: IdentityRecord;
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      typeof (parsed as IdentityRecord).format !== 'number' ||
      typeof (parsed as IdentityRecord).clusterId !== 'string' ||
      typeof (parsed as IdentityRecord).nodeId !== 'string'
    ) {
      throw new Error('missing format, clusterId or nodeId');
    }
    record = parsed as IdentityRecord;
  } catch (err) {
    throw corrupt(dir, `the identity record cannot be decoded (${messageOf(err)})`, err);
  }
  if (record.format !== FORMAT_VERSION) {
    throw new DataDirError(
      `the raft store in ${dir} has format version ${record.format}, but this orca reads only version ${FORMAT_VERSION}: was it written by another orca release? Run that release, or use another --data-dir`,
    );
  }
  if (record.clusterId !== identity.clusterId || record.nodeId !== identity.nodeId) {
    throw new DataDirError(
      `the data dir ${dir} belongs to node ${record.nodeId} of cluster ${record.clusterId}, but this is node ${identity.nodeId} of cluster ${identity.clusterId}: use another --data-dir, or remove ${dir} if its contents are no longer needed`,
    );
  }
  if ((record.encrypted ?? false) !== encrypted) {
    throw new DataDirError(
      record.encrypted
        ? `the raft store in ${dir} is encrypted, and no key was given to open it`
        : `the raft store in ${dir} is not encrypted, but it was opened with a key`,
    );
  }
  return false;
}

/** Reads the whole state and refuses it unless it is consistent. */
async function readState(db: Db, dir: string, sealing: Sealing): Promise<StoredState> {
  const [rawHardState, rawSnapshot] = await db.getMany([KEY_HARD_STATE, KEY_SNAPSHOT]);
  let hardState = initialHardState;
  if (rawHardState !== undefined) {
    try {
      hardState = decodeHardState(rawHardState);
    } catch (err) {
      throw corrupt(dir, `the hard state cannot be decoded (${messageOf(err)})`, err);
    }
  }
  let snapshot: Snapshot | null = null;
  if (rawSnapshot !== undefined) {
    const opened = sealing.open(rawSnapshot);
    try {
      snapshot = decodeSnapshot(opened);
    } catch (err) {
      throw corrupt(dir, `the snapshot cannot be decoded (${messageOf(err)})`, err);
    }
  }
  const snapshotIndex = snapshot?.meta.index ?? 0;
  const snapshotTerm = snapshot?.meta.term ?? 0;

  const entries: Entry[] = [];
  let expected = snapshotIndex + 1;
  let prevTerm = snapshotTerm;
  for await (const [key, value] of db.iterator(ENTRY_RANGE)) {
    let keyIndex: number;
    let entry: Entry;
    try {
      keyIndex = decodeEntryKey(key);
      entry = decodeEntry(sealing.open(value));
    } catch (err) {
      if (!(err instanceof CodecError)) throw err;
      throw corrupt(
        dir,
        `the log entry under key ${key.toString('hex')} cannot be decoded (${err.message})`,
        err,
      );
    }
    if (entry.index !== keyIndex) {
      throw corrupt(
        dir,
        `the log entry stored under index ${keyIndex} says it is entry ${entry.index}`,
      );
    }
    if (keyIndex <= snapshotIndex) {
      throw corrupt(dir, `log entry ${keyIndex} is older than the snapshot at ${snapshotIndex}`);
    }
    if (keyIndex !== expected) {
      throw corrupt(
        dir,
        `the log has a gap: entries ${expected} to ${keyIndex - 1} are missing before entry ${keyIndex}`,
      );
    }
    if (entry.term < prevTerm) {
      throw corrupt(
        dir,
        `log entry ${keyIndex} has term ${entry.term}, lower than ${prevTerm} before it`,
      );
    }
    entries.push(entry);
    expected++;
    prevTerm = entry.term;
  }
  const lastIndex = expected - 1;
  if (hardState.commit > lastIndex) {
    throw corrupt(
      dir,
      `the commit index ${hardState.commit} is past the end of the log at ${lastIndex}`,
    );
  }
  return { hardState, snapshot, entries };
}

/** A cipher as the store uses it: a value that does not open is a corrupt (or foreign) store. */
function sealingWith(cipher: ValueCipher, dir: string): Sealing {
  return {
    seal: (b) => cipher.seal(b),
    open: (b) => {
      try {
        return cipher.open(b);
      } catch (err) {
        if (!(err instanceof ValueCipherError)) throw err;
        throw corrupt(dir, `a value does not decrypt with the store's key (${err.message})`, err);
      }
    },
  };
}
