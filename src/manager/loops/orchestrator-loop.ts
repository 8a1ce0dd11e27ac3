// The orchestrators' reconcile loop: on every commit that touches services, tasks, nodes or the
// cluster (and at the deadlines the decisions ask for), every service is decided again from the
// store and its plans applied in one transaction per service. A service whose write is refused
// (another writer got there first) is simply decided again on the next pass.

import type { Service, Task } from '../../api/objects.ts';
import { StoreConflictError, TransactionTooLargeError } from '../../errors.ts';
import type { Store, WriteTx } from '../../store/index.ts';
import {
  type DesiredStateChange,
  type NewTask,
  planUpdate,
  reapHistory,
  reapRemovedService,
  reconcileService,
} from '../orchestrator/index.ts';
import {
  type LoopLog,
  type PassResult,
  type ReconcileLoop,
  runPasses,
  silentLog,
} from './reconcile.ts';

export interface OrchestratorLoopOptions {
  readonly store: Store;
  /** ms since the epoch. */
  readonly now?: () => number;
  readonly log?: LoopLog;
  /** After a refused write, pass again this soon even if no commit arrives (default 500 ms). */
  readonly retryMs?: number;
}

/** Swarm's default, for a store that has no cluster object yet. */
const defaultHistoryLimit = 5;

/** What one service's pass decided: written in one transaction. */
interface Changes {
  readonly create: NewTask[];
  readonly update: Map<string, DesiredStateChange>;
  readonly delete: Set<string>;
  /** The service as it should be stored, or null to leave it. */
  service: Service | null;
}

export class OrchestratorLoop implements ReconcileLoop {
  readonly name = 'orchestrator';
  readonly #store: Store;
  readonly #now: () => number;
  readonly #log: LoopLog;
  readonly #retryMs: number;
  readonly #halt = new AbortController();

  constructor(opts: OrchestratorLoopOptions) {
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentLog;
    this.#retryMs = opts.retryMs ?? 500;
  }

  run(signal: AbortSignal): Promise<void> {
    return runPasses({
      store: this.#store,
      tables: ['services', 'tasks', 'nodes', 'clusters'],
      signal: AbortSignal.any([signal, this.#halt.signal]),
      pass: () => this.pass(),
      now: this.#now,
      retryMs: this.#retryMs,
      log: this.#log,
      name: this.name,
    });
  }

  stop(): void {
    this.#halt.abort();
  }

  /** One reconciliation of every service; exposed for tests that step the loop by hand. */
  async pass(): Promise<PassResult> {
    const now = this.#now();
    const { services, tasks, nodes, historyLimit } = this.#store.view((tx) => ({
      services: tx.services.all(),
      tasks: tx.tasks.all(),
      nodes: tx.nodes.all(),
      historyLimit: tx.clusters.all()[0]?.spec.taskHistoryLimit ?? defaultHistoryLimit,
    }));
    const byService = new Map<string, Task[]>();
    for (const task of tasks) {
      const list = byService.get(task.serviceId);
      if (list === undefined) byService.set(task.serviceId, [task]);
      else list.push(task);
    }

    let wakeAt: number | null = null;
    let retry = false;
    const decided: { id: string; changes: Changes }[] = [];
    for (const service of services) {
      const own = byService.get(service.meta.id) ?? [];
      byService.delete(service.meta.id);
      try {
        const plan = reconcileService(service, own, nodes, now);
        const update = planUpdate(service, own, nodes, now);
        for (const at of [plan.wakeAt, update.plan.wakeAt]) {
          if (at !== null && (wakeAt === null || at < wakeAt)) wakeAt = at;
        }
        const changes = emptyChanges();
        addPlan(changes, plan);
        addPlan(changes, update.plan);
        for (const id of reapHistory(own, historyLimit)) {
          if (!changes.update.has(id)) changes.delete.add(id);
        }
        const rolledBack = update.rollBack && service.previousSpec !== null;
        if (rolledBack) {
          changes.service = {
            ...service,
            spec: service.previousSpec!,
            previousSpec: service.spec,
            updateStatus: update.updateStatus,
          };
        } else if (update.updateStatus !== service.updateStatus) {
          changes.service = {
            ...service,
            updateStatus: update.updateStatus,
          };
        }
        decided.push({ id: service.meta.id, changes });
      } catch (err) {
        // One service's bad spec must not hold up the others.
        this.#log.warn({ err, serviceId: service.meta.id }, 'orchestrating the service failed');
      }
    }
    // What is left belongs to services that were removed.
    for (const [serviceId, own] of byService) {
      const changes = emptyChanges();
      addPlan(changes, reapRemovedService(own, nodes));
      decided.push({ id: serviceId, changes });
    }

    for (const { id, changes } of decided) {
      if (isEmpty(changes)) continue;
      try {
        await this.#apply(changes);
      } catch (err) {
        retry = true;
        const level = err instanceof StoreConflictError ? 'debug' : 'warn';
        this.#log[level]({ err, serviceId: id }, 'applying the orchestrator plan failed; retrying');
      }
    }
    return { wakeAt, retry };
  }

  async #apply(changes: Changes): Promise<void> {
    const write = (tx: WriteTx) => {
      for (const task of changes.create) tx.tasks.create(task);
      for (const { task, desiredState } of changes.update.values()) {
        tx.tasks.update({ ...task, desiredState });
      }
      for (const id of changes.delete) if (tx.tasks.get(id) !== undefined) tx.tasks.delete(id);
      if (changes.service !== null) tx.services.update(changes.service);
    };
    try {
      await this.#store.update(write);
    } catch (err) {
      // Thousands of replicas at once: each piece is still all-or-nothing per object.
      if (!(err instanceof TransactionTooLargeError)) throw err;
      await this.#store.batch(write);
    }
  }
}

function emptyChanges(): Changes {
  return { create: [], update: new Map(), delete: new Set(), service: null };
}

function addPlan(
  changes: Changes,
  plan: {
    readonly create: readonly NewTask[];
    readonly update: readonly DesiredStateChange[];
    readonly delete: readonly string[];
  },
): void {
  changes.create.push(...plan.create);
  for (const u of plan.update) changes.update.set(u.task.meta.id, u);
  for (const id of plan.delete) changes.delete.add(id);
}

function isEmpty(c: Changes): boolean {
  return c.create.length === 0 && c.update.size === 0 && c.delete.size === 0 && c.service === null;
}
