// One entry point for the loop: the decision for a service, whatever its mode. The rolling
// update and the history reaper are separate decisions on the same snapshot.

import type { Node, Service, Task } from '../../api/objects.ts';
import { reconcileGlobal } from './global.ts';
import { reconcileGlobalJob, reconcileReplicatedJob } from './jobs.ts';
import type { Plan } from './plan.ts';
import { reconcileReplicated } from './replicated.ts';

export function reconcileService(
  service: Service,
  tasks: readonly Task[],
  nodes: readonly Node[],
  now: number,
): Plan {
  switch (service.spec.mode.kind) {
    case 'replicated':
      return reconcileReplicated(service, tasks, nodes, now);
    case 'global':
      return reconcileGlobal(service, tasks, nodes, now);
    case 'replicated-job':
      return reconcileReplicatedJob(service, tasks, nodes, now);
    case 'global-job':
      return reconcileGlobalJob(service, tasks, nodes, now);
  }
}
