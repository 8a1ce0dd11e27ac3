/**
 * The leader's view of one follower, as etcd's tracker.Progress: probing (one append in flight
 * until the follower answers, to find where the logs match), replicating (a pipelined window of
 * appends), or waiting for a snapshot to be installed.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** Probe: an append is outstanding; no more until the follower answers or a heartbeat returns. */
  probeSent = false;
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  isLearner: boolean;
  /** Last index of each append in flight, oldest first: the pipelining window. */
  private inflight: number[] = [];
  private readonly maxInflight: number;

  constructor(next: number, isLearner: boolean, maxInflight: number) {
    this.next = next;
    this.isLearner = isLearner;
    this.maxInflight = maxInflight;
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.reset('probe');
  }

  becomeReplicate(): void {
    this.next = this.match + 1;
    this.reset('replicate');
  }

  becomeSnapshot(index: number): void {
    this.reset('snapshot');
    this.pendingSnapshot = index;
  }

  private reset(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflight = [];
  }

  /** An acknowledgement up to index; false when it tells nothing new (stale or duplicate). */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (index > this.match) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append after `rejected`; `hint` is where the follower believes the logs
   * may match. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  sentEntries(lastIndex: number): void {
    if (this.state === 'replicate') {
      this.next = lastIndex + 1;
      this.inflight.push(lastIndex);
    } else {
      this.probeSent = true;
    }
  }

  freeInflightsTo(index: number): void {
    let n = 0;
    while (n < this.inflight.length && (this.inflight[n] ?? 0) <= index) n++;
    if (n > 0) this.inflight.splice(0, n);
  }

  freeFirstInflight(): void {
    if (this.inflight.length >= this.maxInflight) this.inflight.shift();
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  inflightCount(): number {
    return this.inflight.length;
  }
}
