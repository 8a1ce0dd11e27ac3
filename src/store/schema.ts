import type { Cluster, Meta, Network, Node, Service, Task } from '../api/objects.ts';

/** Anything a table holds: identified and versioned by its meta. */
export interface StoredObject {
  readonly meta: Meta;
}

export interface IndexSpec<T> {
  /** The object's key in this index; null leaves it out of the index. */
  readonly key: (obj: T) => string | null;
  /** At most one object per key: a write that would break this is refused. */
  readonly unique?: boolean;
}

export interface TableSpec<T extends StoredObject, I extends Record<string, IndexSpec<T>>> {
  /** Singular, for messages: "service abc123 not found". */
  readonly noun: string;
  readonly indexes: I;
  /** Only for typing: never read. */
  readonly __object?: T;
}

/**
 * Curried so that the object type is given and the indexes are inferred with their literal
 * `unique: true`, which decides whether `byName` returns one object or a list.
 */
function table<T extends StoredObject>() {
  return <const I extends Record<string, IndexSpec<T>>>(spec: {
    noun: string;
    indexes: I;
  }): TableSpec<T, I> => spec;
}

/**
 * Every table of the store and its indexes. Adding a table (secrets, configs, networks) is one
 * entry here: reads, writes, commands, watches and snapshots are derived from this record.
 */
export const schema = {
  clusters: table<Cluster>()({
    noun: 'cluster',
    indexes: { name: { key: (c) => c.spec.name, unique: true } },
  }),
  nodes: table<Node>()({
    noun: 'node',
    // Two hosts may share a hostname (clones of one image): not unique, as in Swarm.
    indexes: { hostname: { key: (n) => n.description.hostname } },
  }),
  services: table<Service>()({
    noun: 'service',
    indexes: { name: { key: (s) => s.spec.name, unique: true } },
  }),
  tasks: table<Task>()({
    noun: 'task',
    indexes: {
      service: { key: (t) => t.serviceId },
      // Unassigned tasks sit under '' so the scheduler finds its work with byNode('').
      node: { key: (t) => t.nodeId },
      desiredState: { key: (t) => t.desiredState },
    },
  }),
  networks: table<Network>()({
    noun: 'network',
    indexes: { name: { key: (n) => n.spec.name, unique: true } },
  }),
};

export type Schema = typeof schema;
export type TableName = keyof Schema;
export const tableNames = Object.keys(schema) as TableName[];

export type ObjectOf<N extends TableName> = NonNullable<Schema[N]['__object']>;
export type IndexesOf<N extends TableName> = Schema[N]['indexes'];
export type IndexName<N extends TableName> = keyof IndexesOf<N> & string;

export function isTableName(name: unknown): name is TableName {
  return typeof name === 'string' && Object.hasOwn(schema, name);
}

/** The spec of a table with its object type erased, for the code that handles every table alike. */
export function specOf(
  name: TableName,
): TableSpec<StoredObject, Record<string, IndexSpec<StoredObject>>> {
  return schema[name] as unknown as TableSpec<
    StoredObject,
    Record<string, IndexSpec<StoredObject>>
  >;
}
