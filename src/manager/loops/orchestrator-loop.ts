// The orchestrators' reconcile loop: on every commit that touches services, tasks, nodes or the
// cluster (and at the deadlines the decisions ask for), services are decided again from the
// store and their plans applied in one transaction per service. A commit to a service or to
// its tasks has that service decided again; one to a node or the cluster, a deadline, a retry
// or a new watch, every service. A service whose write is refused (another writer got there
// first) is decided again on the next pass, which is a full one.

import type { Service, Task, TaskStatus } from '../../api/objects.ts';
import { StoreConflictError, TransactionTooLargeError } from '../../errors.ts';
import type { ObjectEvent, Store, WriteTx } from '../../store/index.ts';
import {
  type DesiredStateChange,
  type NewTask,
  planUpdate,
  reapHistory,
  reapRemovedService,
  reconcileService,
} from '../orchestrator/index.ts';
import { Addressing, noteText } from './addressing.ts';
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
  /**
   * After a task was left out because a network had no free address, decide its service again
   * this soon (default 5 s): an address is freed by another service's task as often as by its own.
   */
  readonly addressRetryMs?: number;
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
  readonly #addressRetryMs: number;
  readonly #halt = new AbortController();
  /** The services the events since the last pass touched; 'all' after one that touched all. */
  #dirty: Set<string> | 'all' = 'all';
  /** Each service's deadline from its last decision: a narrowed pass keeps the others'. */
  readonly #wakeAts = new Map<string, number>();

  constructor(opts: OrchestratorLoopOptions) {
    this.#store = opts.store;
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentLog;
    this.#retryMs = opts.retryMs ?? 500;
    this.#addressRetryMs = opts.addressRetryMs ?? 5_000;
  }

  run(signal: AbortSignal): Promise<void> {
    return runPasses({
      store: this.#store,
      tables: ['services', 'tasks', 'nodes', 'clusters'],
      signal: AbortSignal.any([signal, this.#halt.signal]),
      pass: () => {
        const scope = this.#dirty;
        this.#dirty = new Set();
        return this.#pass(scope);
      },
      notice: (e) => this.#notice(e),
      everything: () => {
        this.#dirty = 'all';
      },
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
  pass(): Promise<PassResult> {
    return this.#pass('all');
  }

  /**
   * Whether the event can change a decision, noting the service it concerns. Nodes and the
   * cluster bear on every service. A task's status bears on its service only as far as the
   * decisions read it (see `decisiveStatus`): the steps a worker reports on the way to running
   * (accepted, preparing, starting, created) change no decision, so they wake no pass.
   */
  #notice(e: ObjectEvent): boolean {
    if (e.table === 'services') return this.#mark(e.object.meta.id);
    if (e.table === 'tasks') {
      if (e.kind === 'update' && sameDecisions(e.previous, e.object)) return false;
      return this.#mark(e.object.serviceId);
    }
    this.#dirty = 'all';
    return true;
  }

  #mark(serviceId: string): boolean {
    if (this.#dirty !== 'all') this.#dirty.add(serviceId);
    return true;
  }

  async #pass(scope: ReadonlySet<string> | 'all'): Promise<PassResult> {
    const now = this.#now();
    const { services, byService, nodes, historyLimit } = this.#store.view((tx) => {
      const byService = new Map<string, readonly Task[]>();
      let services: readonly Service[];
      if (scope === 'all') {
        services = tx.services.all();
        const grouped = new Map<string, Task[]>();
        for (const task of tx.tasks.all()) {
          const list = grouped.get(task.serviceId);
          if (list === undefined) grouped.set(task.serviceId, [task]);
          else list.push(task);
        }
        for (const [id, list] of grouped) byService.set(id, list);
      } else {
        const some: Service[] = [];
        services = some;
        for (const id of scope) {
          const service = tx.services.get(id);
          if (service !== undefined) some.push(service);
          const tasks = tx.tasks.byService(id);
          if (tasks.length > 0) byService.set(id, tasks);
        }
      }
      return {
        services,
        byService,
        nodes: tx.nodes.all(),
        historyLimit: tx.clusters.all()[0]?.spec.taskHistoryLimit ?? defaultHistoryLimit,
      };
    });
    if (scope === 'all') this.#wakeAts.clear();
    else for (const id of scope) this.#wakeAts.delete(id);

    let retry = false;
    const decided: { id: string; changes: Changes }[] = [];
    for (const service of services) {
      const own = byService.get(service.meta.id) ?? [];
      byService.delete(service.meta.id);
      try {
        const plan = reconcileService(service, own, nodes, now);
        const update = planUpdate(service, own, nodes, now);
        const at = [plan.wakeAt, update.plan.wakeAt].filter((t) => t !== null);
        if (at.length > 0) this.#wakeAts.set(service.meta.id, Math.min(...at));
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
        if (await this.#apply(changes)) {
          // A network was full: nothing in this service's own tasks may change to wake it
          // when another service's task frees an address, so it asks again by itself.
          const at = this.#now() + this.#addressRetryMs;
          this.#wakeAts.set(id, Math.min(this.#wakeAts.get(id) ?? at, at));
        }
      } catch (err) {
        retry = true;
        const level = err instanceof StoreConflictError ? 'debug' : 'warn';
        this.#log[level]({ err, serviceId: id }, 'applying the orchestrator plan failed; retrying');
      }
    }
    let wakeAt: number | null = null;
    for (const at of this.#wakeAts.values()) if (wakeAt === null || at < wakeAt) wakeAt = at;
    return { wakeAt, retry };
  }

  /**
   * Writes one service's changes, giving the new tasks their network addresses from the state
   * the write reads. Returns whether a task was left out for want of a free address.
   */
  async #apply(changes: Changes): Promise<boolean> {
    let addressing: Addressing | null = null;
    const write = (tx: WriteTx) => {
      const a = new Addressing(tx);
      addressing = a;
      for (const task of changes.create) {
        const addressed = a.task(task);
        if (addressed !== null) tx.tasks.create(addressed);
      }
      for (const { task, desiredState } of changes.update.values()) {
        tx.tasks.update({ ...task, desiredState });
      }
      for (const id of changes.delete) if (tx.tasks.get(id) !== undefined) tx.tasks.delete(id);
      if (changes.service !== null) tx.services.update(a.service(changes.service));
    };
    try {
      await this.#store.update(write);
    } catch (err) {
      // Thousands of replicas at once: each piece is still all-or-nothing per object.
      if (!(err instanceof TransactionTooLargeError)) throw err;
      await this.#store.batch(write);
    }
    const done = addressing as Addressing | null;
    if (done === null) return false;
    for (const note of done.notes) this.#log.warn(note, noteText(note));
    return done.exhausted;
  }
}

/**
 * Whether an update of a task leaves every decision as it was: the same desired state, node,
 * slot and service version (nothing rewrites a task's spec), and a status that reads the same
 * to the decisions.
 */
function sameDecisions(before: Task, after: Task): boolean {
  return (
    before.desiredState === after.desiredState &&
    before.nodeId === after.nodeId &&
    before.slot === after.slot &&
    before.serviceId === after.serviceId &&
    before.serviceVersion === after.serviceVersion &&
    decisiveStatus(before.status) === decisiveStatus(after.status)
  );
}

/**
 * What the decisions read of a status (task-state.ts, restart.ts, update.ts): before running
 * only that it has not run yet; once running, when it started; once stopped, how and when.
 */
function decisiveStatus(status: TaskStatus): string {
  switch (status.state) {
    case 'new':
    case 'pending':
    case 'assigned':
    case 'accepted':
    case 'preparing':
    case 'starting':
      return 'before running';
    case 'running':
      return `running ${status.timestamp}`;
    default:
      return `${status.state} ${status.timestamp} ${status.stoppedOutside === true}`;
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
