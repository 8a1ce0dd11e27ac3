// The service requests of the control API, validated and applied to the leader's store. Each
// write is one store transaction, so a request either happens whole or not at all; the leader's
// loops (orchestrators, scheduler) take it from there by watching the store.

import type {
  ServiceListItem,
  ServiceStatusCounts,
  TaskListRequest,
  TaskView,
} from '../../api/control-wire.ts';
import type {
  Network,
  Node,
  Service,
  ServiceEndpoint,
  ServiceSpec,
  Task,
} from '../../api/objects.ts';
import { maxReplicas } from '../../api/service-defaults.ts';
import {
  InvalidFlagsError,
  NameConflictError,
  OrcaError,
  StoreConflictError,
  TransactionTooLargeError,
} from '../../errors.ts';
import { newId, type Store, type WriteTx } from '../../store/index.ts';
import {
  AddressBook,
  type AddressShortfall,
  addressSource,
  endpointOf,
  virtualIps,
} from '../allocator/addresses.ts';
import { allocatePorts } from '../allocator/ports.ts';
import { generateServiceName } from './names.ts';
import { attachNetworks } from './networks.ts';
import { validateServiceSpec } from './validate.ts';

export interface ServiceApiOptions {
  /**
   * The store requests read and write: the leader's, after a linearizable barrier so a read sees
   * every write acknowledged before it. Tests pass a local Store (proposer null).
   */
  readonly store: () => Promise<Store>;
  /** For generated names; tests make it predictable. */
  readonly random?: () => number;
  readonly now?: () => Date;
  /** The id of the node answering, which `self` names; '' or absent where none is known. */
  readonly self?: () => string;
}

function badRequest(problem: string): InvalidFlagsError {
  return new InvalidFlagsError([problem]);
}

function nameInUse(name: string): OrcaError {
  return new OrcaError(
    'ORCA_NAME_TAKEN',
    `service name ${name} is already in use; choose another --name, or remove that service first (orca service rm ${name})`,
  );
}

/** As Docker: a full id, then a name, then a unique id prefix. */
export function resolveService(services: readonly Service[], ref: unknown): Service {
  if (typeof ref !== 'string' || ref === '') {
    throw badRequest('SERVICE: give a service id or name');
  }
  const exact =
    services.find((s) => s.meta.id === ref) ?? services.find((s) => s.spec.name === ref);
  if (exact !== undefined) return exact;
  const matches = services.filter((s) => s.meta.id.startsWith(ref));
  if (matches.length === 1) return matches[0] as Service;
  if (matches.length === 0) throw new OrcaError('ORCA_NOT_FOUND', `service ${ref} not found`);
  throw badRequest(
    `service ${ref} is ambiguous (${matches.length} services have ids starting with it: ${matches
      .map((s) => `${s.meta.id} (${s.spec.name})`)
      .join(', ')}); give more of the id, or the name`,
  );
}

/** As Docker's task lookup: a full id, then a unique id prefix. */
export function resolveTask(tasks: readonly Task[], ref: unknown): Task {
  if (typeof ref !== 'string' || ref === '') throw badRequest('TASK: give a task id');
  const exact = tasks.find((t) => t.meta.id === ref);
  if (exact !== undefined) return exact;
  const matches = tasks.filter((t) => t.meta.id.startsWith(ref));
  if (matches.length === 1) return matches[0] as Task;
  if (matches.length === 0) throw new OrcaError('ORCA_NOT_FOUND', `task ${ref} not found`);
  throw badRequest(
    `task ${ref} is ambiguous (${matches.length} tasks have ids starting with it); give more of the id`,
  );
}

/**
 * As `node inspect`: `self` (the node answering, where `self` knows it), a full id, a hostname,
 * then a unique id prefix.
 */
export function resolveNode(nodes: readonly Node[], ref: string, self = ''): Node {
  const id = ref === 'self' && self !== '' ? self : ref;
  const byId = nodes.find((n) => n.meta.id === id);
  if (byId !== undefined) return byId;
  const byName = nodes.filter((n) => n.description.hostname === ref);
  const matches = byName.length > 0 ? byName : nodes.filter((n) => n.meta.id.startsWith(ref));
  if (matches.length === 1) return matches[0] as Node;
  if (matches.length === 0) throw new OrcaError('ORCA_NOT_FOUND', `node ${ref} not found`);
  throw badRequest(
    `node ${ref} is ambiguous (${matches.length} matches: ${matches.map((n) => n.meta.id).join(', ')}); give more of the id`,
  );
}

/**
 * What `service ls` shows in REPLICAS. Counted from the tasks each time: storing it would make
 * every task status change a service write as well.
 */
export function serviceStatus(service: Service, tasks: readonly Task[]): ServiceStatusCounts {
  const live = tasks.filter((t) => t.desiredState === 'running');
  const runningTasks = live.filter((t) => t.status.state === 'running').length;
  const completedTasks = tasks.filter((t) => t.status.state === 'complete').length;
  const mode = service.spec.mode;
  let desiredTasks: number;
  switch (mode.kind) {
    case 'replicated':
      desiredTasks = mode.replicas;
      break;
    case 'replicated-job':
      desiredTasks = Math.min(
        mode.maxConcurrent,
        Math.max(mode.totalCompletions - completedTasks, 0),
      );
      break;
    default:
      // One task per eligible node: the orchestrator knows which nodes those are, and has made
      // a task for each, so its tasks are the count (completed job tasks excluded).
      desiredTasks = live.filter((t) => t.status.state !== 'complete').length;
  }
  return { runningTasks, desiredTasks, completedTasks };
}

/** `svc` with `spec` and its endpoint allocated for it (see endpointFor). */
function withEndpoint(svc: Service, spec: ServiceSpec, tx: WriteTx): Service {
  const { endpoint: _old, ...rest } = svc;
  const endpoint = endpointFor(spec, svc, tx);
  return { ...rest, spec, ...(endpoint === undefined ? {} : { endpoint }) };
}

/**
 * What a service with `spec` (its networks already ids) gets: the ports it publishes allocated
 * against every other service's, and in `vip` mode a virtual IP on each of its networks, those
 * of `current` (null on create) kept. Absent when there is neither. A network that gets a new
 * virtual IP is written back unchanged, as attachNetworks does: two writes giving one out on it
 * from the same state are then ordered by the log, the later one refused, instead of both
 * taking the same address.
 */
function endpointFor(
  spec: ServiceSpec,
  current: Service | null,
  tx: WriteTx,
): ServiceEndpoint | undefined {
  const others = tx.services.all().filter((s) => s.meta.id !== current?.meta.id);
  const ports = allocatePorts(spec.endpoint, current?.endpoint, others);
  const vips = virtualIps(
    spec.endpoint,
    spec.task.networks,
    current?.endpoint?.virtualIps,
    new AddressBook(addressSource(tx)),
  );
  const short = vips.shortfalls[0];
  if (short !== undefined) throw noVirtualIp(short, tx.networks.get(short.network));
  for (const id of vips.fresh) {
    const network = tx.networks.get(id);
    if (network !== undefined) tx.networks.update(network);
  }
  return endpointOf(ports?.ports ?? [], vips.addrs);
}

function noVirtualIp(short: AddressShortfall, network: Network | undefined): OrcaError {
  const path = `spec.task.networks[${short.index}]`;
  if (network === undefined) {
    return new OrcaError(
      'ORCA_NOT_FOUND',
      `${path}.target: network ${short.network} not found; create it first, or leave it out`,
    );
  }
  return new OrcaError(
    'ORCA_POOL_EXHAUSTED',
    `${path}: network ${network.spec.name} (${network.subnet}) has no free address left for the service's virtual IP; remove services or tasks from that network, attach the service to another network, or use --endpoint-mode dnsrr`,
  );
}

export class ServiceApi {
  readonly #opts: ServiceApiOptions;

  constructor(opts: ServiceApiOptions) {
    this.#opts = opts;
  }

  #now(): string {
    return (this.#opts.now?.() ?? new Date()).toISOString();
  }

  async create(specIn: unknown): Promise<Service> {
    const spec = validateServiceSpec(specIn);
    const store = await this.#opts.store();
    const id = newId();
    try {
      await store.update((tx) => {
        const taken = (name: string) => tx.services.byName(name) !== undefined;
        let name = spec.name;
        if (name === '') name = generateServiceName(taken, id, this.#opts.random);
        else if (taken(name)) throw nameInUse(name);
        const attached = attachNetworks({ ...spec, name }, tx, null);
        const endpoint = endpointFor(attached, null, tx);
        tx.services.create(
          {
            spec: attached,
            previousSpec: null,
            updateStatus: null,
            ...(endpoint === undefined ? {} : { endpoint }),
          },
          { id },
        );
      });
    } catch (err) {
      // Another create of the same name may have been ordered first by the log.
      if (err instanceof NameConflictError) throw nameInUse(err.value);
      throw err;
    }
    return this.#read(store, id);
  }

  async list(): Promise<ServiceListItem[]> {
    const store = await this.#opts.store();
    return store.view((tx) =>
      [...tx.services.all()]
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
        .map((s) => ({ ...s, serviceStatus: serviceStatus(s, tx.tasks.byService(s.meta.id)) })),
    );
  }

  async inspect(ref: unknown): Promise<Service> {
    const store = await this.#opts.store();
    return store.view((tx) => resolveService(tx.services.all(), ref));
  }

  /**
   * Deletes the service and marks its tasks desired `remove` in the same transaction, so that
   * no task is left running for a service that no longer exists once the loops act on it.
   */
  async remove(ref: unknown): Promise<{ id: string }> {
    const store = await this.#opts.store();
    return this.#retry(async () => {
      const svc = store.view((tx) => resolveService(tx.services.all(), ref));
      const mark = (tx: WriteTx, t: Task) => {
        if (t.desiredState !== 'remove') tx.tasks.update({ ...t, desiredState: 'remove' });
      };
      try {
        await store.update((tx) => {
          tx.services.delete(svc.meta.id);
          for (const t of tx.tasks.byService(svc.meta.id)) mark(tx, t);
        });
      } catch (err) {
        if (!(err instanceof TransactionTooLargeError)) throw err;
        // Too many tasks for one log entry: the service goes first, atomically; a batch stopped
        // part way leaves tasks whose service is gone, which the orchestrator removes anyway.
        await store.update((tx) => tx.services.delete(svc.meta.id));
        await store.batch((tx) => {
          for (const t of tx.tasks.byService(svc.meta.id)) mark(tx, t);
        });
      }
      return { id: svc.meta.id };
    });
  }

  async scale(ref: unknown, replicas: unknown): Promise<Service> {
    if (
      typeof replicas !== 'number' ||
      !Number.isSafeInteger(replicas) ||
      replicas < 0 ||
      replicas > maxReplicas
    ) {
      throw badRequest(
        `replicas: ${JSON.stringify(replicas)} is not a whole number from 0 to ${maxReplicas}`,
      );
    }
    const store = await this.#opts.store();
    // "Set the count", not "based on version N": a concurrent change elsewhere is no reason to
    // refuse it, so a conflict is retried on the fresh service.
    return this.#retry(async () => {
      const { value: id } = await store.update((tx) => {
        const svc = resolveService(tx.services.all(), ref);
        const mode = svc.spec.mode;
        if (mode.kind !== 'replicated' && mode.kind !== 'replicated-job') {
          throw new OrcaError(
            'ORCA_SERVICE_MODE',
            `service ${svc.spec.name}: scale can only be used with replicated or replicated-job mode (it is ${mode.kind})`,
          );
        }
        const spec: ServiceSpec = {
          ...svc.spec,
          mode:
            mode.kind === 'replicated'
              ? { ...mode, replicas }
              : { ...mode, totalCompletions: replicas },
        };
        return tx.services.update({ ...svc, spec, previousSpec: svc.spec, updateStatus: null }).meta
          .id;
      });
      return this.#read(store, id);
    });
  }

  /**
   * Replaces the spec, keeping the old one for rollback. `version` is the version the new spec
   * was derived from: a service changed since is refused, since the caller's edit was made to
   * a spec that is no longer there.
   */
  async update(ref: unknown, specIn: unknown, version: unknown): Promise<Service> {
    const spec = validateServiceSpec(specIn);
    if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 0) {
      throw badRequest(`version: ${JSON.stringify(version)} is not a service version`);
    }
    const store = await this.#opts.store();
    const { value: id } = await store.update((tx) => {
      const svc = resolveService(tx.services.all(), ref);
      if (svc.meta.version !== version) {
        throw new StoreConflictError('service', 'services', svc.meta.id, version, svc.meta.version);
      }
      if (spec.name !== svc.spec.name) {
        throw badRequest(
          `spec.name: a service cannot be renamed (${svc.spec.name} to ${spec.name || '""'})`,
        );
      }
      if (spec.mode.kind !== svc.spec.mode.kind) {
        throw badRequest(
          `spec.mode: a service's mode cannot change (${svc.spec.mode.kind} to ${spec.mode.kind}); create a new service`,
        );
      }
      return tx.services.update({
        ...withEndpoint(svc, attachNetworks(spec, tx, svc.spec), tx),
        previousSpec: svc.spec,
        updateStatus: null,
      }).meta.id;
    });
    return this.#read(store, id);
  }

  /** Swaps spec and previousSpec, so a second rollback undoes the first, as in Swarm. */
  async rollback(ref: unknown): Promise<Service> {
    const store = await this.#opts.store();
    return this.#retry(async () => {
      const { value: id } = await store.update((tx) => {
        const svc = resolveService(tx.services.all(), ref);
        if (svc.previousSpec === null) {
          throw new OrcaError(
            'ORCA_NO_PREVIOUS_SPEC',
            `service ${svc.spec.name} does not have a previous spec to roll back to (it was never updated)`,
          );
        }
        for (const n of svc.previousSpec.task.networks ?? []) {
          if (tx.networks.get(n.target) === undefined) {
            throw new OrcaError(
              'ORCA_NOT_FOUND',
              `service ${svc.spec.name} cannot roll back: its previous spec attaches to network ${n.target}, which was removed`,
            );
          }
        }
        return tx.services.update({
          ...withEndpoint(svc, attachNetworks(svc.previousSpec, tx, svc.spec), tx),
          previousSpec: svc.spec,
          updateStatus: {
            state: 'rollback_started',
            startedAt: this.#now(),
            message: 'manually requested rollback',
          },
        }).meta.id;
      });
      return this.#read(store, id);
    });
  }

  /** Newest first within a slot, so `service ps` shows the current task above its history. */
  async tasks(filter: TaskListRequest): Promise<TaskView[]> {
    if (filter.node !== undefined && (typeof filter.node !== 'string' || filter.node === '')) {
      throw badRequest('node: give a node id or hostname');
    }
    const store = await this.#opts.store();
    return store.view((tx) => {
      const services = tx.services.all();
      let tasks: readonly Task[] =
        filter.service === undefined
          ? tx.tasks.all()
          : tx.tasks.byService(resolveService(services, filter.service).meta.id);
      if (filter.node !== undefined) {
        const self = this.#opts.self?.() ?? '';
        const nodeId = resolveNode(tx.nodes.all(), filter.node, self).meta.id;
        tasks = tasks.filter((t) => t.nodeId === nodeId);
      }
      const names = new Map(services.map((s) => [s.meta.id, s.spec.name]));
      return tasks
        .map(
          (t): TaskView => ({
            ...t,
            serviceName: names.get(t.serviceId) ?? '',
            nodeHostname:
              t.nodeId === '' ? '' : (tx.nodes.get(t.nodeId)?.description.hostname ?? ''),
          }),
        )
        .sort(
          (a, b) =>
            a.serviceName.localeCompare(b.serviceName) ||
            a.slot - b.slot ||
            (a.slot === 0 ? a.nodeId.localeCompare(b.nodeId) : 0) ||
            b.meta.createdAt.localeCompare(a.meta.createdAt) ||
            a.meta.id.localeCompare(b.meta.id),
        );
    });
  }

  #read(store: Store, id: string): Service {
    const svc = store.view((tx) => tx.services.get(id));
    // Only a remove ordered right after this write by the log can get here.
    if (svc === undefined) throw new OrcaError('ORCA_NOT_FOUND', `service ${id} not found`);
    return svc;
  }

  async #retry<T>(attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof StoreConflictError) || n >= 3) throw err;
      }
    }
  }
}
