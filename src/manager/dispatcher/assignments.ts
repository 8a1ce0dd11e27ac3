// What a worker is told to run: every task the store places on its node once the scheduler has
// assigned it (a task still pending there is the scheduler's to check, not the worker's to
// start), whatever its desired state, so the worker also sees the ones it must stop or remove.
// A task the store no longer holds drops out of the set, which tells the worker to remove its
// container: that is how the task reaper's deletes reach the node.

import type { WireAssignedTask, WireNetworkAttachment } from '../../api/dispatcher-wire.ts';
import type { Network, Task } from '../../api/objects.ts';

export function assignmentSet(
  tasks: readonly Task[],
  serviceName: (serviceId: string) => string,
  network: (networkId: string) => Network | undefined = () => undefined,
): WireAssignedTask[] {
  return assigned(tasks).map((t) => {
    const attachments = networkAttachments(t, network);
    return {
      ...t,
      serviceName: serviceName(t.serviceId),
      ...(attachments.length === 0 ? {} : { attachments }),
    };
  });
}

/**
 * What the node needs of each network the task has an address on. A network removed since the
 * task was created (only a task winding down can outlive its network) is left out.
 */
function networkAttachments(
  task: Task,
  network: (networkId: string) => Network | undefined,
): WireNetworkAttachment[] {
  const out: WireNetworkAttachment[] = [];
  for (const { network: id, addr } of task.networks ?? []) {
    const n = network(id);
    if (n === undefined) continue;
    out.push({
      network: id,
      name: n.spec.name,
      subnet: n.subnet,
      gateway: n.gateway,
      internal: n.spec.internal ?? false,
      addr,
    });
  }
  return out;
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
