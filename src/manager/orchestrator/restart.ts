// The restart policy: whether a task that stopped by itself while still wanted gets a successor
// in its slot (or on its node), and when. Swarm's restart supervisor keeps the attempt history
// in memory and runs a timer per delay; here both are read from the store instead (the slot's
// earlier tasks are the history, a stopped task's status timestamp starts the delay), so a new
// leader decides exactly as the old one would have.

import type { RestartPolicy, Task } from '../../api/objects.ts';
import { endedByItself, hasStopped, isWanted, statusAt } from './task-state.ts';

export type RestartVerdict =
  | { readonly kind: 'now' }
  /** Not before `at` (ms): the policy's delay since the task stopped has not passed. */
  | { readonly kind: 'later'; readonly at: number }
  /** The slot keeps the stopped task and gets no successor. */
  | { readonly kind: 'never'; readonly reason: string };

export interface RestartOptions {
  /** Jobs never rerun a task that completed, whatever the condition says. */
  readonly job?: boolean;
}

/**
 * For a wanted task that has stopped. `history` is every task of the same slot (replicated) or
 * node (global), the task itself included or not.
 */
export function restartVerdict(
  task: Task,
  history: readonly Task[],
  policy: RestartPolicy,
  now: number,
  options: RestartOptions = {},
): RestartVerdict {
  const refusal = conditionRefuses(task, policy, options);
  if (refusal !== null) return { kind: 'never', reason: refusal };
  const attempts = attemptsBefore(task, history, policy.windowMs);
  if (policy.maxAttempts > 0 && attempts >= policy.maxAttempts) {
    return {
      kind: 'never',
      reason: `restart attempts exhausted (${attempts} of ${policy.maxAttempts}${
        policy.windowMs > 0 ? ` within ${policy.windowMs}ms` : ''
      })`,
    };
  }
  // The delay brakes crash loops; a container stopped or removed by hand is not one.
  const at = statusAt(task) + (task.status.stoppedOutside ? 0 : policy.delayMs);
  return at <= now ? { kind: 'now' } : { kind: 'later', at };
}

/** Whether the policy would ever replace this task: the updater asks it of stopped tasks. */
export function wouldRestart(
  task: Task,
  history: readonly Task[],
  policy: RestartPolicy,
  now: number,
  options: RestartOptions = {},
): boolean {
  return restartVerdict(task, history, policy, now, options).kind !== 'never';
}

function conditionRefuses(
  task: Task,
  policy: RestartPolicy,
  options: RestartOptions,
): string | null {
  const completed = task.status.state === 'complete';
  if (options.job === true && completed) return 'job task completed';
  switch (policy.condition) {
    case 'any':
      return null;
    // As Swarm: every stop but a clean exit is a failure, a rejection or a vanished node included.
    case 'on-failure':
      return completed ? 'exited 0 and the restart condition is on-failure' : null;
    case 'none':
      return 'the restart condition is none';
  }
}

/**
 * Restarts already spent: earlier tasks of the same spec version that stopped by themselves
 * (each one's successor was a restart), within `windowMs` before this one stopped (0: ever).
 * A new spec version starts a fresh count, as Swarm clears its history on a spec change. The
 * count cannot see tasks the history reaper has deleted, so it is at most the history limit.
 */
function attemptsBefore(task: Task, history: readonly Task[], windowMs: number): number {
  const stoppedAt = statusAt(task);
  let attempts = 0;
  for (const earlier of history) {
    if (earlier.meta.id === task.meta.id || earlier.serviceVersion !== task.serviceVersion)
      continue;
    if (!hasStopped(earlier) || !endedByItself(earlier)) continue;
    const at = statusAt(earlier);
    if (at > stoppedAt || (at === stoppedAt && earlier.meta.id > task.meta.id)) continue;
    if (windowMs > 0 && at <= stoppedAt - windowMs) continue;
    attempts++;
  }
  return attempts;
}

/** A wanted task that stopped: the restart policy decides its slot's future. */
export function awaitsRestartDecision(task: Task): boolean {
  return isWanted(task) && hasStopped(task);
}
