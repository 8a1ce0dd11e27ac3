// The scheduler's reconcile loop: on every commit that touches tasks or nodes, the pending tasks
// are placed on a snapshot (schedule() for those without a node, checkPreassigned() for those
// the global orchestrator gave one), and the decisions are committed in one batch whose
// callback checks them again against the state it writes on (recheck): a node drained or a
// task changed since the snapshot is left for the next pass, and the store's version check
// refuses whatever moves between that check and the commit.

import type { Task, TaskStatus } from '../../api/objects.ts';
import { taskStates } from '../../api/objects.ts';
import type { Store } from '../../store/index.ts';
import { recheck, schedule } from '../scheduler/index.ts';
import { checkPreassigned } from './preassigned.ts';
import {
  type LoopLog,
  type PassResult,
  type ReconcileLoop,
  runPasses,
  silentLog,
} from './reconcile.ts';

export interface SchedulerLoopOptions {
  readonly store: Store;
  readonly now?: () => number;
  readonly log?: LoopLog;
  readonly retryMs?: number;
}

const runningRank = taskStates.indexOf('running');
const isWanted = (t: Task) => taskStates.indexOf(t.desiredState) <= runningRank;

export class SchedulerLoop implements ReconcileLoop {
  readonly name = 'scheduler';
  readonly #store: Store;
  readonly #now: () => number;
  readonly #log: LoopLog;
  readonly #retryMs: number;
  readonly #halt = new AbortController();

  constructor(opts: SchedulerLoopOptions) {
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentLog;
    this.#retryMs = opts.retryMs ?? 500;
  }

  run(signal: AbortSignal): Promise<void> {
    return runPasses({
      store: this.#store,
      tables: ['tasks', 'nodes'],
      signal: AbortSignal.any([signal, this.#halt.signal]),
      pass: () => this.pass(),
      now: this.#now,
      retryMs: this.#retryMs,
      log: this.#log,
      name: this.name,
    });
  }

  stop(): void {
    this.#halt.abort();
  }

  async pass(): Promise<PassResult> {
    const { nodes, tasks } = this.#store.view((tx) => ({
      nodes: tx.nodes.all(),
      tasks: tx.tasks.all(),
    }));
    const pending = tasks.filter((t) => t.status.state === 'pending');
    if (pending.length === 0) return { wakeAt: null, retry: false };
    const unplaced = pending.filter((t) => isWanted(t) && t.nodeId === '');
    const preassigned = pending.filter((t) => isWanted(t) && t.nodeId !== '');
    // Asked to stop before any worker saw it: no one else will ever report it stopped, and a
    // task left pending would neither count as history nor ever be reaped.
    const abandoned = new Set(pending.filter((t) => !isWanted(t)).map((t) => t.meta.id));
    const plan = schedule({ nodes, tasks }, unplaced);
    const pre = checkPreassigned(nodes, tasks, preassigned);
    const explained = new Map<string, string>();
    for (const u of [...plan.unschedulable, ...pre.refused]) explained.set(u.taskId, u.reason);
    if (plan.assignments.length === 0 && pre.accepted.length === 0 && abandoned.size === 0) {
      // Nothing to place: only write the reasons that changed, or a pass would wake itself.
      if (!pending.some((t) => explained.has(t.meta.id) && changedReason(t, explained))) {
        return { wakeAt: null, retry: false };
      }
    }

    const stamp = new Date(this.#now()).toISOString();
    try {
      const result = await this.#store.batch((tx) => {
        const latest = { nodes: tx.nodes.all(), tasks: tx.tasks.all() };
        const checked = recheck(latest, plan.assignments);
        const stillPre = latest.tasks.filter(
          (t) => t.status.state === 'pending' && isWanted(t) && t.nodeId !== '',
        );
        const preChecked = checkPreassigned(latest.nodes, latest.tasks, stillPre);
        for (const a of [...checked.accepted, ...preChecked.accepted]) {
          const task = tx.tasks.get(a.taskId);
          if (task === undefined) continue;
          tx.tasks.update({
            ...task,
            nodeId: a.nodeId,
            status: status('assigned', stamp, 'scheduler assigned task to node'),
          });
        }
        for (const u of [...checked.refused, ...preChecked.refused])
          explained.set(u.taskId, u.reason);
        for (const [taskId, reason] of explained) {
          const task = tx.tasks.get(taskId);
          if (task === undefined || task.status.state !== 'pending') continue;
          if (task.status.message === reason) continue;
          // The state and its timestamp stay: only the explanation changes.
          tx.tasks.update({ ...task, status: { ...task.status, message: reason } });
        }
        for (const taskId of abandoned) {
          const task = tx.tasks.get(taskId);
          if (task === undefined || task.status.state !== 'pending' || isWanted(task)) continue;
          tx.tasks.update({
            ...task,
            status: status('shutdown', stamp, 'shut down before it was scheduled'),
          });
        }
      });
      if (result.changes > 0) {
        this.#log.debug({ changes: result.changes }, 'scheduler committed its decisions');
      }
      return { wakeAt: null, retry: false };
    } catch (err) {
      this.#log.debug({ err }, 'committing scheduler decisions failed; retrying');
      return { wakeAt: null, retry: true };
    }
  }
}

function changedReason(task: Task, reasons: ReadonlyMap<string, string>): boolean {
  return reasons.get(task.meta.id) !== task.status.message;
}

function status(state: TaskStatus['state'], timestamp: string, message: string): TaskStatus {
  return { state, timestamp, message };
}
