// Waiting for a service to converge after create, update, scale or rollback, as `docker
// service create` does without --detach. It polls the task list rather than watching: the
// control API has no watch yet, and a poll every half second is nothing for one CLI.

import { isDeepStrictEqual } from 'node:util';
import type { TaskView } from '../api/control-wire.ts';
import type { Service } from '../api/objects.ts';
import { OrcaError } from '../errors.ts';
import { taskName, taskProblem } from './service-format.ts';

export interface Convergence {
  readonly state: 'converged' | 'waiting' | 'failed';
  /** One line per task (or per slot still without one), then the overall line. */
  readonly lines: readonly string[];
  /** Why it is not converged yet, or why it failed: for the message at the deadline. */
  readonly why: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** "2 tasks pending: no suitable node (...); 1 task starting". */
function summarize(tasks: readonly TaskView[]): string {
  const groups = new Map<string, number>();
  for (const t of tasks) {
    const problem = taskProblem(t);
    const key = `${t.status.state}${problem === '' ? '' : `: ${problem}`}`;
    groups.set(key, (groups.get(key) ?? 0) + 1);
  }
  return [...groups].map(([key, n]) => `${plural(n, 'task')} ${key}`).join('; ');
}

/**
 * Where the service stands. Only tasks desired running and built from the service's current
 * task spec count: after an update the old ones are on their way out. A task of the current
 * spec that failed or was rejected ends the wait, as it usually means the spec cannot run.
 */
export function convergence(service: Service, all: readonly TaskView[]): Convergence {
  const mode = service.spec.mode;
  const current = all.filter(
    (t) =>
      t.serviceId === service.meta.id &&
      t.desiredState === 'running' &&
      isDeepStrictEqual(t.spec, service.spec.task),
  );
  const broken = current.filter(
    (t) => t.status.state === 'failed' || t.status.state === 'rejected',
  );
  const lines: string[] = [];
  let done: number;
  let want: number;
  let converged: boolean;
  const isJob = mode.kind === 'replicated-job' || mode.kind === 'global-job';
  const goal = isJob ? 'complete' : 'running';
  if (mode.kind === 'replicated') {
    want = mode.replicas;
    for (let slot = 1; slot <= want; slot++) {
      const t = current.find((x) => x.slot === slot);
      lines.push(`${slot}/${want}: ${t === undefined ? 'no task yet' : t.status.state}`);
    }
    done = current.filter((t) => t.slot <= want && t.status.state === 'running').length;
    // A scale down is done once the tasks of the slots above the count are gone too.
    const extra = all.filter(
      (t) => t.serviceId === service.meta.id && t.desiredState === 'running' && t.slot > want,
    );
    converged = done === want && extra.length === 0;
  } else {
    for (const t of current) lines.push(`${taskName(t)}: ${t.status.state}`);
    done = current.filter((t) => t.status.state === goal).length;
    if (mode.kind === 'replicated-job') {
      want = mode.totalCompletions;
      done = all.filter(
        (t) => t.serviceId === service.meta.id && t.status.state === 'complete',
      ).length;
    } else want = current.length;
    // A global service with no task yet has not been looked at by the orchestrator.
    converged = mode.kind === 'replicated-job' ? done >= want : want > 0 && done === want;
  }
  lines.push(
    `overall progress: ${done} out of ${plural(want, 'task')}${isJob ? ' completed' : ''}`,
  );
  if (broken.length > 0) return { state: 'failed', lines, why: summarize(broken) };
  if (converged) return { state: 'converged', lines, why: '' };
  const waiting = current.filter((t) => t.status.state !== goal);
  const missing =
    mode.kind === 'replicated'
      ? Math.max(want - current.filter((t) => t.slot <= want).length, 0)
      : 0;
  const parts = [
    summarize(waiting),
    missing > 0 || (current.length === 0 && mode.kind !== 'replicated')
      ? `${missing > 0 ? plural(missing, 'task') : 'the tasks'} not created yet (is the orchestrator running on the leader?)`
      : '',
  ].filter((p) => p !== '');
  return { state: 'waiting', lines, why: parts.join('; ') };
}

export interface WaitOptions {
  /**
   * A rollback the orchestrator starts on its own ends an update's wait with an error; one the
   * user asked for is what a rollback's wait waits for.
   */
  readonly waitingFor?: 'create' | 'update' | 'scale' | 'rollback';
  readonly fetch: () => Promise<{ service: Service; tasks: readonly TaskView[] }>;
  readonly write: (text: string) => void;
  readonly timeoutMs?: number;
  readonly intervalMs?: number;
  readonly quiet?: boolean;
}

export const defaultConvergeTimeoutMs = 120_000;

/**
 * Polls until the service converges, a task fails, or the deadline passes (the last two throw,
 * exit 1). Lines are printed when they change: a terminal and a log file read the same.
 */
export async function waitForConvergence(opts: WaitOptions): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? defaultConvergeTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const notConverged = (message: string) => new OrcaError('ORCA_NOT_CONVERGED', message);
  let shown = '';
  let rolledBackBy = '';
  for (;;) {
    const { service, tasks } = await opts.fetch();
    const c = convergence(service, tasks);
    const text = `${c.lines.join('\n')}\n`;
    if (!opts.quiet && text !== shown) opts.write(text);
    shown = text;
    const update = service.updateStatus;
    // While a rolling update runs, its failure action (pause, continue, rollback) judges failed
    // tasks, and it is done once the monitor period has passed, as `docker service update`.
    const updating = update?.state === 'updating' || update?.state === 'rollback_started';
    if (update?.state === 'paused') throw notConverged(`service update paused: ${update.message}`);
    if (update?.state === 'rollback_paused') {
      throw notConverged(`service rollback paused: ${update.message}`);
    }
    if (update?.state === 'rollback_started' && opts.waitingFor !== 'rollback' && !rolledBackBy) {
      rolledBackBy = update.message;
      if (!opts.quiet) opts.write(`rollback: ${update.message}\n`);
    }
    if (c.state === 'converged' && !updating) {
      if (rolledBackBy !== '') throw notConverged(`service rolled back: ${rolledBackBy}`);
      if (!opts.quiet) opts.write('verify: Service converged\n');
      return;
    }
    if (c.state === 'failed' && !updating) {
      throw notConverged(
        `service ${service.spec.name} did not converge: ${c.why}; see: orca service ps ${service.spec.name}`,
      );
    }
    if (Date.now() >= deadline) {
      throw notConverged(
        `the service did not converge within ${Math.round(timeoutMs / 1000)} s: ${c.why || (updating ? 'the update is still in progress' : 'no progress')}; ` +
          `it is still there and may yet converge: follow it with "orca service ps ${service.spec.name}" (--detach does not wait)`,
      );
    }
    await new Promise((r) =>
      setTimeout(r, Math.min(opts.intervalMs ?? 500, Math.max(deadline - Date.now(), 0))),
    );
  }
}
