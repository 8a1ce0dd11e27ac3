import { StoreFormatError } from '../errors.ts';
import type { Touched } from './pending.ts';
import { isTableName, type ObjectOf, type TableName } from './schema.ts';

/**
 * One object's change as it travels in the log. An update's and a delete's version is the one
 * the write was based on: apply refuses the whole command if the stored version differs.
 */
export type Change = {
  [N in TableName]:
    | { readonly type: 'create'; readonly table: N; readonly object: ObjectOf<N> }
    | { readonly type: 'update'; readonly table: N; readonly object: ObjectOf<N> }
    | { readonly type: 'delete'; readonly table: N; readonly id: string; readonly version: number };
}[TableName];

/**
 * What the store writes to the Raft log, applied by Store.apply's switch. One kind today; the
 * tag leaves room for commands that are not object changes.
 */
export type StoreCommand = { readonly type: 'transaction'; readonly changes: readonly Change[] };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(cmd: StoreCommand): Uint8Array {
  return encoder.encode(JSON.stringify(cmd));
}

export function decodeCommand(bytes: Uint8Array): StoreCommand {
  let cmd: unknown;
  try {
    cmd = JSON.parse(decoder.decode(bytes));
  } catch (err) {
    throw new StoreFormatError('a store command is not valid JSON', { cause: err });
  }
  if (
    typeof cmd !== 'object' ||
    cmd === null ||
    typeof (cmd as { type?: unknown }).type !== 'string'
  ) {
    throw new StoreFormatError('a store command has no type');
  }
  return cmd as StoreCommand;
}

/** Checks what JSON.parse cannot: a change from a newer orca may name a table this one lacks. */
export function checkChange(change: Change): void {
  if (!isTableName(change.table)) {
    throw new StoreFormatError(
      `a store command changes table '${String(change.table)}', which this version of orca does not have`,
    );
  }
}

/** The command form of a transaction's writes, in the order they were first made. */
export function changesOf(touched: Iterable<Touched>): Change[] {
  const out: Change[] = [];
  for (const t of touched) {
    if (t.after === null) {
      out.push({
        type: 'delete',
        table: t.table,
        id: t.id,
        version: t.before!.meta.version,
      } as Change);
    } else {
      out.push({
        type: t.before === undefined ? 'create' : 'update',
        table: t.table,
        object: t.after,
      } as Change);
    }
  }
  return out;
}

/** The encoded size of one change, for splitting a batch into entries of bounded size. */
export function changeBytes(change: Change): number {
  return Buffer.byteLength(JSON.stringify(change));
}
