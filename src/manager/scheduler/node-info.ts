// The per-node accounting the filters and scorers read: built once per scheduling pass from the
// snapshot, then updated in place after every decision of the pass, so the next task of a batch
// sees the ones placed before it without anything being recounted.

import type { Capacity, Node, Task, TaskState } from '../../api/objects.ts';
import { taskStates } from '../../api/objects.ts';

const stateRank = new Map<TaskState, number>(taskStates.map((state, i) => [state, i]));
const runningRank = stateRank.get('running')!;

/**
 * Whether a task still holds its node: meant to run (desired state up to running) and not yet
 * observed to have stopped. The second half is swarmkit's rule: a task that failed or completed
 * has released its resources even while it waits for the orchestrator to replace it.
 */
export function holdsNode(task: Task): boolean {
  return (
    task.nodeId !== '' &&
    stateRank.get(task.desiredState)! <= runningRank &&
    stateRank.get(task.status.state)! <= runningRank
  );
}

export class NodeInfo {
  readonly node: Node;
  /** Position in the pass's node list: lets per-pass tables be arrays rather than maps. */
  readonly index: number;
  readonly #tasks = new Map<string, Task>();
  readonly #tasksByService = new Map<string, number>();
  #reservedNanoCpus = 0;
  #reservedMemoryBytes = 0;
  #load = -1;

  constructor(node: Node, index: number) {
    this.node = node;
    this.index = index;
  }

  get id(): string {
    return this.node.meta.id;
  }

  /** The tasks holding this node, by task id. */
  get tasks(): ReadonlyMap<string, Task> {
    return this.#tasks;
  }

  get reserved(): Capacity {
    return { nanoCpus: this.#reservedNanoCpus, memoryBytes: this.#reservedMemoryBytes };
  }

  // The filters and scorers read these once per node per pending task: no object built.
  get reservedNanoCpus(): number {
    return this.#reservedNanoCpus;
  }

  get reservedMemoryBytes(): number {
    return this.#reservedMemoryBytes;
  }

  /** Whether `want` fits capacity less reservations (a node may have shrunk under its tasks). */
  fits(want: Capacity): boolean {
    const capacity = this.node.description.resources;
    return (
      want.nanoCpus <= capacity.nanoCpus - this.#reservedNanoCpus &&
      want.memoryBytes <= capacity.memoryBytes - this.#reservedMemoryBytes
    );
  }

  /** Live use of the whole host, including work orca did not place; null until reported. */
  get usage(): Node['description']['usage'] {
    return this.node.description.usage;
  }

  /**
   * The larger of the host's CPU and memory fractions in use, fixed for the pass. A node that
   * has not reported yet counts as idle: it has most likely just joined.
   */
  get load(): number {
    if (this.#load < 0) {
      const usage = this.node.description.usage;
      const memory = this.node.description.resources.memoryBytes;
      this.#load =
        usage === null
          ? 0
          : Math.max(usage.cpuPercent / 100, memory > 0 ? usage.memoryBytes / memory : 0, 0);
    }
    return this.#load;
  }

  tasksOfService(serviceId: string): number {
    return this.#tasksByService.get(serviceId) ?? 0;
  }

  /** Counts a task against this node; a task already counted is not counted twice. */
  addTask(task: Task): void {
    if (this.#tasks.has(task.meta.id)) return;
    this.#tasks.set(task.meta.id, task);
    this.#tasksByService.set(task.serviceId, this.tasksOfService(task.serviceId) + 1);
    this.#reservedNanoCpus += task.spec.resources.reservations.nanoCpus;
    this.#reservedMemoryBytes += task.spec.resources.reservations.memoryBytes;
  }
}

/**
 * One NodeInfo per node, sorted by node id so that every pass walks nodes in the same order,
 * holding the snapshot's tasks except those named in `skip` (the ones about to be scheduled).
 */
export function buildNodeInfos(
  nodes: readonly Node[],
  tasks: readonly Task[],
  skip: ReadonlySet<string> = new Set(),
): NodeInfo[] {
  const sorted = [...nodes].sort((a, b) =>
    a.meta.id < b.meta.id ? -1 : a.meta.id > b.meta.id ? 1 : 0,
  );
  const infos = sorted.map((node, i) => new NodeInfo(node, i));
  const byId = new Map(infos.map((info) => [info.id, info]));
  for (const task of tasks) {
    if (skip.has(task.meta.id) || !holdsNode(task)) continue;
    byId.get(task.nodeId)?.addTask(task);
  }
  return infos;
}
