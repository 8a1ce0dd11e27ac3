// The worker's core: the tasks assigned to this node, a controller per task, status reports
// going up in batches. How assignments arrive (the dispatcher session) is not its concern:
// whoever holds the session calls setAssignments with the full set and receives onStatus.
//
// Edge- and level-triggered at once, as swarmkit's worker: Runtime events (die, destroy,
// health_status) step the task concerned at once, so `docker rm -f` is noticed within a second,
// and a periodic poll steps every watched task anyway, because an event stream can lose events
// across a reconnect.

import { setTimeout as delay } from 'node:timers/promises';
import { containerLabels, type TaskStatus } from '../api/objects.ts';
import type { ContainerSummary, EventSubscription, Runtime, RuntimeEvent } from './runtime.ts';
import type { TaskSandboxes } from './sandboxes.ts';
import {
  type AssignedTask,
  forward,
  isTerminal,
  rank,
  recover,
  TaskController,
} from './task-controller.ts';

/** Enough of a pino logger. */
export interface AgentLog {
  warn(obj: object, msg: string): void;
}

export interface WorkerAgentOptions {
  readonly runtime: Runtime;
  readonly nodeId: string;
  /**
   * The latest status of each task that changed since the last flush, called once per task at
   * each flush (a batch arrives synchronously, one call after the other).
   */
  readonly onStatus: (taskId: string, status: TaskStatus) => void;
  readonly clock?: () => Date;
  /**
   * Changes are flushed at most this long after they happen (default 200 ms); a task that
   * now runs or has ended goes out at once, with whatever else is pending.
   */
  readonly flushIntervalMs?: number;
  /** Every watched task's container is inspected this often (default 5 s). */
  readonly pollIntervalMs?: number;
  /** First retry after a temporary failure (default 500 ms), doubling up to 10 s. */
  readonly retryDelayMs?: number;
  /** Consecutive temporary failures of one step before it fails the task (default 5). */
  readonly maxTemporaryFailures?: number;
  /** Grace period for containers no task owns (default 10 s, as Swarm's default). */
  readonly orphanGraceMs?: number;
  readonly log?: AgentLog;
  /** Sets up the namespaces of running tasks on orca networks; absent: nothing to set up. */
  readonly sandboxes?: TaskSandboxes;
}

interface Entry {
  task: AssignedTask;
  status: TaskStatus;
  readonly controller: TaskController;
  /** No longer assigned: drive it to removal, report nothing more. */
  unassigned: boolean;
  /** Another step is wanted after the one in flight. */
  dirty: boolean;
  loop: Promise<void> | null;
  retries: number;
  retryTimer: NodeJS.Timeout | null;
}

export class WorkerAgent {
  readonly #runtime: Runtime;
  readonly #nodeId: string;
  readonly #onStatus: (taskId: string, status: TaskStatus) => void;
  readonly #clock: () => Date;
  readonly #flushMs: number;
  readonly #pollMs: number;
  readonly #retryMs: number;
  readonly #maxTemporary: number;
  readonly #orphanGraceMs: number;
  readonly #log: AgentLog | undefined;
  readonly #sandboxes: TaskSandboxes | undefined;

  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, TaskStatus>();
  /** Orphan removals and the like, awaited by stop(). */
  readonly #chores = new Set<Promise<void>>();
  #assignmentsKnown = false;
  #started = false;
  #ready = false;
  #adopting = false;
  #adopted = false;
  #polling = false;
  #stopped = false;
  readonly #halt = new AbortController();
  #events: EventSubscription | null = null;
  #flushTimer: NodeJS.Timeout | null = null;
  #flushNow: NodeJS.Immediate | null = null;
  #pollTimer: NodeJS.Timeout | null = null;

  constructor(opts: WorkerAgentOptions) {
    this.#runtime = opts.runtime;
    this.#nodeId = opts.nodeId;
    this.#onStatus = opts.onStatus;
    this.#clock = opts.clock ?? (() => new Date());
    this.#flushMs = opts.flushIntervalMs ?? 200;
    this.#pollMs = opts.pollIntervalMs ?? 5_000;
    this.#retryMs = opts.retryDelayMs ?? 500;
    this.#maxTemporary = opts.maxTemporaryFailures ?? 5;
    this.#orphanGraceMs = opts.orphanGraceMs ?? 10_000;
    this.#log = opts.log;
    this.#sandboxes = opts.sandboxes;
  }

  /**
   * Subscribes to Runtime events, then adopts this node's containers once the assignments are
   * known: adopting before would take every container for an orphan and remove it, so after a
   * restart nothing runs until the first full assignment set has arrived.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const sub = this.#runtime.events((e) => this.#onEvent(e), {
      // Events in the gap may be lost: look at everything.
      onDisconnect: () => this.#kickWatched(),
    });
    this.#events = sub;
    // An engine that is down keeps `ready` pending: stop() must still be able to end start().
    const halted = new Promise<void>((resolve) => {
      this.#halt.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([sub.ready, halted]);
    if (this.#stopped) return;
    this.#ready = true;
    this.#pollTimer = setInterval(() => this.#chore(this.#poll()), this.#pollMs);
    this.#pollTimer.unref();
    if (this.#assignmentsKnown) await this.#adopt();
  }

  /** The full set of tasks assigned to this node; tasks missing from it are removed. */
  setAssignments(tasks: readonly AssignedTask[]): void {
    if (this.#stopped) return;
    this.#assignmentsKnown = true;
    const ids = new Set<string>();
    // Only these need a step now: a running task the set merely repeats is watched by events
    // and the poll, and stepping it would cost an inspect per task on every new set.
    const changed: string[] = [];
    for (const task of tasks) {
      const id = task.meta.id;
      ids.add(id);
      const entry = this.#entries.get(id);
      // Within this agent's life the manager's copy of a status is this node's own report,
      // echoed back (a fresh object, often one report behind): only a later state is news.
      const ahead = entry !== undefined && rank(task.status.state) > rank(entry.status.state);
      if (entry === undefined) changed.push(id);
      else if (entry.unassigned || task.desiredState !== entry.task.desiredState || ahead) {
        changed.push(id);
      }
      if (entry === undefined) {
        this.#entries.set(id, {
          task,
          status: task.status,
          controller: new TaskController({
            runtime: this.#runtime,
            clock: this.#clock,
            maxTemporaryFailures: this.#maxTemporary,
          }),
          unassigned: false,
          dirty: false,
          loop: null,
          retries: 0,
          retryTimer: null,
        });
      } else {
        if (entry.retryTimer !== null && task.desiredState !== entry.task.desiredState) {
          // A new goal is not held up by the backoff of the old one.
          clearTimeout(entry.retryTimer);
          entry.retryTimer = null;
        }
        entry.task = task;
        entry.unassigned = false;
        // The manager's copy lags this node's reports, or is ahead after a restart: keep the
        // later. At the same state this node's is never older, and it may hold what the echo
        // does not have yet (the container id of a create still being reported).
        if (ahead) entry.status = task.status;
      }
    }
    for (const [id, entry] of this.#entries) {
      if (!ids.has(id) && !entry.unassigned) {
        entry.unassigned = true;
        entry.task = { ...entry.task, desiredState: 'remove' };
        this.#pending.delete(id);
        changed.push(id);
      }
    }
    // Adopting only once events flow: a container dying in between would go unnoticed.
    if (!this.#ready || this.#stopped) return;
    if (!this.#adopting) {
      this.#chore(this.#adopt());
      return;
    }
    for (const id of changed) this.#kick(id);
  }

  /** The statuses as this node last saw them (reported or not). */
  statuses(): Map<string, TaskStatus> {
    const out = new Map<string, TaskStatus>();
    for (const [id, e] of this.#entries) if (!e.unassigned) out.set(id, e.status);
    return out;
  }

  /** Delivers the pending changes now. */
  flush(): void {
    if (this.#flushTimer !== null) clearTimeout(this.#flushTimer);
    this.#flushTimer = null;
    if (this.#flushNow !== null) clearImmediate(this.#flushNow);
    this.#flushNow = null;
    const batch = [...this.#pending];
    this.#pending.clear();
    for (const [id, status] of batch) {
      try {
        this.#onStatus(id, status);
      } catch (err) {
        // A bug in the caller: surface it, but not at the cost of the rest of the batch.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }

  /**
   * Stops watching and driving, leaving the containers as they are (as dockerd and Swarm's
   * agent do): a restarted agent adopts them. Waits for steps in flight, then flushes.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#halt.abort();
    this.#events?.close();
    if (this.#pollTimer !== null) clearInterval(this.#pollTimer);
    for (const e of this.#entries.values()) {
      if (e.retryTimer !== null) clearTimeout(e.retryTimer);
      e.retryTimer = null;
    }
    const inFlight = [...this.#entries.values()].flatMap((e) => (e.loop ? [e.loop] : []));
    await Promise.allSettled([...inFlight, ...this.#chores]);
    this.flush();
  }

  async #adopt(): Promise<void> {
    if (this.#adopting) return;
    this.#adopting = true;
    let found: ContainerSummary[];
    for (let attempt = 0; ; attempt++) {
      try {
        found = await this.#runtime.list({ [containerLabels.node]: this.#nodeId });
        break;
      } catch (err) {
        if (this.#stopped) return;
        this.#log?.warn({ err, attempt }, 'listing containers for adoption failed; retrying');
        await this.#wait(this.#backoff(attempt));
      }
    }
    // A task has one container: the one its status names, else a running one. Duplicates (orca
    // never makes them on purpose) go like orphans.
    const order = (c: ContainerSummary): number => (c.state === 'running' ? 0 : 1);
    found.sort((a, b) => order(a) - order(b));
    const kept = new Set<string>();
    for (const c of found) {
      const taskId = c.labels[containerLabels.task] ?? '';
      const entry = this.#entries.get(taskId);
      const named = entry?.status.containerId;
      const owned =
        entry !== undefined &&
        !entry.unassigned &&
        !kept.has(taskId) &&
        (named === undefined || named === c.id);
      if (!owned || entry === undefined) {
        this.#chore(this.#removeOrphan(c));
        continue;
      }
      kept.add(taskId);
      // The list's state is enough to place the task; its next watch step inspects the rest.
      this.#setStatus(entry, recover(entry.status, c, this.#clock()));
    }
    // Only now may controllers act: one that created a container before the list was read
    // could duplicate a task that already has one.
    this.#adopted = true;
    for (const id of this.#entries.keys()) this.#kick(id);
  }

  async #removeOrphan(c: ContainerSummary): Promise<void> {
    for (let attempt = 0; !this.#stopped; attempt++) {
      try {
        await this.#runtime.stop(c.id, this.#orphanGraceMs);
        await this.#runtime.remove(c.id);
        return;
      } catch (err) {
        this.#log?.warn({ err, containerId: c.id }, 'removing a container no task owns failed');
        if (attempt + 1 >= this.#maxTemporary) return;
        await this.#wait(this.#backoff(attempt));
      }
    }
  }

  #onEvent(e: RuntimeEvent): void {
    if (e.action === 'start') return;
    const taskId = e.labels[containerLabels.task];
    if (taskId === undefined) return;
    if (e.action === 'kill') {
      // The die event that follows steps the task; this only says who stopped it.
      const entry = this.#entries.get(taskId);
      if (entry !== undefined && e.signal !== undefined) {
        entry.controller.noteKill(entry.task, entry.status, e.signal);
      }
      return;
    }
    this.#kick(taskId);
  }

  /**
   * The poll: one list of this node's containers instead of an inspect per task. A running
   * task without a health check whose container the list shows running is exactly what an
   * inspect would find, so only the others are stepped (inspected); a failed list steps all.
   */
  async #poll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      let running: Set<string> | null = null;
      try {
        const listed = await this.#runtime.list({ [containerLabels.node]: this.#nodeId });
        running = new Set(listed.filter((c) => c.state === 'running').map((c) => c.id));
      } catch (err) {
        this.#log?.warn({ err }, 'listing containers for the poll failed; inspecting each');
      }
      for (const [id, e] of this.#entries) {
        if (e.controller.next(e.task, e.status).kind !== 'watch') continue;
        const { state, health, containerId } = e.status;
        const quiet = state === 'running' && health === undefined;
        if (quiet && containerId !== undefined && running?.has(containerId) === true) continue;
        this.#kick(id);
      }
    } finally {
      this.#polling = false;
    }
  }

  #kickWatched(): void {
    for (const [id, e] of this.#entries) {
      if (e.controller.next(e.task, e.status).kind === 'watch') this.#kick(id);
    }
  }

  #kick(taskId: string): void {
    const entry = this.#entries.get(taskId);
    if (entry === undefined || this.#stopped || !this.#adopted) return;
    entry.dirty = true;
    if (entry.loop === null && entry.retryTimer === null) entry.loop = this.#drive(taskId, entry);
  }

  /** One loop per task at a time, so two steps of a task never race. */
  async #drive(taskId: string, entry: Entry): Promise<void> {
    try {
      while (entry.dirty && !this.#stopped) {
        entry.dirty = false;
        let next: TaskStatus;
        try {
          next = await entry.controller.step(entry.task, entry.status);
          entry.retries = 0;
        } catch (err) {
          if (this.#stopped) return;
          this.#log?.warn({ err, taskId }, 'task step failed; retrying');
          const delayMs = this.#backoff(entry.retries++);
          entry.retryTimer = setTimeout(() => {
            entry.retryTimer = null;
            this.#kick(taskId);
          }, delayMs);
          entry.retryTimer.unref();
          entry.dirty = true;
          return;
        }
        if (this.#stopped) return;
        this.#setStatus(entry, next);
        this.#sandbox(entry);
        const action = entry.controller.next(entry.task, entry.status).kind;
        if (action === 'idle' && entry.unassigned) {
          if (this.#entries.get(taskId) === entry) this.#entries.delete(taskId);
          this.#sandboxes?.release(taskId);
          return;
        }
        if (action !== 'idle' && action !== 'watch') entry.dirty = true;
      }
    } finally {
      entry.loop = null;
    }
  }

  /** A started container on orca networks gets its namespace set up; an ended one lets it go. */
  #sandbox(entry: Entry): void {
    const sandboxes = this.#sandboxes;
    if (sandboxes === undefined || (entry.task.attachments?.length ?? 0) === 0) return;
    const { state, health, containerId } = entry.status;
    const started = state === 'running' || (state === 'starting' && health === 'starting');
    if (started && containerId !== undefined && !entry.unassigned && !isTerminal(state)) {
      sandboxes.ensure(entry.task, containerId);
    } else if (isTerminal(state) || entry.unassigned) {
      sandboxes.release(entry.task.meta.id);
    }
  }

  #setStatus(entry: Entry, next: TaskStatus): void {
    const status = forward(entry.status, next);
    if (status === entry.status) return;
    entry.status = status;
    if (entry.unassigned) return;
    this.#pending.set(entry.task.meta.id, status);
    // A task that runs or has ended is what the managers act on next (a rolling update's next
    // batch, a slot to fill, a waiting `service create`): it goes out once this turn of the
    // event loop is done, with everything pending. The steps on the way (accepted, preparing,
    // starting) wait for the timer, so a burst of starting containers still costs the managers
    // about one write per interval. With the timer alone, each batch of a rolling update
    // waited up to two intervals: one for the old tasks' end, one for the new ones' start.
    if (status.state === 'running' || isTerminal(status.state)) {
      if (this.#flushNow === null) {
        this.#flushNow = setImmediate(() => this.flush());
        this.#flushNow.unref();
      }
    } else if (this.#flushTimer === null) {
      this.#flushTimer = setTimeout(() => this.flush(), this.#flushMs);
      this.#flushTimer.unref();
    }
  }

  #backoff(attempt: number): number {
    return Math.min(this.#retryMs * 2 ** attempt, 10_000);
  }

  /** Resolves after `ms`, or at once when the agent stops. */
  async #wait(ms: number): Promise<void> {
    try {
      await delay(ms, undefined, { signal: this.#halt.signal, ref: false });
    } catch {
      // stopped
    }
  }

  #chore(p: Promise<void>): void {
    const tracked = p.catch((err: unknown) => {
      this.#log?.warn({ err }, 'worker chore failed');
    });
    this.#chores.add(tracked);
    void tracked.finally(() => this.#chores.delete(tracked));
  }
}
