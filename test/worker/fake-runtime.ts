// An in-memory Runtime for the worker's unit tests: containers in a Map, every call recorded,
// failures injected per method. The same controller and agent run against Docker in
// agent.test.ts.

import type { Readable } from 'node:stream';
import { ImageUnavailableError } from '../../src/errors.ts';
import type {
  ContainerGone,
  ContainerInfo,
  ContainerSummary,
  EventSubscription,
  ImageFacts,
  Runtime,
  RuntimeTask,
} from '../../src/worker/runtime.ts';
import type { AssignedTask } from '../../src/worker/task-controller.ts';

export type Call = [string, ...unknown[]];

/** Containers in a Map; `fail` makes the next calls of a method throw. */
export class FakeRuntime implements Runtime {
  readonly calls: Call[] = [];
  readonly containers = new Map<string, ContainerInfo>();
  readonly images = new Set<string>(['busybox']);
  readonly failures = new Map<string, Error[]>();
  /** Every list call throws while set (an engine the poll cannot reach). */
  listFails = false;
  #seq = 0;

  fail(method: string, ...errors: Error[]): void {
    this.failures.set(method, errors);
  }

  count(method: string): number {
    return this.calls.filter((c) => c[0] === method).length;
  }

  inspected(id: string): number {
    return this.calls.filter((c) => c[0] === 'inspect' && c[1] === id).length;
  }

  #enter(method: string, ...args: unknown[]): void {
    this.calls.push([method, ...args]);
    const err = this.failures.get(method)?.shift();
    if (err) throw err;
  }

  /** Whether the images have a HEALTHCHECK. */
  imageHealthcheck = false;

  async ensureImage(image: string): Promise<ImageFacts> {
    this.#enter('ensureImage', image);
    if (!this.images.has(image)) throw new ImageUnavailableError(image, 'manifest unknown');
    return { healthcheck: this.imageHealthcheck };
  }

  async create(task: RuntimeTask): Promise<string> {
    this.#enter('create', task.id);
    const id = `c${++this.#seq}`;
    const labels = { 'orca.task.id': task.id, 'orca.node.id': task.nodeId };
    this.containers.set(id, containerInfo(id, { state: 'created', labels }));
    return id;
  }

  /** What a started container's health is: set to 'starting' for one with a health check. */
  healthOnStart: ContainerInfo['health'] = null;

  async start(id: string): Promise<void> {
    this.#enter('start', id);
    const pid = 1000 + Number(id.slice(1));
    this.set(id, { state: 'running', startedAt: 'now', health: this.healthOnStart, pid });
  }

  setHealth(id: string, health: ContainerInfo['health']): void {
    this.set(id, { health });
  }

  async inspect(id: string): Promise<ContainerInfo | ContainerGone> {
    this.#enter('inspect', id);
    return this.containers.get(id) ?? { gone: true, id };
  }

  async stop(id: string, graceMs: number, signal?: string): Promise<void> {
    this.#enter('stop', id, graceMs, signal);
    if (this.containers.get(id)?.state === 'running') this.exit(id, 143);
  }

  async remove(id: string): Promise<void> {
    this.#enter('remove', id);
    this.containers.delete(id);
  }

  async list(): Promise<ContainerSummary[]> {
    this.#enter('list');
    if (this.listFails) throw new Error('engine unreachable');
    return [...this.containers.values()];
  }

  events(): EventSubscription {
    return { ready: Promise.resolve(), close() {} };
  }

  async pruneNetworks(): Promise<number> {
    return 0;
  }

  async logs(): Promise<Readable> {
    throw new Error('not in this fake');
  }

  exit(id: string, exitCode: number): void {
    const { pid: _gone, ...c } = this.containers.get(id) ?? containerInfo(id);
    this.containers.set(id, { ...c, state: 'exited', exitCode, finishedAt: 'now' });
  }

  /** A change behind the worker's back, with no event (as across an event stream gap). */
  set(id: string, change: Partial<ContainerInfo>): void {
    const c = this.containers.get(id);
    if (c) this.containers.set(id, { ...c, ...change });
  }
}

export function containerInfo(id: string, over: Partial<ContainerInfo> = {}): ContainerInfo {
  return {
    gone: false,
    id,
    name: id,
    state: 'running',
    exitCode: null,
    error: '',
    oomKilled: false,
    health: null,
    startedAt: null,
    finishedAt: null,
    labels: {},
    ...over,
  };
}

/** Task n of service s1 (replicated, slot n) as the dispatcher assigns it to `nodeId`. */
export function assignedTask(n: number, nodeId = 'n1'): AssignedTask {
  return {
    meta: { id: `t${n}`, version: 1, createdAt: '', updatedAt: '' },
    serviceId: 's1',
    serviceName: 'web',
    slot: n,
    nodeId,
    serviceVersion: 1,
    desiredState: 'running',
    status: { state: 'assigned', message: 'assigned', timestamp: new Date().toISOString() },
    spec: {
      container: {
        image: 'busybox',
        env: [],
        labels: {},
        init: true,
        stopGracePeriodMs: 1_000,
        mounts: [],
      },
      resources: {
        limits: { nanoCpus: 0, memoryBytes: 0 },
        reservations: { nanoCpus: 0, memoryBytes: 0 },
      },
      restart: { condition: 'any', delayMs: 0, maxAttempts: 0, windowMs: 0 },
      placement: { constraints: [], preferences: [], maxReplicasPerNode: 0 },
      forceUpdate: 0,
    },
  };
}
