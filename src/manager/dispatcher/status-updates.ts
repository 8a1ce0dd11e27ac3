// Task status reports from workers, applied to the store. A task's observed state only moves
// forward, so a late or repeated report (a reconnect resends everything) changes nothing, and
// a node may report only on its own tasks.

import type { StatusUpdate } from '../../api/dispatcher-wire.ts';
import type { TaskStatus } from '../../api/objects.ts';
import { taskStates } from '../../api/objects.ts';
import type { WriteTx } from '../../store/index.ts';

const rank = (s: TaskStatus): number => taskStates.indexOf(s.state);

/**
 * Whether `next` should replace `current`: a later state, or the same state with something new
 * to say (health, a message) reported no earlier than the stored one.
 */
export function isForward(current: TaskStatus, next: TaskStatus): boolean {
  if (rank(next) !== rank(current)) return rank(next) > rank(current);
  if (Date.parse(next.timestamp) < Date.parse(current.timestamp)) return false;
  return JSON.stringify(next) !== JSON.stringify(current);
}

export interface NodeStatusUpdate extends StatusUpdate {
  /** The node whose session reported it. */
  readonly nodeId: string;
}

/** Stages the updates that move a task forward; returns how many it staged. */
export function applyStatusUpdates(tx: WriteTx, updates: Iterable<NodeStatusUpdate>): number {
  let applied = 0;
  for (const u of updates) {
    const task = tx.tasks.get(u.taskId);
    if (task === undefined || task.nodeId !== u.nodeId) continue;
    if (!isForward(task.status, u.status)) continue;
    tx.tasks.update({ ...task, status: u.status });
    applied++;
  }
  return applied;
}

/** A status report from the wire, or null where it is malformed. */
export function parseStatusUpdate(value: unknown): StatusUpdate | null {
  if (typeof value !== 'object' || value === null) return null;
  const { taskId, status } = value as { taskId?: unknown; status?: unknown };
  if (typeof taskId !== 'string' || typeof status !== 'object' || status === null) return null;
  const s = status as Partial<TaskStatus>;
  if (
    typeof s.state !== 'string' ||
    !(taskStates as readonly string[]).includes(s.state) ||
    typeof s.timestamp !== 'string' ||
    Number.isNaN(Date.parse(s.timestamp)) ||
    typeof s.message !== 'string' ||
    (s.stoppedOutside !== undefined && typeof s.stoppedOutside !== 'boolean')
  ) {
    return null;
  }
  return { taskId, status: s as TaskStatus };
}
