import type { Meta } from '../api/objects.ts';
import { OrcaError } from '../errors.ts';
import { frozenCopy } from './freeze.ts';
import type { Pending } from './pending.ts';
import {
  type IndexesOf,
  type IndexName,
  type ObjectOf,
  type StoredObject,
  schema,
  type TableName,
  tableNames,
} from './schema.ts';

/** Where a transaction reads from: the live tables, or the live tables under pending writes. */
export interface ReadSource {
  get(table: TableName, id: string): StoredObject | undefined;
  findBy(table: TableName, by: string, key: string): StoredObject[];
  all(table: TableName): StoredObject[];
}

/** Lists come in no particular order: sort them where order matters. */
export interface TableReader<N extends TableName> {
  get(id: string): ObjectOf<N> | undefined;
  all(): readonly ObjectOf<N>[];
  find(by: IndexName<N>, value: string): readonly ObjectOf<N>[];
}

/** `byName(v)` for each index: one object for a unique index, a list otherwise. */
export type IndexLookups<N extends TableName> = {
  readonly [K in IndexName<N> as `by${Capitalize<K>}`]: IndexesOf<N>[K] extends {
    readonly unique: true;
  }
    ? (value: string) => ObjectOf<N> | undefined
    : (value: string) => readonly ObjectOf<N>[];
};

export type TableRead<N extends TableName> = TableReader<N> & IndexLookups<N>;

/** What a create is given: the object without its meta, which the store fills in. */
export type NewObject<N extends TableName> = Omit<ObjectOf<N>, 'meta'>;

export interface TableWriter<N extends TableName> {
  /** Stages a new object; returns it as it will be stored, at version 0 until applied. */
  create(body: NewObject<N>, opts?: { readonly id?: string }): ObjectOf<N>;
  /** Stages `obj` over the stored object; `obj.meta.version` is the version it was based on. */
  update(obj: ObjectOf<N>): ObjectOf<N>;
  /** Stages the removal of the object as this transaction sees it. */
  delete(id: string): void;
}

export interface Query<N extends TableName> {
  readonly by: IndexName<N>;
  readonly value: string;
}

interface TxReads {
  /** The Raft index of the last command applied to the state this transaction reads. */
  readonly index: number;
  get<N extends TableName>(table: N, id: string): ObjectOf<N> | undefined;
  find<N extends TableName>(table: N, query: Query<N>): readonly ObjectOf<N>[];
  all<N extends TableName>(table: N): readonly ObjectOf<N>[];
}

export type ReadTx = TxReads & { readonly [N in TableName]: TableRead<N> };

export type WriteTx = TxReads & {
  readonly [N in TableName]: TableRead<N> & TableWriter<N>;
};

export interface WriteDeps {
  readonly now: () => Date;
  readonly newId: () => string;
}

export function readTx(source: ReadSource, index: () => number): ReadTx {
  const tx = txReads(source, index);
  for (const table of tableNames) define(tx, table, tableReader(source, table));
  return tx as ReadTx;
}

/**
 * A transaction that stages writes in `pending`. It may be used only while its callback runs:
 * the store closes it after, so a write from a stray callback or timer fails loudly instead of
 * being lost.
 */
export function writeTx(
  pending: Pending,
  index: number,
  deps: WriteDeps,
): { tx: WriteTx; close(): void } {
  let open = true;
  const check = () => {
    if (!open) {
      throw new OrcaError(
        'ORCA_TX_CLOSED',
        'this transaction has ended: its callback must do its writes before returning (no await inside)',
      );
    }
  };
  const tx = txReads(pending, () => index);
  for (const table of tableNames) {
    const reader = tableReader(pending, table);
    define(tx, table, Object.assign(reader, tableWriter(pending, table, deps, check)));
  }
  return {
    tx: tx as WriteTx,
    close() {
      open = false;
    },
  };
}

function txReads(source: ReadSource, index: () => number): TxReads {
  return {
    get index() {
      return index();
    },
    get: (table, id) => source.get(table, id) as never,
    find: (table, query) => Object.freeze(source.findBy(table, query.by, query.value)) as never,
    all: (table) => Object.freeze(source.all(table)) as never,
  };
}

function tableReader(source: ReadSource, table: TableName): Record<string, unknown> {
  const find = (by: string, value: string) => Object.freeze(source.findBy(table, by, value));
  const reader: Record<string, unknown> = {
    get: (id: string) => source.get(table, id),
    all: () => Object.freeze(source.all(table)),
    find,
  };
  for (const [by, spec] of Object.entries(schema[table].indexes)) {
    const name = `by${by[0]!.toUpperCase()}${by.slice(1)}`;
    reader[name] =
      'unique' in spec && spec.unique === true
        ? (value: string) => source.findBy(table, by, value)[0]
        : (value: string) => find(by, value);
  }
  return reader;
}

function tableWriter(
  pending: Pending,
  table: TableName,
  deps: WriteDeps,
  check: () => void,
): Record<string, unknown> {
  return {
    create(body: object, opts?: { readonly id?: string }) {
      check();
      const now = deps.now().toISOString();
      const meta: Meta = {
        id: opts?.id ?? deps.newId(),
        version: 0,
        createdAt: now,
        updatedAt: now,
      };
      const obj = frozenCopy({ ...body, meta } as StoredObject);
      pending.create(table, obj);
      return obj;
    },
    update(obj: StoredObject) {
      check();
      const current = pending.get(table, obj.meta.id);
      // id and createdAt are the store's: a caller's edit of them is ignored, not stored.
      const meta: Meta = {
        id: obj.meta.id,
        version: obj.meta.version,
        createdAt: current?.meta.createdAt ?? obj.meta.createdAt,
        updatedAt: deps.now().toISOString(),
      };
      const copy = frozenCopy({ ...obj, meta });
      pending.update(table, copy);
      return copy;
    },
    delete(id: string) {
      check();
      const current = pending.get(table, id);
      pending.delete(table, id, current?.meta.version ?? 0);
    },
  };
}

function define(target: object, name: string, value: unknown): void {
  Object.defineProperty(target, name, { value, enumerable: true });
}
