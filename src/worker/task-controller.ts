// Drives one task toward its desired state, one state per call, after swarmkit's exec.Do: the
// decision is a pure function of the task and its last status (`decide`, `observe`), and a step
// makes at most one Runtime call for it (start after a restart excepted: it looks at what it
// started, to learn whether it has a health check). The controller may be recreated at any point (a daemon
// restart): everything it needs to go on is in the task and its status (`containerId` included),
// apart from the count of consecutive temporary failures and whether the container was removed.

import { constants } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { WireNetworkAttachment } from '../api/dispatcher-wire.ts';
import {
  type PortStatus,
  type Task,
  type TaskState,
  type TaskStatus,
  taskStates,
} from '../api/objects.ts';
import { ImageUnavailableError, RuntimeError } from '../errors.ts';
import { SANDBOX_DNS_ADDR } from '../netmesh/sandbox/service-discovery.ts';
import type { ContainerGone, ContainerInfo, Runtime, RuntimeTask } from './runtime.ts';

/**
 * A task as the worker receives it: the stored Task and the name of its service, which the
 * container is named after (Swarm's `<service>.<slot>.<task>`).
 */
export interface AssignedTask extends Task {
  readonly serviceName: string;
  /** The orca networks it joins, as the dispatcher describes them; absent: none. */
  readonly attachments?: readonly WireNetworkAttachment[];
}

/** What the next step does: at most one Runtime call, or none. */
export type Action =
  /** Nothing can move the task forward until something outside changes. */
  | { readonly kind: 'idle' }
  /** A transition without a Runtime call. */
  | {
      readonly kind: 'advance';
      readonly state: TaskState;
      readonly message: string;
      readonly stoppedOutside?: true;
    }
  | { readonly kind: 'ensureImage'; readonly image: string }
  | { readonly kind: 'create' }
  | { readonly kind: 'start'; readonly containerId: string }
  /** The container runs: look at it (on an event or a poll), nothing to do otherwise. */
  | { readonly kind: 'watch'; readonly containerId: string }
  | {
      readonly kind: 'stop';
      readonly containerId: string;
      readonly graceMs: number;
      readonly signal?: string;
    }
  | { readonly kind: 'remove'; readonly containerId: string };

export const rank = (state: TaskState): number => taskStates.indexOf(state);

/** complete and everything after it: the task's process will not run (again). */
export const isTerminal = (state: TaskState): boolean => rank(state) >= rank('complete');

/** Desired shutdown, remove (or any later state): the task must not run. */
const mustStop = (task: Task): boolean => rank(task.desiredState) >= rank('shutdown');

/**
 * The next action for a task in `status`. `removed`: this worker already removed the task's
 * container (a fact the status does not carry).
 */
export function decide(task: Task, status: TaskStatus, removed = false): Action {
  const id = status.containerId;
  if (mustStop(task)) {
    if (!isTerminal(status.state)) {
      if (id === undefined) return { kind: 'advance', state: 'shutdown', message: 'shutdown' };
      const { stopGracePeriodMs, stopSignal } = task.spec.container;
      return stopSignal === undefined
        ? { kind: 'stop', containerId: id, graceMs: stopGracePeriodMs }
        : { kind: 'stop', containerId: id, graceMs: stopGracePeriodMs, signal: stopSignal };
    }
    if (task.desiredState === 'remove' && id !== undefined && !removed) {
      return { kind: 'remove', containerId: id };
    }
    return { kind: 'idle' };
  }
  switch (status.state) {
    case 'new':
    case 'pending':
    case 'assigned':
      return { kind: 'advance', state: 'accepted', message: 'accepted' };
    case 'accepted':
      return { kind: 'advance', state: 'preparing', message: 'preparing' };
    case 'preparing':
      return { kind: 'ensureImage', image: task.spec.container.image };
    case 'starting':
      if (id === undefined) return { kind: 'create' };
      // Started, with a health check still to pass: as Swarm, the task is running only once
      // the container is healthy.
      return status.health === 'starting'
        ? { kind: 'watch', containerId: id }
        : { kind: 'start', containerId: id };
    case 'running':
      return id === undefined
        ? { kind: 'advance', state: 'failed', message: containerRemoved, stoppedOutside: true }
        : { kind: 'watch', containerId: id };
    default:
      return { kind: 'idle' };
  }
}

const containerRemoved = 'task: container removed';

/** What an inspect of a running task's container means for its status. */
export function observe(
  status: TaskStatus,
  info: ContainerInfo | ContainerGone,
  now: Date,
): TaskStatus {
  if (info.gone) return { ...fail(status, containerRemoved, now), stoppedOutside: true };
  if (info.state === 'exited' || info.state === 'dead') {
    const code = info.exitCode ?? -1;
    if (code === 0) {
      return {
        ...status,
        state: 'complete',
        message: 'finished',
        exitCode: 0,
        timestamp: iso(now),
      };
    }
    let message = `task: non-zero exit (${code})`;
    if (info.oomKilled) message += ': out of memory';
    else if (info.error) message += `: ${info.error}`;
    return { ...fail(status, message, now), exitCode: code };
  }
  if (info.health === 'unhealthy') return fail(status, 'task: unhealthy container', now);
  if (status.state === 'starting' && info.health !== 'starting') {
    const running: TaskStatus = {
      ...status,
      state: 'running',
      message: 'started',
      timestamp: iso(now),
    };
    return info.health === null ? running : { ...running, health: info.health };
  }
  if (info.health !== null && info.health !== status.health) {
    // Same state: the timestamp stays the time the task started running.
    return { ...status, health: info.health };
  }
  return status;
}

/**
 * `status` with where the node published the container's ports and the container's address,
 * once it runs and they are known: what the routing mesh of every node forwards to.
 */
export function withNetwork(
  status: TaskStatus,
  task: Pick<Task, 'ports'>,
  info: ContainerInfo | ContainerGone,
): TaskStatus {
  const wanted = task.ports ?? [];
  if (info.gone || wanted.length === 0 || status.ports !== undefined) return status;
  if (status.state !== 'running') return status;
  const ports: PortStatus[] = [];
  for (const p of wanted) {
    const bound = info.ports?.find(
      (b) => b.protocol === p.protocol && b.targetPort === p.targetPort,
    );
    if (bound === undefined) return status;
    ports.push({ ...bound, publishMode: p.publishMode });
  }
  return { ...status, ports, ...(info.addr ? { addr: info.addr } : {}) };
}

/**
 * The status a container found on the node (after a restart) implies: a created container is
 * being started, any other has been started and is watched from now on (an exited one is then
 * seen as complete or failed by the next step). Never moves the status backwards.
 */
export function recover(
  status: TaskStatus,
  info: Pick<ContainerInfo, 'id' | 'state'>,
  now: Date,
): TaskStatus {
  const target: TaskState = info.state === 'created' ? 'starting' : 'running';
  if (rank(status.state) >= rank(target)) {
    return status.containerId === undefined ? { ...status, containerId: info.id } : status;
  }
  return {
    state: target,
    message: target === 'running' ? 'started' : 'created',
    timestamp: iso(now),
    containerId: info.id,
  };
}

/**
 * A stopped container's status once the worker knows that `signal` was sent to it from outside
 * orca (`docker stop` or `docker kill`).
 */
export function stoppedFromOutside(status: TaskStatus, signal: string): TaskStatus {
  if (!isTerminal(status.state) || status.stoppedOutside) return status;
  const message = `${status.message}: stopped from outside orca (signal ${signal})`;
  return {
    ...status,
    message,
    ...(status.err === undefined ? {} : { err: message }),
    stoppedOutside: true,
  };
}

/** `next` if it is not behind `current` in taskStates order, else `current`. */
export function forward(current: TaskStatus, next: TaskStatus): TaskStatus {
  return rank(next.state) >= rank(current.state) ? next : current;
}

export function runtimeTask(task: AssignedTask): RuntimeTask {
  return {
    id: task.meta.id,
    serviceId: task.serviceId,
    serviceName: task.serviceName,
    slot: task.slot,
    nodeId: task.nodeId,
    spec: task.spec.container,
    resources: task.spec.resources,
    ...(task.ports === undefined ? {} : { ports: task.ports }),
    ...(task.attachments === undefined || task.attachments.length === 0
      ? {}
      : { networks: task.attachments, dns: SANDBOX_DNS_ADDR }),
  };
}

export interface TaskControllerOptions {
  readonly runtime: Runtime;
  readonly clock?: () => Date;
  /**
   * Consecutive temporary failures of one step before it counts as fatal (default 5): Docker
   * reports some spec errors as 500, which would otherwise be retried forever.
   */
  readonly maxTemporaryFailures?: number;
  /**
   * How long a running task that takes traffic from others (ingress ports, or an address on an
   * orca network) keeps serving after it is told to stop (default 1 s): it has left every
   * node's mesh table, DNS answers and VIP rules by then, so no new connection is sent to a
   * container that is going away; connections already open finish within its grace period.
   */
  readonly meshDrainMs?: number;
}

/**
 * One task's controller. `step` makes one transition; a temporary Runtime failure is thrown
 * (retry the same step later, the status did not change) until it repeats too often.
 */
export class TaskController {
  readonly #runtime: Runtime;
  readonly #clock: () => Date;
  readonly #maxTemporary: number;
  readonly #meshDrainMs: number;
  #temporaryFailures = 0;
  #removed = false;
  /**
   * Whether the task's container will have a health check, learnt with the image; null when
   * this controller did not prepare the task (a restart) and must look at the container.
   */
  #healthChecked: boolean | null = null;
  /** The signal something outside orca sent to the running container, if it did. */
  #outsideSignal: string | null = null;

  constructor(opts: TaskControllerOptions) {
    this.#runtime = opts.runtime;
    this.#clock = opts.clock ?? (() => new Date());
    this.#maxTemporary = opts.maxTemporaryFailures ?? 5;
    this.#meshDrainMs = opts.meshDrainMs ?? 1_000;
  }

  /**
   * The engine reports a signal sent to the task's container. While the task is meant to run
   * and has not ended, orca did not send it (orca stops only tasks desired to stop, or ones it
   * has already failed): the stop that follows is someone else's, not a crash.
   */
  noteKill(task: Task, status: TaskStatus, signal: string): void {
    if (mustStop(task) || isTerminal(status.state) || status.containerId === undefined) return;
    if (!stopsByDefault(signal, task.spec.container.stopSignal)) return;
    this.#outsideSignal = signal;
  }

  /** The next action for this task, knowing what this controller did. */
  next(task: Task, status: TaskStatus): Action {
    return decide(task, status, this.#removed);
  }

  async step(task: AssignedTask, status: TaskStatus): Promise<TaskStatus> {
    const action = this.next(task, status);
    try {
      const next = await this.#act(task, status, action);
      this.#temporaryFailures = 0;
      return forward(status, next);
    } catch (err) {
      if (isTemporary(err) && ++this.#temporaryFailures <= this.#maxTemporary) throw err;
      this.#temporaryFailures = 0;
      if (action.kind === 'remove') {
        // Nothing left to report: the task is over. Give up on the container, loudly.
        this.#removed = true;
        throw err;
      }
      const message = err instanceof Error ? err.message : String(err);
      const state: TaskState = rank(status.state) < rank('running') ? 'rejected' : 'failed';
      return forward(status, fail(status, message, this.#clock(), state));
    }
  }

  async #act(task: AssignedTask, status: TaskStatus, action: Action): Promise<TaskStatus> {
    const rt = this.#runtime;
    const now = (): string => iso(this.#clock());
    switch (action.kind) {
      case 'idle':
        return status;
      case 'advance':
        if (action.state === 'failed') {
          const failed = fail(status, action.message, this.#clock());
          return action.stoppedOutside ? { ...failed, stoppedOutside: true } : failed;
        }
        return { ...status, state: action.state, message: action.message, timestamp: now() };
      case 'ensureImage': {
        const image = await rt.ensureImage(action.image);
        const own = task.spec.container.healthcheck?.test;
        // The spec's check wins; NONE switches the image's off, an empty test inherits it.
        this.#healthChecked =
          own !== undefined && own.length > 0 ? own[0] !== 'NONE' : image.healthcheck;
        return { ...status, state: 'starting', message: 'starting', timestamp: now() };
      }
      case 'create': {
        const containerId = await rt.create(runtimeTask(task));
        return { ...status, message: 'created', containerId };
      }
      case 'start': {
        await rt.start(action.containerId);
        const publishes = (task.ports?.length ?? 0) > 0;
        if (this.#healthChecked === false && !publishes) {
          return { ...status, state: 'running', message: 'started', timestamp: now() };
        }
        if (this.#healthChecked === true) return { ...status, ...waitingForHealth };
        // After a restart nothing says whether there is a health check but the container:
        // the one step with two Runtime calls.
        // A task that publishes ports also needs its host ports, which only an inspect tells.
        const started = await rt.inspect(action.containerId);
        if (!started.gone && started.health === 'starting') {
          return {
            ...status,
            message: 'waiting for the container to be healthy',
            health: 'starting',
          };
        }
        const running = observe(
          { ...status, state: 'running', message: 'started', timestamp: now() },
          started,
          this.#clock(),
        );
        return withNetwork(running, task, started);
      }
      case 'watch': {
        const info = await rt.inspect(action.containerId);
        let observed = withNetwork(observe(status, info, this.#clock()), task, info);
        if (this.#outsideSignal !== null) {
          observed = stoppedFromOutside(observed, this.#outsideSignal);
        }
        if (observed.message === 'task: unhealthy container') {
          // As Docker's Swarm executor: the failed task's process must not go on serving.
          const { stopGracePeriodMs, stopSignal } = task.spec.container;
          await rt.stop(action.containerId, stopGracePeriodMs, stopSignal);
        }
        return observed;
      }
      case 'stop':
        if (status.state === 'running' && takesTrafficFromOthers(task)) {
          await delay(this.#meshDrainMs);
        }
        await rt.stop(action.containerId, action.graceMs, action.signal);
        return { ...status, state: 'shutdown', message: 'shutdown', timestamp: now() };
      case 'remove':
        await rt.remove(action.containerId);
        this.#removed = true;
        return status;
    }
  }
}

function takesTrafficFromOthers(task: AssignedTask): boolean {
  const ingress = task.ports?.some((p) => p.publishMode === 'ingress') ?? false;
  return ingress || (task.attachments?.length ?? 0) > 0;
}

/**
 * Whether a signal ends a process unless it handles it: `docker kill -s HUP` asks for a reload,
 * and a crash after it is still the process's own.
 */
function stopsByDefault(signal: string, stopSignal: string | undefined): boolean {
  const number = signalNumber(signal);
  if (number === undefined) return false;
  if (stopSignal !== undefined && signalNumber(stopSignal) === number) return true;
  const { SIGKILL, SIGTERM, SIGINT, SIGQUIT } = constants.signals;
  return [SIGKILL, SIGTERM, SIGINT, SIGQUIT].includes(number);
}

function signalNumber(name: string): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  const upper = name.toUpperCase();
  const key = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as keyof typeof constants.signals;
  return constants.signals[key];
}

const waitingForHealth = {
  message: 'waiting for the container to be healthy',
  health: 'starting',
} as const;

function fail(status: TaskStatus, message: string, now: Date, state: TaskState = 'failed') {
  return { ...status, state, message, err: message, timestamp: iso(now) };
}

function iso(d: Date): string {
  return d.toISOString();
}

function isTemporary(err: unknown): boolean {
  if (err instanceof ImageUnavailableError) return false;
  return err instanceof RuntimeError && err.temporary;
}
