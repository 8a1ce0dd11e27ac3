// A small cluster for scheduler scenarios: build nodes and tasks with only the fields a scenario
// cares about, run `schedule` over them, and keep every plan it made. Assignments are applied
// back (node set, state 'assigned') so a later pass sees the earlier ones, as the store would.

import type {
  Node,
  NodeAvailability,
  NodeRole,
  NodeState,
  Task,
  TaskState,
} from '../../../src/api/objects.ts';
import { defaultServiceSpec } from '../../../src/api/service-defaults.ts';
import { type Plan, type ScheduleOptions, schedule } from '../../../src/manager/scheduler/index.ts';

const defaultTask = defaultServiceSpec('nginx:1.27').task;

export const GiB = 1024 ** 3;
const cpu = 1e9;
const at = '2025-01-01T00:00:00.000Z';

export interface NodeOptions {
  readonly cpus?: number;
  readonly memory?: number;
  readonly role?: NodeRole;
  readonly availability?: NodeAvailability;
  readonly state?: NodeState;
  readonly hostname?: string;
  readonly os?: string;
  readonly arch?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly engineLabels?: Readonly<Record<string, string>>;
  /** measuredAt defaults to a fixed time: the scheduler never reads it. */
  readonly usage?: { readonly cpuPercent: number; readonly memoryBytes: number } | null;
}

export function makeNode(id: string, o: NodeOptions = {}): Node {
  return {
    meta: { id, version: 1, createdAt: at, updatedAt: at },
    spec: {
      role: o.role ?? 'worker',
      availability: o.availability ?? 'active',
      labels: o.labels ?? {},
    },
    description: {
      hostname: o.hostname ?? `host-${id}`,
      platform: { os: o.os ?? 'linux', arch: o.arch ?? 'x86_64' },
      resources: { nanoCpus: (o.cpus ?? 4) * cpu, memoryBytes: o.memory ?? 8 * GiB },
      engine: { version: '27.0.0', labels: o.engineLabels ?? {} },
      usage: o.usage ? { ...o.usage, measuredAt: at } : null,
    },
    status: { state: o.state ?? 'ready', message: '', addr: '10.0.0.1' },
  };
}

export interface TaskOptions {
  /** Default `<service>.<slot>`; global tasks (slot 0) need their own. */
  readonly id?: string;
  readonly constraints?: readonly string[];
  /** Spread descriptors, e.g. 'node.labels.zone'. */
  readonly spread?: readonly string[];
  readonly maxPerNode?: number;
  readonly cpus?: number;
  readonly memory?: number;
  readonly nodeId?: string;
  readonly desiredState?: TaskState;
  readonly state?: TaskState;
}

/** Task ids read `<service>.<slot>`, so a plan reads like `service ps`. */
export function makeTask(serviceId: string, slot: number, o: TaskOptions = {}): Task {
  const nodeId = o.nodeId ?? '';
  return {
    meta: { id: o.id ?? `${serviceId}.${slot}`, version: 1, createdAt: at, updatedAt: at },
    serviceId,
    slot,
    nodeId,
    spec: {
      ...defaultTask,
      resources: {
        limits: defaultTask.resources.limits,
        reservations: { nanoCpus: (o.cpus ?? 0) * cpu, memoryBytes: o.memory ?? 0 },
      },
      placement: {
        constraints: o.constraints ?? [],
        preferences: (o.spread ?? []).map((spread) => ({ spread })),
        maxReplicasPerNode: o.maxPerNode ?? 0,
      },
    },
    serviceVersion: 1,
    desiredState: o.desiredState ?? 'running',
    status: {
      state: o.state ?? (nodeId === '' ? 'pending' : 'running'),
      timestamp: at,
      message: '',
    },
  };
}

export class Cluster {
  readonly nodes: Node[] = [];
  tasks: Task[] = [];
  readonly plans: Plan[] = [];
  readonly options: ScheduleOptions;

  constructor(options: ScheduleOptions = {}) {
    this.options = options;
  }

  node(id: string, o: NodeOptions = {}): this {
    this.nodes.push(makeNode(id, o));
    return this;
  }

  /** Adds `count` pending tasks of a service (slots after its existing ones) and returns them. */
  replicas(serviceId: string, count: number, o: TaskOptions = {}): Task[] {
    const taken = this.tasks.filter((t) => t.serviceId === serviceId).length;
    const added = Array.from({ length: count }, (_, i) => makeTask(serviceId, taken + i + 1, o));
    this.tasks.push(...added);
    return added;
  }

  /** Adds a task already running on a node. */
  running(serviceId: string, nodeId: string, o: TaskOptions = {}): Task {
    const slot = this.tasks.filter((t) => t.serviceId === serviceId).length + 1;
    const task = makeTask(serviceId, slot, { ...o, nodeId });
    this.tasks.push(task);
    return task;
  }

  /** Schedules the given tasks (default: every unassigned one), records and applies the plan. */
  schedule(pending: readonly Task[] = this.tasks.filter((t) => t.nodeId === '')): Plan {
    const plan = schedule({ nodes: this.nodes, tasks: this.tasks }, pending, this.options);
    this.plans.push(plan);
    const placed = new Map(plan.assignments.map((a) => [a.taskId, a.nodeId]));
    this.tasks = this.tasks.map((t) => {
      const nodeId = placed.get(t.meta.id);
      return nodeId === undefined
        ? t
        : { ...t, nodeId, status: { ...t.status, state: 'assigned' as const } };
    });
    return plan;
  }

  /** Tasks of the service holding each node (every node listed, 0 included), in node order. */
  perNode(serviceId: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const node of this.nodes) counts[node.meta.id] = 0;
    for (const t of this.tasks) {
      if (t.serviceId === serviceId && t.nodeId !== '')
        counts[t.nodeId] = (counts[t.nodeId] ?? 0) + 1;
    }
    return counts;
  }

  /** Where each task of the last plan went, by task id. */
  placements(): Record<string, string> {
    const last = this.plans.at(-1);
    return Object.fromEntries((last?.assignments ?? []).map((a) => [a.taskId, a.nodeId]));
  }

  /** The distinct reasons of the last plan's unschedulable tasks, with how many tasks each. */
  reasons(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const u of this.plans.at(-1)?.unschedulable ?? [])
      out[u.reason] = (out[u.reason] ?? 0) + 1;
    return out;
  }
}
