import type { Entry, Snapshot, SnapshotMeta } from './types.ts';

/**
 * The in-memory Raft log of one member: a snapshot point (index and term of the last entry it
 * covers) followed by every entry after it. The log is compacted at every snapshot, so keeping
 * it all in memory is bounded by the snapshot interval and avoids a storage read on the hot path.
 *
 * `stabled` is the last index known to be persisted: everything after it goes into the next
 * Ready. `applied` is the last index handed to the state machine.
 */
export class RaftLog {
  private snapIndex: number;
  private snapTerm: number;
  private entries: Entry[];
  committed: number;
  applied: number;
  stabled: number;
  /** A snapshot received from the leader that the driver has not yet persisted and applied. */
  pendingSnapshot: Snapshot | null = null;

  constructor(snap: SnapshotMeta, entries: readonly Entry[], committed: number) {
    this.snapIndex = snap.index;
    this.snapTerm = snap.term;
    this.entries = [...entries];
    const last = this.lastIndex();
    if (committed > last) {
      throw new Error(`commit index ${committed} is beyond the last log index ${last}`);
    }
    this.committed = Math.max(committed, snap.index);
    this.applied = snap.index;
    this.stabled = last;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const last = this.entries[this.entries.length - 1];
    return last === undefined ? this.snapTerm : last.term;
  }

  snapshotIndex(): number {
    return this.snapIndex;
  }

  /** The term of entry i, or undefined when i is compacted away or not yet written. */
  term(i: number): number | undefined {
    if (i === this.snapIndex) return this.snapTerm;
    if (i < this.snapIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snapIndex - 1]?.term;
  }

  entry(i: number): Entry | undefined {
    return this.entries[i - this.snapIndex - 1];
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Section 5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), at most maxEntries and about maxBytes (always at least one). */
  slice(
    lo: number,
    hi: number,
    maxEntries = Number.POSITIVE_INFINITY,
    maxBytes = Infinity,
  ): Entry[] {
    if (lo <= this.snapIndex) throw new Error(`slice from ${lo} reaches into the snapshot`);
    const start = lo - this.snapIndex - 1;
    let end = Math.min(hi, this.lastIndex() + 1) - this.snapIndex - 1;
    end = Math.min(end, start + maxEntries);
    if (maxBytes !== Infinity) {
      let bytes = 0;
      for (let i = start; i < end; i++) {
        bytes += (this.entries[i]?.data.length ?? 0) + 24;
        if (bytes > maxBytes && i > start) {
          end = i;
          break;
        }
      }
    }
    return this.entries.slice(start, Math.max(start, end));
  }

  append(ents: readonly Entry[]): void {
    const first = ents[0];
    if (first === undefined) return;
    const after = first.index - 1;
    if (after < this.committed) {
      throw new Error(
        `append after ${after} would overwrite committed entries up to ${this.committed}`,
      );
    }
    if (after < this.lastIndex()) {
      this.entries.length = after - this.snapIndex;
      this.stabled = Math.min(this.stabled, after);
    }
    for (const e of ents) this.entries.push(e);
  }

  /**
   * The follower's side of AppendEntries: if our log matches (index, logTerm), append what is
   * new (truncating a conflicting suffix) and return the index of the last new entry.
   */
  maybeAppend(
    index: number,
    logTerm: number,
    committed: number,
    ents: readonly Entry[],
  ): number | null {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const conflict = this.findConflict(ents);
    if (conflict !== 0) {
      const from = conflict - index - 1;
      this.append(ents.slice(from));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** The first entry whose term differs from ours, or the first new one; 0 if all match. */
  private findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-tracking: the largest index <= index whose term is <= term. A rejected leader
   * jumps straight to it instead of probing one entry at a time.
   */
  findConflictByTerm(index: number, term: number): number {
    for (let i = Math.min(index, this.lastIndex()); i > this.snapIndex; i--) {
      const t = this.term(i);
      if (t !== undefined && t <= term) return i;
    }
    return this.snapIndex;
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      if (index > this.lastIndex()) {
        throw new Error(`commit ${index} is beyond the last index ${this.lastIndex()}`);
      }
      this.committed = index;
    }
  }

  unstableEntries(): Entry[] {
    return this.entries.slice(this.stabled - this.snapIndex);
  }

  /** Committed entries not yet handed to the state machine. */
  nextCommitted(maxEntries = Number.POSITIVE_INFINITY): Entry[] {
    if (this.committed <= this.applied) return [];
    return this.slice(this.applied + 1, this.committed + 1, maxEntries);
  }

  /** Replaces the whole log with a snapshot from the leader. */
  restore(snap: Snapshot): void {
    this.snapIndex = snap.meta.index;
    this.snapTerm = snap.meta.term;
    this.entries = [];
    this.committed = snap.meta.index;
    this.applied = snap.meta.index;
    this.stabled = snap.meta.index;
    this.pendingSnapshot = snap;
  }

  /** Drops the entries covered by a local snapshot at index (already applied). */
  compact(index: number): void {
    if (index <= this.snapIndex) return;
    if (index > this.applied)
      throw new Error(`cannot compact ${index} beyond applied ${this.applied}`);
    const term = this.term(index);
    if (term === undefined) throw new Error(`cannot compact at unknown index ${index}`);
    this.entries = this.entries.slice(index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }
}
