// Services, tasks and nodes for orchestrator scenarios, with only the fields a scenario cares
// about, plus a clock in seconds and a helper that applies a plan the way the loop will.

import type {
  RestartPolicy,
  Service,
  ServiceMode,
  Task,
  TaskSpec,
  TaskState,
  UpdateConfig,
  UpdateStatus,
} from '../../../src/api/objects.ts';
import {
  defaultServiceSpec,
  defaultUpdateConfig as defaultUpdate,
} from '../../../src/api/service-defaults.ts';
import type { Plan } from '../../../src/manager/orchestrator/index.ts';

export { makeNode } from '../scheduler/harness.ts';

export const t0 = Date.parse('2025-01-01T00:00:00.000Z');
/** Seconds after t0, in ms since the epoch. */
export const at = (seconds: number): number => t0 + seconds * 1000;
export const iso = (seconds: number): string => new Date(at(seconds)).toISOString();

export interface ServiceOptions {
  readonly id?: string;
  readonly version?: number;
  readonly image?: string;
  readonly restart?: Partial<RestartPolicy>;
  readonly update?: Partial<UpdateConfig>;
  readonly rollback?: Partial<UpdateConfig>;
  readonly constraints?: readonly string[];
  readonly updateStatus?: UpdateStatus | null;
  readonly previousImage?: string;
}

export function taskSpec(image = 'nginx:1', o: ServiceOptions = {}): TaskSpec {
  const defaults = defaultServiceSpec(image).task;
  return {
    ...defaults,
    restart: { ...defaults.restart, ...o.restart },
    placement: { ...defaults.placement, constraints: o.constraints ?? [] },
  };
}

export function makeService(mode: ServiceMode, o: ServiceOptions = {}): Service {
  const spec = (image: string) => ({
    name: 'web',
    labels: {},
    task: taskSpec(image, o),
    mode,
    update: { ...defaultUpdate, ...o.update },
    rollback: { ...defaultUpdate, ...o.rollback },
  });
  return {
    meta: { id: o.id ?? 'svc', version: o.version ?? 1, createdAt: iso(0), updatedAt: iso(0) },
    spec: spec(o.image ?? 'nginx:1'),
    previousSpec: o.previousImage === undefined ? null : spec(o.previousImage),
    updateStatus: o.updateStatus ?? null,
  };
}

export const replicated = (replicas: number): ServiceMode => ({ kind: 'replicated', replicas });
export const global: ServiceMode = { kind: 'global' };

export interface TaskOptions {
  readonly slot?: number;
  readonly node?: string;
  readonly state?: TaskState;
  readonly desired?: TaskState;
  /** Seconds after t0 when the task reached `state`. */
  readonly at?: number;
  /** Seconds after t0 when the task was created (default 0). */
  readonly created?: number;
  readonly exitCode?: number;
  readonly spec?: TaskSpec;
  readonly version?: number;
}

/** A task of `service`, running on `node` by default. */
export function makeTask(id: string, service: Service, o: TaskOptions = {}): Task {
  return {
    meta: { id, version: 1, createdAt: iso(o.created ?? 0), updatedAt: iso(o.at ?? 0) },
    serviceId: service.meta.id,
    slot: o.slot ?? 0,
    nodeId: o.node ?? 'n1',
    spec: o.spec ?? service.spec.task,
    serviceVersion: o.version ?? service.meta.version,
    desiredState: o.desired ?? 'running',
    status: {
      state: o.state ?? 'running',
      timestamp: iso(o.at ?? 0),
      message: '',
      ...(o.exitCode === undefined ? {} : { exitCode: o.exitCode }),
    },
  };
}

/** `count` running tasks in slots 1..count, spread over nodes n1..n3. */
export function runningSlots(service: Service, count: number, o: TaskOptions = {}): Task[] {
  return Array.from({ length: count }, (_, i) =>
    makeTask(`t${i + 1}`, service, { slot: i + 1, node: `n${(i % 3) + 1}`, ...o }),
  );
}

export const shutdowns = (plan: Plan): string[] => plan.update.map((u) => u.task.meta.id);
export const createdSlots = (plan: Plan): number[] => plan.create.map((t) => t.slot);
export const createdNodes = (plan: Plan): string[] => plan.create.map((t) => t.nodeId);

/**
 * Applies a plan as the loop would, with `now` as the store's clock: created tasks get ids
 * `<prefix>1..`, desired-state changes are written, deletions removed.
 */
export function apply(tasks: readonly Task[], plan: Plan, now: number, prefix = 'new'): Task[] {
  const changed = new Map(plan.update.map((u) => [u.task.meta.id, u.desiredState]));
  const gone = new Set(plan.delete);
  const kept = tasks
    .filter((task) => !gone.has(task.meta.id))
    .map((task) => {
      const desired = changed.get(task.meta.id);
      return desired === undefined ? task : { ...task, desiredState: desired };
    });
  const stamp = new Date(now).toISOString();
  const created = plan.create.map(
    (body, i): Task => ({
      ...body,
      meta: { id: `${prefix}${i + 1}`, version: 1, createdAt: stamp, updatedAt: stamp },
    }),
  );
  return [...kept, ...created];
}

/** The worker's side: moves a task's observed state, as its status report would. */
export function observe(
  tasks: readonly Task[],
  ids: readonly string[],
  state: TaskState,
  now: number,
  node?: string,
): Task[] {
  const set = new Set(ids);
  return tasks.map((task) =>
    set.has(task.meta.id)
      ? {
          ...task,
          nodeId: node ?? (task.nodeId === '' ? 'n1' : task.nodeId),
          status: { ...task.status, state, timestamp: new Date(now).toISOString() },
        }
      : task,
  );
}
