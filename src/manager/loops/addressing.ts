// Addresses in the orchestrator loop's write: each task it creates gets its address on each of
// its networks, and a service it rolls back gets the virtual IPs of the spec it rolls back to.
// One Addressing serves one run of the write (which the loop may run twice: as one transaction,
// then as a batch when that is too large), so every run gives from the state it reads.

import type { Service } from '../../api/objects.ts';
import type { WriteTx } from '../../store/index.ts';
import {
  AddressBook,
  type AddressShortfall,
  addressSource,
  endpointOf,
  taskAddresses,
  virtualIps,
} from '../allocator/addresses.ts';
import type { NewTask } from '../orchestrator/index.ts';

/** Addresses not given on one network in one write, for the log once the write is applied. */
export interface AddressNote {
  readonly serviceId: string;
  readonly network: string;
  /** The network's name and subnet; absent when it is gone. */
  readonly name?: string;
  readonly subnet?: string;
  readonly reason: AddressShortfall['reason'];
  /** Tasks left out of this write (a full network) or given without that address (a gone one). */
  readonly subject: 'task' | 'virtual IP';
  /** How many of them: one note for a hundred tasks left out, not a hundred lines of log. */
  count: number;
}

export function noteText(note: AddressNote): string {
  const where =
    note.name === undefined ? `network ${note.network}` : `network ${note.name} (${note.subnet})`;
  if (note.reason === 'missing') {
    const what = note.subject === 'task' ? `${note.count} task(s) created` : 'the service left';
    return `${where} no longer exists: ${what} without an address on it`;
  }
  return note.subject === 'task'
    ? `${where} has no free address: ${note.count} task(s) not created yet; retrying`
    : `${where} has no free address: the service has no virtual IP on it`;
}

export class Addressing {
  readonly #notes = new Map<string, AddressNote>();
  readonly #tx: WriteTx;
  #book: AddressBook | null = null;

  constructor(tx: WriteTx) {
    this.#tx = tx;
  }

  get notes(): AddressNote[] {
    return [...this.#notes.values()];
  }

  /** Whether a task was left out because a network had no free address: worth a retry. */
  get exhausted(): boolean {
    return this.notes.some((n) => n.subject === 'task' && n.reason === 'exhausted');
  }

  /**
   * `task` with its addresses, or null when one of its networks has no free address: a
   * container started without its address would be unreachable there, so the task waits for a
   * later pass instead. A network that is gone (only a race: the control API refuses removing
   * one a service names) is skipped, so the task still runs on the others.
   */
  task(task: NewTask): NewTask | null {
    const networks = task.spec.networks;
    if (networks === undefined || networks.length === 0) return task;
    const { addrs, shortfalls } = taskAddresses(networks, this.#addresses());
    const full = shortfalls.filter((s) => s.reason === 'exhausted');
    for (const s of full.length > 0 ? full : shortfalls) this.#note(s, task.serviceId, 'task');
    if (full.length > 0) return null;
    return addrs.length === 0 ? task : { ...task, networks: addrs };
  }

  /**
   * `service` with the virtual IPs its spec calls for (kept where it had one), for a spec the
   * loop puts back on a rollback. A network that gets a new one is written back unchanged, as
   * the control API does, so two writers giving one out from the same state are ordered.
   */
  service(service: Service): Service {
    const had = service.endpoint?.virtualIps;
    const networks = service.spec.task.networks;
    if (had === undefined && networks === undefined) return service;
    const vips = virtualIps(service.spec.endpoint, networks, had, this.#addresses());
    for (const s of vips.shortfalls) this.#note(s, service.meta.id, 'virtual IP');
    for (const id of vips.fresh) {
      const network = this.#tx.networks.get(id);
      if (network !== undefined) this.#tx.networks.update(network);
    }
    const { endpoint: old, ...rest } = service;
    const endpoint = endpointOf(old?.ports ?? [], vips.addrs);
    return endpoint === undefined ? rest : { ...rest, endpoint };
  }

  #note(s: AddressShortfall, serviceId: string, subject: AddressNote['subject']): void {
    const key = `${serviceId} ${subject} ${s.reason} ${s.network}`;
    const known = this.#notes.get(key);
    if (known !== undefined) {
      known.count++;
      return;
    }
    const network = this.#tx.networks.get(s.network);
    this.#notes.set(key, {
      serviceId,
      network: s.network,
      ...(network === undefined ? {} : { name: network.spec.name, subnet: network.subnet }),
      reason: s.reason,
      subject,
      count: 1,
    });
  }

  #addresses(): AddressBook {
    this.#book ??= new AddressBook(addressSource(this.#tx));
    return this.#book;
  }
}
