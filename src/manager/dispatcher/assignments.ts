// What a worker is told to run: every task the store places on its node once the scheduler has
// assigned it (a task still pending there is the scheduler's to check, not the worker's to
// start), whatever its desired state, so the worker also sees the ones it must stop or remove.
// A task the store no longer holds drops out of the set, which tells the worker to remove its
// container: that is how the task reaper's deletes reach the node.

import type { WireAssignedTask } from '../../api/dispatcher-wire.ts';
import type { Task } from '../../api/objects.ts';

export function assignmentSet(
  tasks: readonly Task[],
  serviceName: (serviceId: string) => string,
): WireAssignedTask[] {
  return assigned(tasks).map((t) => ({ ...t, serviceName: serviceName(t.serviceId) }));
}

/**
 * What the worker acts on, status aside: the worker's own reports change the stored status on
 * every step, and echoing each of them back as a new set would double the session's traffic
 * for nothing. The status the set carries matters only when a task first reaches the worker.
 * Taken from the tasks rather than the set: every commit asks for it, and the set itself is
 * built only when the key changed.
 */
export function assignmentKey(
  tasks: readonly Task[],
  serviceName: (serviceId: string) => string,
): string {
  let key = '';
  for (const t of assigned(tasks)) {
    key += `${t.meta.id}\0${t.desiredState}\0${serviceName(t.serviceId)}\0${t.nodeId}\n`;
  }
  return key;
}

function assigned(tasks: readonly Task[]): Task[] {
  return tasks
    .filter((t) => t.status.state !== 'pending' && t.status.state !== 'new')
    .sort((a, b) => (a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0));
}
