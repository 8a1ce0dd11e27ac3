// The contract between the worker's executor and a container engine. The executor moves a task
// one state per step (ensureImage → create → start → watch → stop → remove) and must survive its
// own restart, so everything here is idempotent where it can be, answers "gone" instead of
// throwing for containers that vanished, and carries the task's identity on the container's own
// labels. Failures are RuntimeError (temporary: retry; otherwise fail the task) or
// ImageUnavailableError, both from src/errors.ts.

import type { Readable } from 'node:stream';
import type { WireNetworkAttachment } from '../api/dispatcher-wire.ts';
import type { ContainerSpec, Labels, PortProtocol, Resources, TaskPort } from '../api/objects.ts';

/** What the runtime needs to know about a task to create its container. */
export interface RuntimeTask {
  readonly id: string;
  readonly serviceId: string;
  readonly serviceName: string;
  /** Replicated services: 1..replicas. Global services: 0, and the node names the container. */
  readonly slot: number;
  readonly nodeId: string;
  readonly spec: ContainerSpec;
  readonly resources: Resources;
  /** Ports to publish on the node, ingress ones on a host port the engine picks; absent: none. */
  readonly ports?: readonly TaskPort[];
  /**
   * The orca networks to join, each at the task's own address; absent: none. The engine's
   * network for each is created when missing, and the container resolves names through orca's
   * DNS (`dns`).
   */
  readonly networks?: readonly WireNetworkAttachment[];
  /** The nameserver the container's resolver asks (with networks only). */
  readonly dns?: string;
}

/** Docker's container states, as the engine reports them. */
export type ContainerState =
  | 'created'
  | 'running'
  | 'paused'
  | 'restarting'
  | 'removing'
  | 'exited'
  | 'dead';

export type ContainerHealth = 'starting' | 'healthy' | 'unhealthy' | null;

export interface ContainerInfo {
  readonly gone: false;
  readonly id: string;
  /** Without Docker's leading slash. */
  readonly name: string;
  readonly state: ContainerState;
  /** Set once the container has exited (or died); null before. */
  readonly exitCode: number | null;
  /** The engine's reason when the container could not run ("exec: not found"); '' when none. */
  readonly error: string;
  readonly oomKilled: boolean;
  /** null: the container has no health check. */
  readonly health: ContainerHealth;
  /** ISO timestamps; null while the container has not started / not finished. */
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly labels: Labels;
  /** Published ports as bound on the node (IPv4), once the container has started. */
  readonly ports?: readonly HostPortBinding[];
  /** Its address on the engine's default network; absent or '' when it has none. */
  readonly addr?: string;
  /** Its main process on the host, while it runs: the way into its network namespace. */
  readonly pid?: number;
}

export interface HostPortBinding {
  readonly protocol: PortProtocol;
  readonly targetPort: number;
  readonly hostPort: number;
}

/** The container does not exist (any more): removed by orca, by hand, or never created. */
export interface ContainerGone {
  readonly gone: true;
  readonly id: string;
}

export interface ContainerSummary {
  readonly id: string;
  readonly name: string;
  readonly state: ContainerState;
  readonly labels: Labels;
}

export type RuntimeEventAction = 'start' | 'kill' | 'die' | 'destroy' | 'health_status';

export interface RuntimeEvent {
  readonly action: RuntimeEventAction;
  readonly containerId: string;
  /** The container's labels at the time of the event (orca's included). */
  readonly labels: Labels;
  /** die: the exit code. */
  readonly exitCode?: number;
  /** kill: the signal sent, as the engine names it (a number: "15"). */
  readonly signal?: string;
  /** health_status: the new status. */
  readonly health?: 'starting' | 'healthy' | 'unhealthy';
  /** Engine time of the event, ISO. */
  readonly time: string;
}

export interface EventOptions {
  /**
   * Called when the event stream breaks, before reconnecting. Events in the gap are replayed
   * when the engine still has them; a level-triggered caller should reconcile anyway.
   */
  readonly onDisconnect?: (err: Error) => void;
}

export interface EventSubscription {
  /** Resolves once the first connection is open: events from then on are delivered. */
  readonly ready: Promise<void>;
  close(): void;
}

export interface LogOptions {
  /** Keep the stream open and deliver new lines as they come. */
  readonly follow?: boolean;
  /** Only the last n lines (default: all). */
  readonly tail?: number;
  /** Only lines since this time. */
  readonly since?: Date;
  /** Fill LogLine.timestamp from the engine's own timestamps. */
  readonly timestamps?: boolean;
}

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  /** Without the trailing newline. */
  readonly text: string;
  /** ISO with nanoseconds as the engine gives it; null unless asked for. */
  readonly timestamp: string | null;
}

/** What the executor needs to know of an image before it runs it. */
export interface ImageFacts {
  /** The image defines a HEALTHCHECK (other than NONE). */
  readonly healthcheck: boolean;
}

export interface Runtime {
  /** Pulls only when the node lacks the image; throws ImageUnavailableError if that fails. */
  ensureImage(image: string): Promise<ImageFacts>;
  /** Creates (does not start) the task's container; returns its id. */
  create(task: RuntimeTask): Promise<string>;
  start(id: string): Promise<void>;
  inspect(id: string): Promise<ContainerInfo | ContainerGone>;
  /**
   * Sends `signal` (default: the container's stop signal), waits up to `graceMs`, then kills.
   * A container that is already stopped or gone is not an error.
   */
  stop(id: string, graceMs: number, signal?: string): Promise<void>;
  /** Force-removes the container and its anonymous volumes; gone already is not an error. */
  remove(id: string): Promise<void>;
  /**
   * The containers orca created (they carry `orca.task.id`) that also carry every given label;
   * an empty value matches any value. For adoption after a restart: `{ 'orca.node.id': id }`.
   */
  list(labels: Labels): Promise<ContainerSummary[]>;
  /** Container events of orca's containers, delivered in order, reconnecting until closed. */
  events(onEvent: (e: RuntimeEvent) => void, opts?: EventOptions): EventSubscription;
  /** An object-mode stream of LogLine; destroy it to stop following. */
  logs(id: string, opts?: LogOptions): Promise<Readable>;
  /**
   * Removes the engine networks made for orca networks other than `keep` (network ids) that no
   * container uses: what is left of networks removed from the swarm. Never throws; resolves
   * to how many it had to leave (still in use, or the engine did not answer).
   */
  pruneNetworks(keep: ReadonlySet<string>): Promise<number>;
}
