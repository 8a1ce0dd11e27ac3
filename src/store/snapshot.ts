import { StoreFormatError } from '../errors.ts';
import type { StoredObject, TableName } from './schema.ts';

/** The store as one JSON document: what Raft keeps as a snapshot and sends to a lagging member. */
export interface SnapshotDocument {
  /** The layout of this document; bumped when it changes incompatibly. */
  readonly version: 1;
  /** The Raft index of the last command in it. */
  readonly index: number;
  readonly tables: { readonly [N in TableName]?: readonly StoredObject[] };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeSnapshot(doc: SnapshotDocument): Uint8Array {
  return encoder.encode(JSON.stringify(doc));
}

export function decodeSnapshot(data: Uint8Array): SnapshotDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new StoreFormatError('the store snapshot is not valid JSON', { cause: err });
  }
  const version = (doc as { version?: unknown } | null)?.version;
  if (version !== 1) {
    throw new StoreFormatError(
      `the store snapshot has layout version ${String(version)}; this orca reads version 1 (is it older than the member that wrote it?)`,
    );
  }
  return doc as SnapshotDocument;
}
