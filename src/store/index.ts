// The store's public surface: what the manager's parts import.
export type { Change, StoreCommand } from './commands.ts';
export type { ChangeKind, CommitEvent, ObjectEvent, StoreEvent, WatchFilter } from './events.ts';
export { newId } from './ids.ts';
export type { Proposer } from './proposer.ts';
export { type ObjectOf, schema, type TableName, tableNames } from './schema.ts';
export {
  type ApplyResult,
  type BatchResult,
  type Committed,
  Store,
  type StoreOptions,
  type ViewAndWatch,
  type WatchOptions,
} from './store.ts';
export type { NewObject, ReadTx, TableRead, TableWriter, WriteTx } from './transaction.ts';
export type { Watch } from './watch.ts';
