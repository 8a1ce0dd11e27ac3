// The network requests of the control API, and how a service spec's networks are resolved
// against them. As for services, each write is one store transaction: a network is created with
// its subnet allocated against every other network's, and removed only while no service names
// it, both decided on the state the transaction reads.

import { parseGateway, parseSubnet } from '../../api/ipv4.ts';
import type { Network, NetworkAttachment, NetworkSpec, ServiceSpec } from '../../api/objects.ts';
import { InvalidFlagsError, NameConflictError, OrcaError } from '../../errors.ts';
import { newId, type ReadTx, type Store, type WriteTx } from '../../store/index.ts';
import { allocateSubnet } from '../allocator/subnets.ts';

/** As Docker's network names. */
export const networkNamePattern = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Docker sets none; orca takes services' bound, so a name fits the tables and DNS labels. */
export const maxNetworkNameLength = 63;

export interface NetworkApiOptions {
  /** As ServiceApiOptions.store: the leader's store, read after a linearizable barrier. */
  readonly store: () => Promise<Store>;
}

function nameInUse(name: string): OrcaError {
  return new OrcaError(
    'ORCA_NAME_TAKEN',
    `network name ${name} is already in use; choose another name, or remove that network first (orca network rm ${name})`,
  );
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** As Docker: a full id, then a name, then a unique id prefix. */
export function resolveNetwork(networks: readonly Network[], ref: unknown): Network {
  if (typeof ref !== 'string' || ref === '') {
    throw new InvalidFlagsError(['NETWORK: give a network id or name']);
  }
  const exact =
    networks.find((n) => n.meta.id === ref) ?? networks.find((n) => n.spec.name === ref);
  if (exact !== undefined) return exact;
  const matches = networks.filter((n) => n.meta.id.startsWith(ref));
  if (matches.length === 1) return matches[0] as Network;
  if (matches.length === 0) throw new OrcaError('ORCA_NOT_FOUND', `network ${ref} not found`);
  throw new InvalidFlagsError([
    `network ${ref} is ambiguous (${matches.length} networks have ids starting with it: ${matches
      .map((n) => `${n.meta.id} (${n.spec.name})`)
      .join(', ')}); give more of the id, or the name`,
  ]);
}

/**
 * Checks a NetworkSpec from the wire and returns it typed, or throws one InvalidFlagsError
 * listing every problem by field. The subnet and gateway are checked here too, so that a bad
 * one is reported with the rest; whether it overlaps another network is the allocator's call.
 */
export function validateNetworkSpec(spec: unknown): NetworkSpec {
  const problems: string[] = [];
  if (!isRecord(spec)) throw new InvalidFlagsError(['spec: must be an object']);
  const { name, labels, driver, attachable, internal, ipam } = spec;
  if (typeof name !== 'string') problems.push('spec.name: must be a string');
  else if (!networkNamePattern.test(name) || name.length > maxNetworkNameLength) {
    problems.push(
      `spec.name: "${name}" is not a network name (letters, digits, _ . -, starting with a letter or digit, at most ${maxNetworkNameLength} characters)`,
    );
  }
  if (!isRecord(labels)) problems.push('spec.labels: must be an object');
  else {
    for (const [k, v] of Object.entries(labels)) {
      if (k === '' || typeof v !== 'string') {
        problems.push(`spec.labels: "${k}" needs a non-empty key and a string value`);
      }
    }
  }
  if (driver !== 'overlay') {
    problems.push(
      `spec.driver: ${JSON.stringify(driver)} is not overlay (orca networks are overlay networks spanning the swarm)`,
    );
  }
  if (typeof attachable !== 'boolean') problems.push('spec.attachable: must be true or false');
  if (internal !== undefined && typeof internal !== 'boolean') {
    problems.push('spec.internal: must be true or false');
  }
  if (ipam !== undefined) {
    if (!isRecord(ipam)) problems.push('spec.ipam: must be an object');
    else if (typeof ipam.subnet !== 'string') {
      problems.push('spec.ipam.subnet: must be a string (a gateway needs a subnet)');
    } else {
      try {
        const cidr = parseSubnet(ipam.subnet, 'spec.ipam.subnet');
        if (ipam.gateway !== undefined) {
          if (typeof ipam.gateway !== 'string')
            problems.push('spec.ipam.gateway: must be a string');
          else parseGateway(ipam.gateway, cidr, 'spec.ipam.gateway');
        }
      } catch (err) {
        if (!(err instanceof InvalidFlagsError)) throw err;
        problems.push(...err.problems);
      }
    }
  }
  if (problems.length > 0) throw new InvalidFlagsError(problems);
  return spec as unknown as NetworkSpec;
}

/** The services whose current spec attaches to `networkId`, by name. */
export function servicesUsing(tx: ReadTx | WriteTx, networkId: string): string[] {
  return tx.services
    .all()
    .filter((s) => s.spec.task.networks?.some((n) => n.target === networkId) === true)
    .map((s) => s.spec.name)
    .sort();
}

/**
 * `spec` with each of its networks named by id (a client sends names, ids or id prefixes), in
 * the transaction that writes the service. An unknown network is refused naming the field, and
 * a network given twice (by name and by id, say) too; an empty list is stored as none. Networks the service did not have before
 * (`previous`) are written back unchanged: that bumps their version, so a `network rm` decided
 * on the state before this write is refused by the log instead of leaving the service attached
 * to a network that no longer exists.
 */
export function attachNetworks(
  spec: ServiceSpec,
  tx: WriteTx,
  previous: ServiceSpec | null,
): ServiceSpec {
  const { networks: wanted, ...task } = spec.task;
  if (wanted === undefined) return spec;
  // An empty list means none, as an absent one: stored one way so task specs compare equal.
  if (wanted.length === 0) return { ...spec, task };
  const all = tx.networks.all();
  const had = new Set((previous?.task.networks ?? []).map((n) => n.target));
  const seen = new Set<string>();
  const problems: string[] = [];
  const resolved: NetworkAttachment[] = [];
  wanted.forEach((attachment, i) => {
    const path = `spec.task.networks[${i}].target`;
    let network: Network;
    try {
      network = resolveNetwork(all, attachment.target);
    } catch (err) {
      if (err instanceof OrcaError && err.code === 'ORCA_NOT_FOUND') {
        throw new OrcaError(
          'ORCA_NOT_FOUND',
          `${path}: network ${attachment.target} not found; create it first (orca network create ${attachment.target})`,
        );
      }
      if (err instanceof InvalidFlagsError) {
        problems.push(...err.problems.map((p) => `${path}: ${p}`));
        return;
      }
      throw err;
    }
    if (seen.has(network.meta.id)) {
      problems.push(`${path}: the service is already attached to network ${network.spec.name}`);
      return;
    }
    seen.add(network.meta.id);
    if (!had.has(network.meta.id)) tx.networks.update(network);
    resolved.push({ ...attachment, target: network.meta.id });
  });
  if (problems.length > 0) throw new InvalidFlagsError(problems);
  return { ...spec, task: { ...task, networks: resolved } };
}

export class NetworkApi {
  readonly #opts: NetworkApiOptions;

  constructor(opts: NetworkApiOptions) {
    this.#opts = opts;
  }

  async create(specIn: unknown): Promise<Network> {
    const spec = validateNetworkSpec(specIn);
    const store = await this.#opts.store();
    const id = newId();
    try {
      await store.update((tx) => {
        if (tx.networks.byName(spec.name) !== undefined) throw nameInUse(spec.name);
        const { subnet, gateway } = allocateSubnet(spec.ipam, tx.networks.all());
        tx.networks.create({ spec, subnet, gateway }, { id });
      });
    } catch (err) {
      // Another create of the same name may have been ordered first by the log.
      if (err instanceof NameConflictError) throw nameInUse(err.value);
      throw err;
    }
    const created = store.view((tx) => tx.networks.get(id));
    // Only a remove ordered right after this write by the log can get here.
    if (created === undefined) throw new OrcaError('ORCA_NOT_FOUND', `network ${id} not found`);
    return created;
  }

  async list(): Promise<Network[]> {
    const store = await this.#opts.store();
    return store.view((tx) =>
      [...tx.networks.all()].sort((a, b) => a.spec.name.localeCompare(b.spec.name)),
    );
  }

  async inspect(ref: unknown): Promise<Network> {
    const store = await this.#opts.store();
    return store.view((tx) => resolveNetwork(tx.networks.all(), ref));
  }

  /** Refused while a service attaches to it: its tasks would lose their network under them. */
  async remove(ref: unknown): Promise<{ id: string }> {
    const store = await this.#opts.store();
    const { value } = await store.update((tx) => {
      const network = resolveNetwork(tx.networks.all(), ref);
      const users = servicesUsing(tx, network.meta.id);
      if (users.length > 0) {
        throw new OrcaError(
          'ORCA_NETWORK_IN_USE',
          `network ${network.spec.name} is in use by service(s) ${users.join(', ')}; remove or update them first (orca service update --network-rm ${network.spec.name} SERVICE)`,
        );
      }
      tx.networks.delete(network.meta.id);
      return { id: network.meta.id };
    });
    return value;
  }
}
