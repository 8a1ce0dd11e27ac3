import type { NetworkSpec, ServiceSpec, TaskSpec, TaskState } from '../../src/api/objects.ts';
import { defaultServiceSpec } from '../../src/api/service-defaults.ts';
import type { NewObject, Proposer, Store } from '../../src/store/index.ts';

export const taskSpec: TaskSpec = defaultServiceSpec('nginx:1.27').task;

export function serviceSpec(name: string, replicas = 1): ServiceSpec {
  return { ...defaultServiceSpec('nginx:1.27'), name, mode: { kind: 'replicated', replicas } };
}

/** An overlay network's spec, with the given subnet (and gateway) or from the pool. */
export function networkSpec(name: string, ipam?: NetworkSpec['ipam']): NetworkSpec {
  return {
    name,
    labels: {},
    driver: 'overlay',
    attachable: false,
    ...(ipam === undefined ? {} : { ipam }),
  };
}

export function newService(name: string, replicas = 1): NewObject<'services'> {
  return { spec: serviceSpec(name, replicas), previousSpec: null, updateStatus: null };
}

export function newTask(
  serviceId: string,
  slot: number,
  nodeId = '',
  desiredState: TaskState = 'running',
): NewObject<'tasks'> {
  return {
    serviceId,
    slot,
    nodeId,
    spec: taskSpec,
    serviceVersion: 1,
    desiredState,
    status: { state: 'new', timestamp: '2025-01-01T00:00:00.000Z', message: 'created' },
  };
}

export function newNode(hostname: string): NewObject<'nodes'> {
  return {
    spec: { role: 'worker', availability: 'active', labels: {} },
    description: {
      hostname,
      platform: { os: 'linux', arch: 'amd64' },
      resources: { nanoCpus: 4e9, memoryBytes: 8 * 2 ** 30 },
      engine: { version: '27.0', labels: {} },
      usage: null,
    },
    status: { state: 'ready', message: '', addr: '10.0.0.1' },
  };
}

/** A clock that moves one second per reading, so timestamps are predictable. */
export function steppingClock(start = Date.parse('2025-01-01T00:00:00Z')): () => Date {
  let t = start;
  return () => {
    t += 1000;
    return new Date(t);
  };
}

/** Ids id-1, id-2, ...: readable in failures, identical across runs. */
export function countingIds(prefix = 'id'): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

/**
 * The log of a cluster in one process: commands are applied, at increasing indexes, to every
 * member store in order, the first member answering the proposer. While `holding`, commands
 * wait for flush(): how a test puts two proposals in flight from the same state.
 */
export class TestLog implements Proposer {
  readonly members: Store[] = [];
  readonly entries: Uint8Array[] = [];
  holding = false;
  private index = 0;
  private waiting: { command: Uint8Array; resolve(v: unknown): void; reject(e: unknown): void }[] =
    [];

  /** Adds a member; returns it for chaining. */
  join(store: Store): Store {
    this.members.push(store);
    return store;
  }

  propose(command: Uint8Array): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ command, resolve, reject });
      if (!this.holding) this.flush();
    });
  }

  get held(): number {
    return this.waiting.length;
  }

  flush(): void {
    const batch = this.waiting;
    this.waiting = [];
    for (const w of batch) {
      const index = ++this.index;
      this.entries.push(w.command);
      let outcome: { ok: true; value: unknown } | { ok: false; err: unknown } | undefined;
      for (const store of this.members) {
        try {
          const value = store.apply(w.command, index);
          outcome ??= { ok: true, value };
        } catch (err) {
          outcome ??= { ok: false, err };
        }
      }
      if (outcome?.ok === true) w.resolve(outcome.value);
      else w.reject(outcome?.err);
    }
  }
}
