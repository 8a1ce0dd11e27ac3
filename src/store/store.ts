import { BatchIncompleteError, StoreFormatError, TransactionTooLargeError } from '../errors.ts';
import type { StateMachine } from '../raft/node.ts';
import {
  type Change,
  changeBytes,
  changesOf,
  checkChange,
  decodeCommand,
  encodeCommand,
  type StoreCommand,
} from './commands.ts';
import { compileFilter, type ObjectEvent, type StoreEvent, type WatchFilter } from './events.ts';
import { deepFreeze } from './freeze.ts';
import { newId } from './ids.ts';
import { MemTable } from './mem-table.ts';
import { Pending } from './pending.ts';
import type { Proposer } from './proposer.ts';
import { isTableName, type StoredObject, specOf, type TableName, tableNames } from './schema.ts';
import { decodeSnapshot, encodeSnapshot, type SnapshotDocument } from './snapshot.ts';
import { type ReadSource, type ReadTx, readTx, type WriteTx, writeTx } from './transaction.ts';
import { type Listener, select, Watch } from './watch.ts';

export interface StoreOptions {
  /**
   * Where transactions go: the RaftNode whose machine this store is. null applies each
   * transaction here at once, at the next index: for tests and tools with no cluster.
   */
  readonly proposer: Proposer | null;
  /** Stamps createdAt/updatedAt on the proposer side (apply never reads a clock). */
  readonly now?: () => Date;
  readonly newId?: () => string;
  /** Events a watch may fall behind before it is closed with WatchLostError (default 10 000). */
  readonly watchLimit?: number;
  /** Bounds on one log entry: update() refuses more, batch() splits at them. */
  readonly maxChangesPerCommand?: number;
  readonly maxCommandBytes?: number;
}

/** What apply returns to the proposer: the command's index and how many objects it changed. */
export interface ApplyResult {
  readonly index: number;
  readonly changes: number;
}

export interface Committed<R> {
  /** What the transaction's callback returned. */
  readonly value: R;
  /** The index the transaction was applied at (the current index if it changed nothing). */
  readonly index: number;
}

export interface BatchResult {
  readonly changes: number;
  readonly commands: number;
  readonly index: number;
}

export interface WatchOptions {
  /** Ends the watch (its iteration finishes normally) when aborted. */
  readonly signal?: AbortSignal;
}

export interface ViewAndWatch<R> {
  readonly value: R;
  /** The index of the view: every event of the watch has a greater one. */
  readonly index: number;
  readonly watch: Watch;
}

const defaults = {
  watchLimit: 10_000,
  maxChangesPerCommand: 1_000,
  // Half of a Raft append (1 MiB), so an entry never travels alone for being too large.
  maxCommandBytes: 512 * 1024,
};

/**
 * The replicated cluster state, after swarmkit's memdb store: typed tables with indexes, read
 * in synchronous views, written in transactions that become one Raft command each, applied
 * identically on every manager, and watched as a stream of events.
 *
 * Reads and transaction callbacks are synchronous on purpose: apply runs on the same thread,
 * so a callback sees one consistent state without locks or copies.
 */
export class Store implements StateMachine {
  private readonly proposer: Proposer | null;
  private readonly now: () => Date;
  private readonly newId: () => string;
  private readonly watchLimit: number;
  private readonly maxChanges: number;
  private readonly maxBytes: number;
  private tables = emptyTables();
  private applied = 0;
  private readonly listeners = new Set<Listener>();
  private readonly source: ReadSource;
  private readonly liveTx: ReadTx;

  constructor(opts: StoreOptions) {
    this.proposer = opts.proposer;
    this.now = opts.now ?? (() => new Date());
    this.newId = opts.newId ?? newId;
    this.watchLimit = opts.watchLimit ?? defaults.watchLimit;
    this.maxChanges = opts.maxChangesPerCommand ?? defaults.maxChangesPerCommand;
    this.maxBytes = opts.maxCommandBytes ?? defaults.maxCommandBytes;
    this.source = {
      get: (table, id) => this.table(table).get(id),
      findBy: (table, by, key) => {
        const t = this.table(table);
        return Array.from(t.idsBy(by, key), (id) => t.get(id)!);
      },
      all: (table) => [...this.table(table).values()],
    };
    this.liveTx = readTx(this.source, () => this.applied);
  }

  /** The index of the last command applied: the version of the state that views read. */
  get index(): number {
    return this.applied;
  }

  /** Runs `fn` on the current state. Objects are frozen and must not be kept across awaits as "current". */
  view<R>(fn: (tx: ReadTx) => R): R {
    return synchronous('view', fn(this.liveTx));
  }

  /**
   * Runs `fn` against a copy-on-write view of the state (it reads its own writes) and proposes
   * its writes as one command, applied atomically on every member or not at all. Settles once
   * applied here; rejects with StoreConflictError if an object changed since it was read.
   */
  async update<R>(fn: (tx: WriteTx) => R): Promise<Committed<R>> {
    const { value, changes } = this.collect(fn);
    if (changes.length === 0) return { value, index: this.applied };
    const command = encodeCommand({ type: 'transaction', changes });
    if (changes.length > this.maxChanges || command.length > this.maxBytes) {
      throw new TransactionTooLargeError(
        changes.length,
        command.length,
        this.maxChanges,
        this.maxBytes,
      );
    }
    const result = await this.propose(command);
    return { value, index: result.index };
  }

  /**
   * As update(), for writes too large for one log entry (creating thousands of tasks): the
   * changes are split into commands of bounded size, proposed in order, each atomic on its own.
   * Every object appears in one command only, so the split never orders two writes of one
   * object; a batch is for many independent changes.
   */
  async batch(fn: (tx: WriteTx) => void): Promise<BatchResult> {
    const { changes } = this.collect(fn);
    let done = 0;
    let commands = 0;
    let index = this.applied;
    try {
      for (const command of this.commands(changes)) {
        const result = await this.propose(command.bytes);
        done += command.changes.length;
        commands++;
        index = result.index;
      }
    } catch (err) {
      throw new BatchIncompleteError(done, changes.length, err);
    }
    return { changes: changes.length, commands, index };
  }

  /**
   * Events of every command applied from now on, in apply order. The watch closes with
   * WatchLostError if its consumer falls `watchLimit` events behind, or if the store is
   * restored from a snapshot: the consumer then reads the state again.
   */
  watch(filter?: WatchFilter, opts: WatchOptions = {}): Watch {
    const watch = new Watch(
      compileFilter(filter),
      this.watchLimit,
      () => this.listeners.delete(watch),
      opts.signal,
    );
    if (opts.signal?.aborted !== true) this.listeners.add(watch);
    return watch;
  }

  /**
   * Calls `fn` for each event synchronously at the end of apply. `fn` must be quick and must
   * not throw: a throw is rethrown outside apply (apply itself completes). Returns unsubscribe.
   */
  subscribe(fn: (e: StoreEvent) => void, filter?: WatchFilter): () => void {
    const listener: Listener = {
      filter: compileFilter(filter),
      deliver(events) {
        for (const e of events) {
          try {
            fn(e);
          } catch (err) {
            queueMicrotask(() => {
              throw err;
            });
          }
        }
      },
      lose: () => this.listeners.delete(listener),
    };
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * A view and a watch taken at the same point: the watch holds exactly the events after the
   * state the view saw, no gap and no overlap. How a reconcile loop starts.
   */
  viewAndWatch<R>(
    fn: (tx: ReadTx) => R,
    filter?: WatchFilter,
    opts: WatchOptions = {},
  ): ViewAndWatch<R> {
    const watch = this.watch(filter, opts);
    try {
      return { value: this.view(fn), index: this.applied, watch };
    } catch (err) {
      watch.end();
      throw err;
    }
  }

  // ---- StateMachine ---------------------------------------------------------------------------

  /**
   * Applies one command on this member. Deterministic: the same commands at the same indexes
   * give the same state on every member (no clock, no randomness, no iteration over anything
   * unordered). A refused command changes nothing and throws; the throw reaches the proposer.
   */
  apply(command: Uint8Array, index: number): ApplyResult {
    try {
      const cmd: StoreCommand = decodeCommand(command);
      switch (cmd.type) {
        case 'transaction':
          return this.applyTransaction(cmd.changes, index);
        default: {
          const unknown: never = cmd.type;
          throw new StoreFormatError(
            `unknown store command '${String(unknown)}': written by a newer orca?`,
          );
        }
      }
    } finally {
      // A refused command still takes its index: every member refuses it alike.
      this.applied = index;
    }
  }

  snapshot(): Uint8Array {
    const tables: Partial<Record<TableName, StoredObject[]>> = {};
    for (const name of tableNames) {
      // Sorted by id so that equal states give equal bytes, whatever order they were built in.
      tables[name] = [...this.table(name).values()].sort((a, b) =>
        a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0,
      );
    }
    return encodeSnapshot({ version: 1, index: this.applied, tables });
  }

  restore(data: Uint8Array): void {
    const doc: SnapshotDocument =
      data.length === 0 ? { version: 1, index: 0, tables: {} } : decodeSnapshot(data);
    const tables = emptyTables();
    for (const [name, objects] of Object.entries(doc.tables)) {
      if (!isTableName(name)) {
        throw new StoreFormatError(`the store snapshot has table '${name}', unknown to this orca`);
      }
      const table = tables.get(name)!;
      for (const obj of objects ?? []) table.put(deepFreeze(obj));
    }
    this.tables = tables;
    this.applied = doc.index;
    for (const l of [...this.listeners]) l.lose('the store was replaced by a snapshot');
  }

  // ---- inside -------------------------------------------------------------------------------

  private table(name: TableName): MemTable {
    return this.tables.get(name)!;
  }

  private collect<R>(fn: (tx: WriteTx) => R): { value: R; changes: Change[] } {
    const pending = new Pending((t) => this.table(t));
    const { tx, close } = writeTx(pending, this.applied, { now: this.now, newId: this.newId });
    let value: R;
    try {
      value = synchronous('update', fn(tx));
    } finally {
      close();
    }
    pending.checkUnique();
    return { value, changes: changesOf(pending.touched()) };
  }

  /** The encoded commands of a batch: one when it fits, as most do, encoded only once. */
  private *commands(
    changes: readonly Change[],
  ): Iterable<{ bytes: Uint8Array; changes: readonly Change[] }> {
    if (changes.length === 0) return;
    if (changes.length <= this.maxChanges) {
      const bytes = encodeCommand({ type: 'transaction', changes });
      if (bytes.length <= this.maxBytes) {
        yield { bytes, changes };
        return;
      }
    }
    for (const chunk of this.chunks(changes)) {
      yield { bytes: encodeCommand({ type: 'transaction', changes: chunk }), changes: chunk };
    }
  }

  private *chunks(changes: readonly Change[]): Iterable<Change[]> {
    let chunk: Change[] = [];
    // The envelope {"type":"transaction","changes":[...]} and the commas between changes.
    let bytes = 40;
    for (const change of changes) {
      const size = changeBytes(change) + 1;
      if (chunk.length > 0 && (chunk.length >= this.maxChanges || bytes + size > this.maxBytes)) {
        yield chunk;
        chunk = [];
        bytes = 40;
      }
      chunk.push(change);
      bytes += size;
    }
    if (chunk.length > 0) yield chunk;
  }

  private async propose(command: Uint8Array): Promise<ApplyResult> {
    if (this.proposer === null) return this.apply(command, this.applied + 1);
    return (await this.proposer.propose(command)) as ApplyResult;
  }

  private applyTransaction(changes: readonly Change[], index: number): ApplyResult {
    // Every check runs against a staged copy first, so a refused command leaves nothing behind.
    const pending = new Pending((t) => this.table(t));
    for (const change of changes) {
      checkChange(change);
      switch (change.type) {
        case 'create':
          pending.create(change.table, change.object);
          break;
        case 'update':
          pending.update(change.table, change.object);
          break;
        case 'delete':
          pending.delete(change.table, change.id, change.version);
          break;
        default: {
          const unknown: never = change;
          throw new StoreFormatError(
            `unknown change '${String((unknown as { type: unknown }).type)}' in a store command`,
          );
        }
      }
    }
    pending.checkUnique();

    const events: ObjectEvent[] = [];
    for (const { table, id, before, after } of [...pending.touched()]) {
      const live = this.table(table);
      if (after === null) {
        live.remove(id);
        events.push({ kind: 'delete', table, object: before, index } as ObjectEvent);
        continue;
      }
      const stored = deepFreeze({
        ...after,
        meta: {
          ...after.meta,
          version: index,
          createdAt: before?.meta.createdAt ?? after.meta.createdAt,
        },
      });
      live.put(stored);
      events.push(
        (before === undefined
          ? { kind: 'create', table, object: stored, index }
          : { kind: 'update', table, object: stored, previous: before, index }) as ObjectEvent,
      );
    }
    this.applied = index;
    this.publish(events, index);
    return { index, changes: events.length };
  }

  private publish(events: readonly ObjectEvent[], index: number): void {
    if (events.length === 0) return;
    for (const l of [...this.listeners]) {
      const selected = select(l.filter, events, index);
      if (selected.length > 0) l.deliver(selected);
    }
  }
}

function emptyTables(): Map<TableName, MemTable> {
  return new Map(tableNames.map((name) => [name, new MemTable(specOf(name))]));
}

/** A callback that returns a promise would write after its transaction ended: refuse it. */
function synchronous<R>(what: string, value: R): R {
  if (typeof (value as { then?: unknown } | null)?.then === 'function') {
    throw new TypeError(
      `store.${what}() takes a synchronous callback; do the awaiting before or after it`,
    );
  }
  return value;
}
