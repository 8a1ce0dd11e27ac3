// How the orchestrators read a task: whether it is still meant to run, whether it has stopped,
// whether it failed, and when. Every decision in this folder is phrased in these terms so the
// rules (swarmkit's) are written once.

import { isDeepStrictEqual } from 'node:util';
import type { Service, Task, TaskSpec, TaskState } from '../../api/objects.ts';
import { taskStates } from '../../api/objects.ts';
import { taskPorts } from '../allocator/ports.ts';

const rank = new Map<TaskState, number>(taskStates.map((state, i) => [state, i]));
const runningRank = rank.get('running')!;

function stateRank(state: TaskState): number {
  return rank.get(state)!;
}

/** Desired to run: the orchestrator has not asked it to stop (it may have stopped by itself). */
export function isWanted(task: Task): boolean {
  return stateRank(task.desiredState) <= runningRank;
}

/** Observed past running: it will never run again (a task is replaced, never restarted). */
export function hasStopped(task: Task): boolean {
  return stateRank(task.status.state) > runningRank;
}

export function isRunning(task: Task): boolean {
  return task.status.state === 'running';
}

/** Wanted and not yet stopped: it holds its slot (or node) without anyone's help. */
export function isLive(task: Task): boolean {
  return isWanted(task) && !hasStopped(task);
}

/**
 * Stopped without the orchestrator asking: failed, rejected, exited (a service task that exits
 * 0 has still ended early), orphaned, or shut down while still wanted. A task the orchestrator
 * shut down on purpose ends 'shutdown' with desired 'shutdown' and is not a failure.
 */
export function endedByItself(task: Task): boolean {
  switch (task.status.state) {
    case 'failed':
    case 'rejected':
    case 'complete':
    case 'orphaned':
      return true;
    case 'shutdown':
    case 'remove':
      return isWanted(task);
    default:
      return false;
  }
}

/** When the task reached its current observed state (for a stopped task: when it stopped). */
export function statusAt(task: Task): number {
  return Date.parse(task.status.timestamp);
}

export function createdAt(task: Task): number {
  return Date.parse(task.meta.createdAt);
}

/**
 * Every pass compares each task's spec with its service's, several times, and a deep comparison
 * each time was most of the orchestrator's work. A task's stored spec is compared once per
 * version of the task (or of the service) instead.
 */
const compared = new WeakMap<TaskSpec, { readonly spec: TaskSpec; readonly equal: boolean }>();

/**
 * Whether the task runs this spec. Compared by value, not by `serviceVersion`: a rollback puts
 * an older spec back under a newer version, and the tasks already running it must stay.
 */
export function runsSpec(task: Task, service: Service): boolean {
  return sameSpec(task.spec, service.spec.task) && samePorts(task, service);
}

function sameSpec(mine: TaskSpec, spec: TaskSpec): boolean {
  if (mine === spec) return true;
  const known = compared.get(mine);
  if (known?.spec === spec) return known.equal;
  const equal = isDeepStrictEqual(mine, spec);
  // Stored objects are frozen: their comparison holds as long as both are the ones compared.
  if (Object.isFrozen(mine) && Object.isFrozen(spec)) compared.set(mine, { spec, equal });
  return equal;
}

function samePorts(task: Task, service: Service): boolean {
  // Most services publish nothing: no list to build for them. An endpoint may hold only
  // virtual IPs, which are not the task's.
  if (task.ports === undefined && (service.endpoint?.ports.length ?? 0) === 0) return true;
  return isDeepStrictEqual(task.ports ?? [], taskPorts(service.endpoint));
}

/** Oldest first by when they reached their state, then by id so the order never wobbles. */
export function byStatusTime(a: Task, b: Task): number {
  return statusAt(a) - statusAt(b) || (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0);
}
