// Tasks grouped the way the orchestrators reason about them: by slot for replicated services
// and jobs, by node for global ones.

import type { Task } from '../../api/objects.ts';

export function groupBy<K>(tasks: readonly Task[], key: (task: Task) => K): Map<K, Task[]> {
  const groups = new Map<K, Task[]>();
  for (const task of tasks) {
    const k = key(task);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, [task]);
    else group.push(task);
  }
  return groups;
}

export function bySlot(tasks: readonly Task[]): Map<number, Task[]> {
  return groupBy(tasks, (task) => task.slot);
}

export function byNode(tasks: readonly Task[]): Map<string, Task[]> {
  return groupBy(tasks, (task) => task.nodeId);
}
