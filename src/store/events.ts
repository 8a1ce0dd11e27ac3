import type { ObjectOf, TableName } from './schema.ts';

export type ChangeKind = 'create' | 'update' | 'delete';

/** One object's change, delivered after the command that made it is applied. */
export type ObjectEvent = {
  [N in TableName]:
    | {
        readonly kind: 'create';
        readonly table: N;
        readonly object: ObjectOf<N>;
        readonly index: number;
      }
    | {
        readonly kind: 'update';
        readonly table: N;
        readonly object: ObjectOf<N>;
        readonly previous: ObjectOf<N>;
        readonly index: number;
      }
    | {
        /** `object` is the object as it was last stored. */
        readonly kind: 'delete';
        readonly table: N;
        readonly object: ObjectOf<N>;
        readonly index: number;
      };
}[TableName];

/**
 * Ends the events of one applied command: a reconcile loop marks objects dirty on the object
 * events and reconciles once per commit, as swarmkit's loops do.
 */
export interface CommitEvent {
  readonly kind: 'commit';
  readonly index: number;
}

export type StoreEvent = ObjectEvent | CommitEvent;

export interface WatchFilter {
  /** Only these tables' object events (default: every table). */
  readonly table?: TableName | readonly TableName[];
  /**
   * Only these kinds (default: create, update and delete). 'commit' must be asked for; it is
   * delivered after every applied command that changed at least one object of the tables.
   */
  readonly kind?: StoreEvent['kind'] | readonly StoreEvent['kind'][];
}

/** A filter compiled once into a predicate over object events and a flag for commits. */
export interface CompiledFilter {
  /** The event is of a watched table. */
  concerns(e: ObjectEvent): boolean;
  /** The event is of a watched table and kind. */
  matches(e: ObjectEvent): boolean;
  readonly commits: boolean;
}

export function compileFilter(filter: WatchFilter = {}): CompiledFilter {
  const tables = toSet(filter.table);
  const kinds = toSet(filter.kind) ?? new Set(['create', 'update', 'delete']);
  const concerns = (e: ObjectEvent) => tables === null || tables.has(e.table);
  return {
    concerns,
    matches: (e) => kinds.has(e.kind) && concerns(e),
    commits: kinds.has('commit'),
  };
}

function toSet<T extends string>(v: T | readonly T[] | undefined): Set<string> | null {
  if (v === undefined) return null;
  return new Set(typeof v === 'string' ? [v] : v);
}
