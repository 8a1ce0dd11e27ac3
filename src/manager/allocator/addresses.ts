// Addresses on orca networks, cluster-wide: a task's container address on each network it
// attaches to, and a `vip` service's virtual IP there. Every network spans every node, so two
// holders of one address would break each other wherever they meet; the manager gives them out.
// Pure: the orchestrator loop gives task addresses inside the transaction that creates the tasks,
// the control API gives virtual IPs inside the one that writes the service. Those are different
// transactions, so task addresses come from the bottom of the subnet and virtual IPs from the
// top: the two can only meet on the last free address (see docs/design/networks.md).

import { type Cidr, formatIpv4, parseIpv4, parseSubnet, sizeOf } from '../../api/ipv4.ts';
import {
  type EndpointSpec,
  type Network,
  type NetworkAddress,
  type NetworkAttachment,
  type PortConfig,
  type Service,
  type ServiceEndpoint,
  type Task,
  type TaskState,
  taskStates,
} from '../../api/objects.ts';

const runningRank = taskStates.indexOf('running');

/**
 * Whether a task's container may still hold its addresses: until it is observed past running
 * (complete, shutdown, failed, rejected, remove, orphaned) its container may exist, and only
 * then has the engine let its addresses go.
 */
export function holdsAddresses(state: TaskState): boolean {
  return taskStates.indexOf(state) <= runningRank;
}

/** The free addresses of one network as a transaction sees them; taking one marks it used. */
export class AddressPool {
  readonly #used = new Set<number>();
  readonly #first: number;
  readonly #last: number;
  // Nothing is freed while a pool lives (it serves one transaction), so everything below the
  // low cursor and above the high one stays used: neither end is scanned twice.
  #low: number;
  #high: number;

  /** `used`: the addresses holders have, as stored (ones outside the subnet are ignored). */
  constructor(network: Network, cidr: Cidr, used: Iterable<string>) {
    this.#first = cidr.base + 1;
    this.#last = cidr.base + sizeOf(cidr) - 2;
    this.#low = this.#first;
    this.#high = this.#last;
    // The network and broadcast addresses lie outside [first, last] already.
    this.take(network.gateway);
    for (const addr of used) this.take(addr);
  }

  /** Marks `addr` used; false if it is not a host address of this subnet. */
  take(addr: string): boolean {
    const n = parseIpv4(addr);
    if (n === null || n < this.#first || n > this.#last) return false;
    this.#used.add(n);
    return true;
  }

  /** Takes the lowest free host address (a task's); null when none is left. */
  lowest(): string | null {
    while (this.#low <= this.#last && this.#used.has(this.#low)) this.#low++;
    return this.#low > this.#last ? null : this.#give(this.#low);
  }

  /** Takes the highest free host address (a virtual IP); null when none is left. */
  highest(): string | null {
    while (this.#high >= this.#first && this.#used.has(this.#high)) this.#high--;
    return this.#high < this.#first ? null : this.#give(this.#high);
  }

  #give(n: number): string {
    this.#used.add(n);
    return formatIpv4(n);
  }
}

/** What an address book reads: the transaction's networks, services and tasks. */
export interface AddressSource {
  network(id: string): Network | undefined;
  services(): Iterable<Service>;
  tasks(): Iterable<Task>;
}

/** A transaction as an address book reads it (a store ReadTx or WriteTx). */
export interface AddressTx {
  readonly networks: { get(id: string): Network | undefined };
  readonly services: { all(): readonly Service[] };
  readonly tasks: { all(): readonly Task[] };
}

export function addressSource(tx: AddressTx): AddressSource {
  return {
    network: (id) => tx.networks.get(id),
    services: () => tx.services.all(),
    tasks: () => tx.tasks.all(),
  };
}

/**
 * The pools of every network one transaction gives addresses on. The holders are read once, on
 * the first pool asked for (one pass over the services and the tasks, whichever networks are
 * asked for after), and each pool is built once: a transaction creating a thousand tasks scans
 * the tasks once, not a thousand times.
 */
export class AddressBook {
  readonly #source: AddressSource;
  #held: Map<string, string[]> | null = null;
  readonly #pools = new Map<string, AddressPool | null>();

  constructor(source: AddressSource) {
    this.#source = source;
  }

  /** The pool of network `id`; null when the network does not exist (or has no usable subnet). */
  pool(id: string): AddressPool | null {
    const known = this.#pools.get(id);
    if (known !== undefined) return known;
    const network = this.#source.network(id);
    let pool: AddressPool | null = null;
    if (network !== undefined) {
      try {
        pool = new AddressPool(network, parseSubnet(network.subnet, 'subnet'), this.#holders(id));
      } catch {
        // A stored network always has a valid subnet; one that does not gives nothing.
      }
    }
    this.#pools.set(id, pool);
    return pool;
  }

  #holders(id: string): readonly string[] {
    if (this.#held === null) {
      const held = new Map<string, string[]>();
      const add = (a: NetworkAddress) => {
        const list = held.get(a.network);
        if (list === undefined) held.set(a.network, [a.addr]);
        else list.push(a.addr);
      };
      for (const service of this.#source.services()) {
        for (const vip of service.endpoint?.virtualIps ?? []) add(vip);
      }
      for (const task of this.#source.tasks()) {
        if (task.networks === undefined || !holdsAddresses(task.status.state)) continue;
        for (const a of task.networks) add(a);
      }
      this.#held = held;
    }
    return this.#held.get(id) ?? [];
  }
}

/** Why an attachment got no address: its network is gone, or has no free address left. */
export interface AddressShortfall {
  /** The attachment's index in `spec.task.networks`. */
  readonly index: number;
  readonly network: string;
  readonly reason: 'missing' | 'exhausted';
}

export interface Addresses {
  /** One per attachment that got one, in the attachments' order. */
  readonly addrs: readonly NetworkAddress[];
  readonly shortfalls: readonly AddressShortfall[];
}

/**
 * A new task's address on each of its networks, each the lowest free one. An attachment whose
 * network is missing or full gets none and is reported; the addresses the others got stay taken
 * in `book`, so a caller that drops the task wastes them for this transaction only.
 */
export function taskAddresses(
  networks: readonly NetworkAttachment[],
  book: AddressBook,
): Addresses {
  const addrs: NetworkAddress[] = [];
  const shortfalls: AddressShortfall[] = [];
  networks.forEach(({ target }, index) => {
    const pool = book.pool(target);
    const addr = pool?.lowest() ?? null;
    if (addr === null) {
      shortfalls.push({ index, network: target, reason: pool === null ? 'missing' : 'exhausted' });
    } else addrs.push({ network: target, addr });
  });
  return { addrs, shortfalls };
}

/**
 * A service's virtual IPs: in `vip` mode (also when `endpoint` is absent) one per network it
 * attaches to, in the attachments' order; in `dnsrr` mode none. A network that already had one
 * in `previous` keeps it, so clients that resolved the name keep reaching the service across
 * updates; a new one is the highest free address. The VIPs of networks the service left are
 * not carried over. `fresh` lists the networks that got a new one.
 */
export function virtualIps(
  endpoint: EndpointSpec | undefined,
  networks: readonly NetworkAttachment[] | undefined,
  previous: readonly NetworkAddress[] | undefined,
  book: AddressBook,
): Addresses & { readonly fresh: readonly string[] } {
  if (endpoint?.mode === 'dnsrr' || networks === undefined) {
    return { addrs: [], shortfalls: [], fresh: [] };
  }
  const addrs: NetworkAddress[] = [];
  const shortfalls: AddressShortfall[] = [];
  const fresh: string[] = [];
  networks.forEach(({ target }, index) => {
    const pool = book.pool(target);
    if (pool === null) {
      shortfalls.push({ index, network: target, reason: 'missing' });
      return;
    }
    const kept = previous?.find((v) => v.network === target);
    // The pool holds the service's own previous VIPs as used, so the one it keeps is in it.
    if (kept !== undefined && pool.take(kept.addr)) {
      addrs.push(kept);
      return;
    }
    const addr = pool.highest();
    if (addr === null) shortfalls.push({ index, network: target, reason: 'exhausted' });
    else {
      addrs.push({ network: target, addr });
      fresh.push(target);
    }
  });
  return { addrs, shortfalls, fresh };
}

/**
 * A service's endpoint of its allocated ports and virtual IPs; absent when it has neither, as a
 * service that publishes nothing and attaches to no network has always been stored.
 */
export function endpointOf(
  ports: readonly PortConfig[],
  vips: readonly NetworkAddress[],
): ServiceEndpoint | undefined {
  if (ports.length === 0 && vips.length === 0) return undefined;
  return { ports, ...(vips.length === 0 ? {} : { virtualIps: vips }) };
}
