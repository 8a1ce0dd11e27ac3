// The Runtime on a Docker engine, through dockerode. Only the calls below are used (the client
// type is narrowed to them, so a test double needs only these). Engine API 1.41 (Docker 20.10)
// is the oldest engine this talks to: stop has no signal parameter there, so a stop with an
// explicit signal is kill + wait + kill.

import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import type { WireNetworkAttachment } from '../api/dispatcher-wire.ts';
import { containerLabels, type Labels } from '../api/objects.ts';
import { ImageUnavailableError, RuntimeError } from '../errors.ts';
import { CallGate } from './call-gate.ts';
import {
  containerName,
  createBody,
  engineNetworkBody,
  engineNetworkName,
  networkLabels,
} from './container-config.ts';
import { LogLineSplitter } from './log-lines.ts';
import type {
  ContainerGone,
  ContainerHealth,
  ContainerInfo,
  ContainerState,
  ContainerSummary,
  EventOptions,
  EventSubscription,
  HostPortBinding,
  ImageFacts,
  LogOptions,
  Runtime,
  RuntimeEvent,
  RuntimeEventAction,
  RuntimeTask,
} from './runtime.ts';

export type DockerClient = Pick<
  Docker,
  | 'getContainer'
  | 'getImage'
  | 'createContainer'
  | 'listContainers'
  | 'getEvents'
  | 'pull'
  | 'getNetwork'
  | 'listNetworks'
  | 'createNetwork'
>;

export interface DockerRuntimeOptions {
  /** As `docker -H`: unix:///path (default unix:///var/run/docker.sock) or tcp://host:port. */
  readonly host?: string;
  /** An existing client instead of `host` (tests, or a caller that configured TLS itself). */
  readonly client?: DockerClient;
  /** A pull that takes longer is abandoned (default 10 minutes). */
  readonly pullTimeoutMs?: number;
}

/**
 * Creates in flight at once. The engine's create is mostly layer and file work that it largely
 * serialises anyway; a burst of them competes with the starts of the containers already created.
 * Two at a time, each started as soon as it exists, brought 50 containers up sooner than all 50
 * creates at once on a 2-core host with Docker 20.10 (measured: docs/design/worker.md).
 */
const CREATES_IN_FLIGHT = 2;
/** A create the engine has not answered by then stops holding up the others. */
const CREATE_HOLD_MS = 5_000;

export const defaultDockerHost = 'unix:///var/run/docker.sock';

/** `--docker-host` to dockerode's options; plain TCP only, TLS needs a client passed in. */
export function dockerOptions(host: string): Docker.DockerOptions {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('tcp://')) {
    const url = new URL(host);
    return { host: url.hostname, port: url.port || 2375, protocol: 'http' };
  }
  throw new RuntimeError(
    `unsupported docker host ${JSON.stringify(host)}: use unix:///path/to/docker.sock or tcp://host:port`,
    { temporary: false },
  );
}

const watched: readonly RuntimeEventAction[] = ['start', 'kill', 'die', 'destroy', 'health_status'];
const states: ReadonlySet<string> = new Set<ContainerState>([
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
]);

export class DockerRuntime implements Runtime {
  readonly #docker: DockerClient;
  readonly #pullTimeoutMs: number;
  readonly #images: Map<string, { facts: Promise<ImageFacts | null>; until: number }>;
  /** The engine network of each orca network (by id), once found or created. */
  readonly #networks = new Map<string, Promise<string>>();
  readonly #creates = new CallGate(CREATES_IN_FLIGHT, CREATE_HOLD_MS);

  constructor(opts: DockerRuntimeOptions = {}) {
    this.#docker = opts.client ?? new Docker(dockerOptions(opts.host ?? defaultDockerHost));
    this.#pullTimeoutMs = opts.pullTimeoutMs ?? 600_000;
    this.#images = new Map();
  }

  async ensureImage(image: string): Promise<ImageFacts> {
    const facts = await this.#imageFacts(image);
    if (facts !== null) return facts;
    try {
      const progress = await this.#docker.pull(image, {
        abortSignal: AbortSignal.timeout(this.#pullTimeoutMs),
      });
      // A failed pull often answers 200 and reports the failure inside the progress stream.
      for await (const msg of jsonLines(progress as Readable)) {
        const error = (msg as { error?: unknown }).error;
        if (typeof error === 'string') throw new Error(error);
      }
    } catch (err) {
      // An engine that cannot be reached says nothing about the image: retry later.
      if (statusOf(err) === null && !isAbort(err) && isConnectionError(err)) {
        throw runtimeError(`pull ${image}`, err);
      }
      throw new ImageUnavailableError(image, isAbort(err) ? 'pull timed out' : reasonOf(err), {
        cause: err,
      });
    }
    const pulled = await this.#imageFacts(image);
    if (pulled === null) {
      throw new ImageUnavailableError(image, 'the engine does not have it after pulling it');
    }
    return pulled;
  }

  /**
   * null: the engine does not have the image. Tasks of one service start together and ask about
   * the same image: they share one inspect, and a found image is taken as still there for a
   * second (a create of a vanished image fails and is retried, as any create).
   */
  #imageFacts(image: string): Promise<ImageFacts | null> {
    const known = this.#images.get(image);
    if (known !== undefined && known.until > Date.now()) return known.facts;
    const facts = this.#inspectImage(image);
    this.#images.set(image, { facts, until: Number.POSITIVE_INFINITY });
    facts.then(
      (found) => {
        if (found === null) this.#images.delete(image);
        else this.#images.set(image, { facts, until: Date.now() + 1000 });
      },
      () => this.#images.delete(image),
    );
    return facts;
  }

  async #inspectImage(image: string): Promise<ImageFacts | null> {
    try {
      const info = await this.#docker.getImage(image).inspect();
      const test = info.Config?.Healthcheck?.Test ?? [];
      return { healthcheck: test.length > 0 && test[0] !== 'NONE' };
    } catch (err) {
      if (statusOf(err) !== 404) throw runtimeError(`inspect image ${image}`, err);
      return null;
    }
  }

  async create(task: RuntimeTask): Promise<string> {
    const body = createBody(task);
    const name = containerName(task);
    const networks: { attachment: WireNetworkAttachment; engineId: string }[] = [];
    for (const attachment of task.networks ?? []) {
      networks.push({ attachment, engineId: await this.#engineNetwork(attachment) });
    }
    let id: string;
    try {
      // _query/_body: without them dockerode also copies the whole body into the URL.
      const container = await this.#creates.run(() =>
        this.#docker.createContainer({
          _query: { name },
          _body: body,
        } as Docker.ContainerCreateOptions),
      );
      id = container.id;
    } catch (err) {
      throw runtimeError(`create container ${name}`, err);
    }
    // Engine API 1.41 attaches one network at create; the others (all of orca's) are connected
    // before the first start, at the address the manager gave the task.
    for (const { attachment, engineId } of networks) {
      try {
        await this.#docker.getNetwork(engineId).connect({
          Container: id,
          EndpointConfig: { IPAMConfig: { IPv4Address: attachment.addr } },
        });
      } catch (err) {
        if (statusOf(err) === 404) this.#networks.delete(attachment.network);
        await this.remove(id).catch(() => {});
        throw runtimeError(
          `connect container ${name} to network ${attachment.name} at ${attachment.addr}`,
          err,
        );
      }
    }
    return id;
  }

  async pruneNetworks(keep: ReadonlySet<string>): Promise<number> {
    let networks: Docker.NetworkInspectInfo[];
    try {
      networks = await this.#orcaNetworks(networkLabels.id);
    } catch {
      return 1; // the engine is away: try again
    }
    let left = 0;
    for (const n of networks) {
      const id = n.Labels?.[networkLabels.id];
      if (id === undefined || keep.has(id)) continue;
      this.#networks.delete(id);
      try {
        await this.#docker.getNetwork(n.Id).remove();
      } catch (err) {
        // In use: a task of it is still winding down. Gone already is as good as removed.
        if (statusOf(err) !== 404) left++;
      }
    }
    return left;
  }

  /** The engine network's id for an orca network, created with its subnet when missing. */
  #engineNetwork(attachment: WireNetworkAttachment): Promise<string> {
    const known = this.#networks.get(attachment.network);
    if (known !== undefined) return known;
    const found = this.#findOrCreateNetwork(attachment);
    this.#networks.set(attachment.network, found);
    found.catch(() => this.#networks.delete(attachment.network));
    return found;
  }

  async #findOrCreateNetwork(attachment: WireNetworkAttachment): Promise<string> {
    const what = `network ${attachment.name}`;
    for (let attempt = 0; ; attempt++) {
      const existing = await this.#orcaNetworks(`${networkLabels.id}=${attachment.network}`);
      if (existing[0] !== undefined) return existing[0].Id;
      try {
        const created = await this.#docker.createNetwork(
          engineNetworkBody(attachment) as unknown as Docker.NetworkCreateOptions,
        );
        return created.id;
      } catch (err) {
        // Another node sharing this engine created it first (409), or an engine network of
        // an orca network since removed holds the name or the subnet: clear it once, unused.
        const retry =
          attempt < 2 &&
          ((attempt === 0 && (await this.#removeStaleNetworks(attachment))) ||
            statusOf(err) === 409);
        if (!retry) throw runtimeError(`create ${what} (subnet ${attachment.subnet})`, err);
      }
    }
  }

  /**
   * Removes the engine networks of other orca networks that take `attachment`'s name or subnet
   * and no container uses; whether any was removed.
   */
  async #removeStaleNetworks(attachment: WireNetworkAttachment): Promise<boolean> {
    const name = engineNetworkName(attachment);
    let removed = false;
    for (const n of await this.#orcaNetworks(networkLabels.id)) {
      if (n.Labels?.[networkLabels.id] === attachment.network) continue;
      const subnets = (n.IPAM?.Config ?? []).map((c) => c.Subnet);
      if (n.Name !== name && !subnets.includes(attachment.subnet)) continue;
      try {
        await this.#docker.getNetwork(n.Id).remove();
        removed = true;
      } catch {
        // In use (its tasks are still winding down) or gone already: the next try says which.
      }
    }
    return removed;
  }

  async #orcaNetworks(label: string): Promise<Docker.NetworkInspectInfo[]> {
    try {
      return await this.#docker.listNetworks({ filters: { label: [label] } });
    } catch (err) {
      throw runtimeError('list networks', err);
    }
  }

  async start(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).start();
    } catch (err) {
      if (statusOf(err) === 304) return; // already started
      throw runtimeError(`start container ${id}`, err);
    }
  }

  async inspect(id: string): Promise<ContainerInfo | ContainerGone> {
    let raw: Docker.ContainerInspectInfo;
    try {
      raw = await this.#docker.getContainer(id).inspect();
    } catch (err) {
      if (statusOf(err) === 404) return { gone: true, id };
      throw runtimeError(`inspect container ${id}`, err);
    }
    const s = raw.State;
    const finished = s.Status === 'exited' || s.Status === 'dead';
    return {
      gone: false,
      id: raw.Id,
      name: raw.Name.replace(/^\//, ''),
      state: toState(s.Status),
      exitCode: finished ? s.ExitCode : null,
      error: s.Error ?? '',
      oomKilled: s.OOMKilled,
      health: toHealth(s.Health?.Status),
      startedAt: toTime(s.StartedAt),
      finishedAt: toTime(s.FinishedAt),
      labels: raw.Config.Labels ?? {},
      ports: hostPortBindings(raw.NetworkSettings?.Ports),
      addr: (raw.NetworkSettings as { IPAddress?: string } | undefined)?.IPAddress ?? '',
      ...(s.Running && s.Pid > 0 ? { pid: s.Pid } : {}),
    };
  }

  async stop(id: string, graceMs: number, signal?: string): Promise<void> {
    const container = this.#docker.getContainer(id);
    try {
      if (signal === undefined) {
        await container.stop({ t: Math.ceil(graceMs / 1000) });
        return;
      }
      await container.kill({ signal });
      if (await this.#exits(id, graceMs)) return;
      await container.kill({ signal: 'SIGKILL' });
      await this.#exits(id, 10_000);
    } catch (err) {
      const status = statusOf(err);
      // 304: already stopped; 404: gone; 409: kill of a container that is not running.
      if (status === 304 || status === 404 || status === 409) return;
      throw runtimeError(`stop container ${id}`, err);
    }
  }

  /** Whether the container stopped running within `ms`. */
  async #exits(id: string, ms: number): Promise<boolean> {
    try {
      await this.#docker
        .getContainer(id)
        .wait({ condition: 'not-running', abortSignal: AbortSignal.timeout(ms) } as object);
      return true;
    } catch (err) {
      if (isAbort(err)) return false;
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    try {
      // v: anonymous volumes only; the engine never removes named volumes with a container.
      await this.#docker.getContainer(id).remove({ force: true, v: true });
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return;
      if (status === 409 && /already in progress/i.test(reasonOf(err))) return;
      throw runtimeError(`remove container ${id}`, err);
    }
  }

  async list(labels: Labels): Promise<ContainerSummary[]> {
    const label: string[] = [containerLabels.task];
    for (const [key, value] of Object.entries(labels)) label.push(value ? `${key}=${value}` : key);
    let raw: Docker.ContainerInfo[];
    try {
      raw = await this.#docker.listContainers({ all: true, filters: { label } });
    } catch (err) {
      throw runtimeError('list containers', err);
    }
    return raw.map((c) => ({
      id: c.Id,
      name: (c.Names[0] ?? '').replace(/^\//, ''),
      state: toState(c.State),
      labels: c.Labels ?? {},
    }));
  }

  events(onEvent: (e: RuntimeEvent) => void, opts: EventOptions = {}): EventSubscription {
    return new EventStream(this.#docker, onEvent, opts);
  }

  async logs(id: string, opts: LogOptions = {}): Promise<Readable> {
    const container = this.#docker.getContainer(id);
    const query = {
      stdout: true,
      stderr: true,
      timestamps: opts.timestamps ?? false,
      ...(opts.tail === undefined ? {} : { tail: opts.tail }),
      since: opts.since ? opts.since.getTime() / 1000 : 0,
    };
    const lines = new LogLineSplitter(query.timestamps);
    try {
      if (opts.follow) {
        const raw = (await container.logs({ ...query, follow: true })) as Readable;
        raw.on('error', (err) => lines.destroy(err));
        // Destroying the lines (the caller's way to stop following) must end the request too.
        lines.on('close', () => raw.destroy());
        raw.pipe(lines);
      } else {
        lines.end(await container.logs({ ...query, follow: false }));
      }
    } catch (err) {
      throw runtimeError(`logs of container ${id}`, err);
    }
    return lines;
  }
}

/**
 * One `GET /events` at a time, reconnecting with backoff when it breaks. A reconnect asks for
 * events since the last one seen, so a short outage loses nothing the engine still holds, and
 * skips what was already delivered.
 */
class EventStream implements EventSubscription {
  readonly ready: Promise<void>;
  readonly #docker: DockerClient;
  readonly #onEvent: (e: RuntimeEvent) => void;
  readonly #opts: EventOptions;
  readonly #abort = new AbortController();
  #markReady!: () => void;
  #current: Readable | null = null;
  readonly #startNs: bigint;
  /** Engine time (ns) of the last delivered event and the events delivered at that instant. */
  #lastNs: bigint | null = null;
  #seenAtLast = new Set<string>();

  constructor(docker: DockerClient, onEvent: (e: RuntimeEvent) => void, opts: EventOptions) {
    this.#docker = docker;
    this.#onEvent = onEvent;
    this.#opts = opts;
    // Until an event arrives, a reconnect replays from the subscription's start (local clock:
    // the engine's is unknown, and a remote engine's skew would only widen the replay).
    this.#startNs = BigInt(Date.now()) * 1_000_000n;
    this.ready = new Promise((resolve) => {
      this.#markReady = resolve;
    });
    void this.#run();
  }

  close(): void {
    this.#abort.abort();
    this.#current?.destroy();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let backoffMs = 100;
    let first = true;
    while (!signal.aborted) {
      let reason: Error;
      try {
        const query: Record<string, unknown> = {
          filters: { type: ['container'], event: [...watched], label: [containerLabels.task] },
        };
        // A string, "seconds.nanoseconds": the engine accepts it and a number would lose the ns.
        if (!first) query.since = formatSince(this.#lastNs ?? this.#startNs);
        const stream = (await this.#docker.getEvents(query as Docker.GetEventsOptions)) as Readable;
        if (signal.aborted) {
          stream.destroy();
          return;
        }
        this.#current = stream;
        first = false;
        backoffMs = 100;
        this.#markReady();
        for await (const line of lineReader(stream)) this.#deliver(line);
        reason = new Error('the engine closed the event stream');
      } catch (err) {
        reason = err instanceof Error ? err : new Error(String(err));
      }
      this.#current = null;
      if (signal.aborted) return;
      this.#opts.onDisconnect?.(reason);
      try {
        await delay(backoffMs, undefined, { signal, ref: false });
      } catch {
        return; // closed while waiting
      }
      backoffMs = Math.min(backoffMs * 2, 2_000);
    }
  }

  #deliver(line: string): void {
    if (!line.trim()) return;
    const msg = JSON.parse(line) as EngineEvent;
    // Parsed from the text: nanoseconds since 1970 do not fit a double.
    const nano = /"timeNano":(\d+)/.exec(line)?.[1];
    const ns = nano ? BigInt(nano) : BigInt(msg.time) * 1_000_000_000n;
    const key = `${msg.Actor.ID}/${msg.Action}`;
    const last = this.#lastNs;
    if (last !== null && (ns < last || (ns === last && this.#seenAtLast.has(key)))) return;
    if (last === null || ns > last) {
      this.#lastNs = ns;
      this.#seenAtLast = new Set();
    }
    this.#seenAtLast.add(key);
    const event = toEvent(msg, ns);
    if (!event) return;
    try {
      this.#onEvent(event);
    } catch (err) {
      // A bug in the caller: let it surface as an uncaught exception, not as a broken stream.
      queueMicrotask(() => {
        throw err;
      });
    }
  }
}

interface EngineEvent {
  Type: string;
  Action: string;
  Actor: { ID: string; Attributes?: Record<string, string> };
  time: number;
}

/** Attributes the engine adds beside the container's labels. */
const notLabels = new Set(['name', 'image', 'exitCode', 'signal']);

function toEvent(msg: EngineEvent, ns: bigint): RuntimeEvent | null {
  if (msg.Type !== 'container') return null;
  // health_status arrives as "health_status: healthy".
  const [action, detail] = msg.Action.split(': ');
  if (!watched.includes(action as RuntimeEventAction)) return null;
  const attrs = msg.Actor.Attributes ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(attrs)) if (!notLabels.has(k)) labels[k] = v;
  const event: {
    -readonly [K in keyof RuntimeEvent]: RuntimeEvent[K];
  } = {
    action: action as RuntimeEventAction,
    containerId: msg.Actor.ID,
    labels,
    time: new Date(Number(ns / 1_000_000n)).toISOString(),
  };
  if (action === 'die' && attrs.exitCode !== undefined) event.exitCode = Number(attrs.exitCode);
  if (action === 'kill' && attrs.signal !== undefined) event.signal = attrs.signal;
  if (action === 'health_status') {
    const health = toHealth(detail);
    if (health) event.health = health;
  }
  return event;
}

function formatSince(ns: bigint): string {
  const s = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  return `${s}.${String(frac).padStart(9, '0')}`;
}

function lineReader(stream: Readable): AsyncIterable<string> {
  return createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
}

async function* jsonLines(stream: Readable): AsyncIterable<unknown> {
  for await (const line of lineReader(stream)) if (line.trim()) yield JSON.parse(line);
}

/** The engine's `{"80/tcp": [{HostIp, HostPort}, ...]}`, IPv4 bindings only (one per port). */
export function hostPortBindings(
  ports: Record<string, { HostIp: string; HostPort: string }[] | null> | undefined,
): HostPortBinding[] {
  const out: HostPortBinding[] = [];
  for (const [key, bindings] of Object.entries(ports ?? {})) {
    const [target, protocol] = key.split('/');
    if (protocol !== 'tcp' && protocol !== 'udp') continue;
    const v4 = (bindings ?? []).find((b) => !b.HostIp.includes(':'));
    if (v4 === undefined) continue;
    out.push({ protocol, targetPort: Number(target), hostPort: Number(v4.HostPort) });
  }
  return out;
}

function toState(status: string): ContainerState {
  if (states.has(status)) return status as ContainerState;
  // An engine newer than this code: report it as not running rather than guess.
  return 'dead';
}

function toHealth(status: string | undefined): ContainerHealth {
  return status === 'starting' || status === 'healthy' || status === 'unhealthy' ? status : null;
}

/** The engine's zero time (0001-01-01T00:00:00Z) means "never". */
function toTime(t: string | undefined): string | null {
  return !t || t.startsWith('0001-') ? null : t;
}

function statusOf(err: unknown): number | null {
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : null;
}

/** The engine's own words when it gave any, else the client's. */
function reasonOf(err: unknown): string {
  const json = (err as { json?: unknown } | null)?.json;
  if (json && typeof json === 'object' && 'message' in json) return String(json.message);
  if (typeof json === 'string' && json) return json.trim();
  const message = err instanceof Error ? err.message : String(err);
  // dockerode's "(HTTP code 500) server error - <the engine's words> "
  return /^\(HTTP code \d+\) [^-]*- ([\s\S]*)$/.exec(message)?.[1]?.trim() || message;
}

function isAbort(err: unknown): boolean {
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'AbortError' || name === 'TimeoutError';
}

function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EACCES'].includes(code)
  );
}

/**
 * Engine unreachable or engine-side failure (5xx): temporary. The engine refusing the request
 * (4xx: bad spec, name in use, no such container or image): fatal, a retry would fail the same.
 */
function runtimeError(what: string, err: unknown): RuntimeError {
  const status = statusOf(err);
  const temporary = status === null || status >= 500;
  const reason = reasonOf(err);
  return new RuntimeError(
    status === null ? `${what}: docker engine unreachable (${reason})` : `${what}: ${reason}`,
    { temporary, status },
    { cause: err },
  );
}
