import {
  AlreadyExistsError,
  NameConflictError,
  NotFoundError,
  StoreConflictError,
} from '../errors.ts';
import { MemTable } from './mem-table.ts';
import { type StoredObject, specOf, type TableName } from './schema.ts';

/** One object's fate in a transaction: `after` null is a delete. */
export interface Touched {
  readonly table: TableName;
  readonly id: string;
  readonly before: StoredObject | undefined;
  readonly after: StoredObject | null;
}

/**
 * The writes of one transaction layered over the live tables without changing them: reads see
 * the transaction's own writes, and nothing reaches the live tables until `touched()` is
 * committed by the store. The same class checks a transaction on the proposer (early, to fail
 * without a round trip) and in apply (authoritative, on every member), so both refuse the same
 * things for the same reasons.
 *
 * An object's staged copy keeps the version it was read at, which is what the command carries
 * as the version the write is based on.
 */
export class Pending {
  private readonly live: (table: TableName) => MemTable;
  private readonly staged = new Map<TableName, MemTable>();
  private readonly deleted = new Map<TableName, Set<string>>();
  /** First-touch order across tables: the order of the command's changes and of the events. */
  private readonly order: { table: TableName; id: string }[] = [];
  private readonly seen = new Map<TableName, Set<string>>();

  constructor(live: (table: TableName) => MemTable) {
    this.live = live;
  }

  get size(): number {
    return this.order.length;
  }

  get(table: TableName, id: string): StoredObject | undefined {
    if (this.deleted.get(table)?.has(id) === true) return undefined;
    return this.staged.get(table)?.get(id) ?? this.live(table).get(id);
  }

  /** Objects under `key` in index `by`: live ones this transaction left alone, then staged ones. */
  findBy(table: TableName, by: string, key: string): StoredObject[] {
    const out: StoredObject[] = [];
    const seen = this.seen.get(table);
    const live = this.live(table);
    for (const id of live.idsBy(by, key)) {
      if (seen?.has(id) !== true) out.push(live.get(id)!);
    }
    const staged = this.staged.get(table);
    if (staged !== undefined) for (const id of staged.idsBy(by, key)) out.push(staged.get(id)!);
    return out;
  }

  all(table: TableName): StoredObject[] {
    const out: StoredObject[] = [];
    const seen = this.seen.get(table);
    for (const obj of this.live(table).values()) if (seen?.has(obj.meta.id) !== true) out.push(obj);
    const staged = this.staged.get(table);
    if (staged !== undefined) out.push(...staged.values());
    return out;
  }

  create(table: TableName, obj: StoredObject): void {
    if (this.get(table, obj.meta.id) !== undefined) {
      throw new AlreadyExistsError(specOf(table).noun, table, obj.meta.id);
    }
    this.stage(table, obj);
  }

  /** `obj.meta.version` is the version the write is based on. */
  update(table: TableName, obj: StoredObject): void {
    this.checkVersion(table, obj.meta.id, obj.meta.version);
    this.stage(table, obj);
  }

  delete(table: TableName, id: string, version: number): void {
    this.checkVersion(table, id, version);
    this.touch(table, id);
    this.stagedTable(table).remove(id);
    this.deletedSet(table).add(id);
  }

  /** Every object the transaction changed, in first-touch order; a create then delete is no change. */
  *touched(): Iterable<Touched> {
    for (const { table, id } of this.order) {
      const before = this.live(table).get(id);
      const after =
        this.deleted.get(table)?.has(id) === true ? null : this.staged.get(table)!.get(id)!;
      if (before === undefined && after === null) continue;
      yield { table, id, before, after };
    }
  }

  /**
   * Unique indexes are checked on the transaction's final state, not write by write, so that
   * renaming A away from a name and giving it to B is one valid transaction in either order.
   */
  checkUnique(): void {
    for (const [table, staged] of this.staged) {
      const spec = specOf(table);
      for (const [by, index] of Object.entries(spec.indexes)) {
        if (index.unique !== true) continue;
        for (const obj of staged.values()) {
          const key = index.key(obj);
          if (key === null) continue;
          for (const holder of this.findBy(table, by, key)) {
            if (holder.meta.id !== obj.meta.id) {
              throw new NameConflictError(spec.noun, table, by, key, holder.meta.id);
            }
          }
        }
      }
    }
  }

  private checkVersion(table: TableName, id: string, version: number): void {
    const current = this.get(table, id);
    if (current === undefined) throw new NotFoundError(specOf(table).noun, table, id);
    if (current.meta.version !== version) {
      throw new StoreConflictError(specOf(table).noun, table, id, version, current.meta.version);
    }
  }

  private stage(table: TableName, obj: StoredObject): void {
    this.touch(table, obj.meta.id);
    this.deleted.get(table)?.delete(obj.meta.id);
    this.stagedTable(table).put(obj);
  }

  private touch(table: TableName, id: string): void {
    let ids = this.seen.get(table);
    if (ids === undefined) {
      ids = new Set();
      this.seen.set(table, ids);
    }
    if (ids.has(id)) return;
    ids.add(id);
    this.order.push({ table, id });
  }

  private stagedTable(table: TableName): MemTable {
    let t = this.staged.get(table);
    if (t === undefined) {
      t = new MemTable(specOf(table));
      this.staged.set(table, t);
    }
    return t;
  }

  private deletedSet(table: TableName): Set<string> {
    let s = this.deleted.get(table);
    if (s === undefined) {
      s = new Set();
      this.deleted.set(table, s);
    }
    return s;
  }
}
