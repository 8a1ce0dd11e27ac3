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
  #load: number;

  /** `unknownLoad`: the load to assume while the node has not reported its usage. */
  constructor(node: Node, index: number, unknownLoad = 0) {
    this.node = node;
    this.index = index;
    this.#load = reportedLoad(node) ?? unknownLoad;
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
   * The larger of the host's CPU and memory fractions in use, fixed for the pass. A node that has
   * not reported usage counts as the average of those that have (see buildNodeInfos).
   */
  get load(): number {
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

/** The larger of the CPU and memory fractions in use; null when the node has not reported. */
function reportedLoad(node: Node): number | null {
  const { usage, resources } = node.description;
  if (usage === null) return null;
  const memory = resources.memoryBytes > 0 ? usage.memoryBytes / resources.memoryBytes : 0;
  return Math.max(usage.cpuPercent / 100, memory, 0);
}

/**
 * The load assumed for a node that has not reported usage: the average of those that have, so
 * that it is neither preferred as idle nor avoided as busy, and the order stays a total order
 * (a node that tied with every other would make "best" depend on the walk). 0 when none has.
 */
function averageReportedLoad(nodes: readonly Node[]): number {
  let sum = 0;
  let count = 0;
  for (const node of nodes) {
    const load = reportedLoad(node);
    if (load === null) continue;
    sum += load;
    count++;
  }
  return count === 0 ? 0 : sum / count;
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
  const unknownLoad = averageReportedLoad(sorted);
  const infos = sorted.map((node, i) => new NodeInfo(node, i, unknownLoad));
  const byId = new Map(infos.map((info) => [info.id, info]));
  for (const task of tasks) {
    if (skip.has(task.meta.id) || !holdsNode(task)) continue;
    byId.get(task.nodeId)?.addTask(task);
  }
  return infos;
}
