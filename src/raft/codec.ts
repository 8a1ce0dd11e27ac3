// Binary encodings of the durable Raft state. Entries are written once per Ready, so their
// encoding is a fixed header and the data bytes: no JSON, one allocation per batch.
//
// Every value starts with a layout byte so that a later orca can change a layout and still read
// (or knowingly refuse) what an older one wrote.

import type { ConfState, Entry, EntryType, HardState, Snapshot } from './types.ts';

/** Thrown by the decoders; the storage turns it into a DataDirError naming the record. */
export class CodecError extends Error {}

const LAYOUT_V1 = 1;

const TYPE_NORMAL = 0;
const TYPE_CONF = 1;

const TWO_32 = 0x1_0000_0000;

/** layout (1) + type (1) + index (8) + term (8) */
export const ENTRY_HEADER_BYTES = 18;

export const ENTRY_KEY_PREFIX = 0x65; // 'e'
export const ENTRY_KEY_BYTES = 9;

// Indexes and terms are JS numbers (< 2^53); they are stored as unsigned 64-bit big-endian so
// that the keys sort in index order and the layout does not need to change past 2^32.
function writeU64(buf: Uint8Array, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new CodecError(`not an unsigned safe integer: ${n}`);
  }
  const hi = Math.floor(n / TWO_32);
  const lo = n >>> 0;
  buf[off] = hi >>> 24;
  buf[off + 1] = hi >>> 16;
  buf[off + 2] = hi >>> 8;
  buf[off + 3] = hi;
  buf[off + 4] = lo >>> 24;
  buf[off + 5] = lo >>> 16;
  buf[off + 6] = lo >>> 8;
  buf[off + 7] = lo;
}

function readU64(buf: Uint8Array, off: number): number {
  const hi =
    ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
  const lo =
    ((buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!) >>> 0;
  const n = hi * TWO_32 + lo;
  if (!Number.isSafeInteger(n)) throw new CodecError(`integer out of range at offset ${off}`);
  return n;
}

/** Writes the 9-byte key of the entry at `index` into `buf` at `off`. */
export function writeEntryKey(buf: Uint8Array, off: number, index: number): void {
  buf[off] = ENTRY_KEY_PREFIX;
  writeU64(buf, off + 1, index);
}

export function entryKey(index: number): Buffer {
  const key = Buffer.allocUnsafe(ENTRY_KEY_BYTES);
  writeEntryKey(key, 0, index);
  return key;
}

export function decodeEntryKey(key: Uint8Array): number {
  if (key.length !== ENTRY_KEY_BYTES || key[0] !== ENTRY_KEY_PREFIX) {
    throw new CodecError(`malformed entry key (${key.length} bytes)`);
  }
  return readU64(key, 1);
}

export function entryValueBytes(e: Entry): number {
  return ENTRY_HEADER_BYTES + e.data.length;
}

/** Writes the value of `e` into `buf` at `off`; returns the number of bytes written. */
export function writeEntryValue(buf: Uint8Array, off: number, e: Entry): number {
  buf[off] = LAYOUT_V1;
  buf[off + 1] = e.type === 'conf' ? TYPE_CONF : TYPE_NORMAL;
  writeU64(buf, off + 2, e.index);
  writeU64(buf, off + 10, e.term);
  buf.set(e.data, off + ENTRY_HEADER_BYTES);
  return ENTRY_HEADER_BYTES + e.data.length;
}

export function encodeEntry(e: Entry): Buffer {
  const buf = Buffer.allocUnsafe(entryValueBytes(e));
  writeEntryValue(buf, 0, e);
  return buf;
}

/** The returned entry's data is a view into `buf`, not a copy. */
export function decodeEntry(buf: Uint8Array): Entry {
  if (buf.length < ENTRY_HEADER_BYTES)
    throw new CodecError(`entry too short (${buf.length} bytes)`);
  if (buf[0] !== LAYOUT_V1) throw new CodecError(`unknown entry layout ${buf[0]}`);
  let type: EntryType;
  if (buf[1] === TYPE_NORMAL) type = 'normal';
  else if (buf[1] === TYPE_CONF) type = 'conf';
  else throw new CodecError(`unknown entry type ${buf[1]}`);
  return {
    index: readU64(buf, 2),
    term: readU64(buf, 10),
    type,
    data: buf.subarray(ENTRY_HEADER_BYTES),
  };
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length);
}

// HardState: layout (1) + term (8) + commit (8) + hasVote (1) + vote (utf8, rest)
export function encodeHardState(hs: HardState): Buffer {
  const vote = hs.vote === null ? null : Buffer.from(hs.vote, 'utf8');
  const buf = Buffer.allocUnsafe(18 + (vote?.length ?? 0));
  buf[0] = LAYOUT_V1;
  writeU64(buf, 1, hs.term);
  writeU64(buf, 9, hs.commit);
  buf[17] = vote === null ? 0 : 1;
  if (vote !== null) vote.copy(buf, 18);
  return buf;
}

export function decodeHardState(buf: Uint8Array): HardState {
  if (buf.length < 18) throw new CodecError(`hard state too short (${buf.length} bytes)`);
  if (buf[0] !== LAYOUT_V1) throw new CodecError(`unknown hard state layout ${buf[0]}`);
  const hasVote = buf[17];
  if (hasVote !== 0 && hasVote !== 1) throw new CodecError(`bad vote flag ${hasVote}`);
  if (hasVote === 0 && buf.length !== 18) throw new CodecError('trailing bytes after hard state');
  return {
    term: readU64(buf, 1),
    commit: readU64(buf, 9),
    vote: hasVote === 1 ? asBuffer(buf).toString('utf8', 18) : null,
  };
}

// Snapshot: layout (1) + index (8) + term (8) + voters + learners + data (rest), where a
// list of ids is a u32 count followed by (u16 length, utf8 bytes) per id.
function idsBytes(ids: readonly string[]): number {
  let n = 4;
  for (const id of ids) n += 2 + Buffer.byteLength(id, 'utf8');
  return n;
}

function writeIds(buf: Buffer, off: number, ids: readonly string[]): number {
  buf.writeUInt32BE(ids.length, off);
  off += 4;
  for (const id of ids) {
    const len = buf.write(id, off + 2, 'utf8');
    if (len > 0xffff) throw new CodecError('node id longer than 65535 bytes');
    buf.writeUInt16BE(len, off);
    off += 2 + len;
  }
  return off;
}

function readIds(buf: Buffer, off: number): { ids: string[]; off: number } {
  if (off + 4 > buf.length) throw new CodecError('snapshot conf state truncated');
  const count = buf.readUInt32BE(off);
  off += 4;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    if (off + 2 > buf.length) throw new CodecError('snapshot conf state truncated');
    const len = buf.readUInt16BE(off);
    off += 2;
    if (off + len > buf.length) throw new CodecError('snapshot conf state truncated');
    ids.push(buf.toString('utf8', off, off + len));
    off += len;
  }
  return { ids, off };
}

export function encodeSnapshot(s: Snapshot): Buffer {
  const { conf } = s.meta;
  const size = 17 + idsBytes(conf.voters) + idsBytes(conf.learners) + s.data.length;
  const buf = Buffer.allocUnsafe(size);
  buf[0] = LAYOUT_V1;
  writeU64(buf, 1, s.meta.index);
  writeU64(buf, 9, s.meta.term);
  let off = writeIds(buf, 17, conf.voters);
  off = writeIds(buf, off, conf.learners);
  buf.set(s.data, off);
  return buf;
}

/** The returned snapshot's data is a view into `buf`, not a copy. */
export function decodeSnapshot(bytes: Uint8Array): Snapshot {
  const buf = asBuffer(bytes);
  if (buf.length < 17) throw new CodecError(`snapshot too short (${buf.length} bytes)`);
  if (buf[0] !== LAYOUT_V1) throw new CodecError(`unknown snapshot layout ${buf[0]}`);
  const index = readU64(buf, 1);
  const term = readU64(buf, 9);
  const voters = readIds(buf, 17);
  const learners = readIds(buf, voters.off);
  const conf: ConfState = { voters: voters.ids, learners: learners.ids };
  return { meta: { index, term, conf }, data: buf.subarray(learners.off) };
}
