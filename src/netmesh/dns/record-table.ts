// Which names a client may resolve, and to what. Records are kept per scope (an orca network)
// and a client sees a scope's names only when its source address lies in one of the scope's
// subnets: two networks may each have a service called `db`, and a task must never be handed
// the address of a service it shares no network with, which it could not reach anyway.

import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { DnsConfigError } from './errors.ts';

interface NameRecord {
  readonly addresses: readonly string[];
  /** Where the next answer starts in `addresses`: each answer rotates the list by one. */
  next: number;
}

interface Scope {
  readonly name: string;
  readonly subnets: BlockList;
}

export class RecordTable {
  readonly #records = new Map<string, Map<string, NameRecord>>();
  #scopes: readonly Scope[] = [];

  /**
   * Replaces the names of one scope; an empty map forgets the scope's names. A name whose
   * addresses are unchanged keeps its place in the rotation, so a table refreshed often does
   * not send every client to the first address.
   */
  setRecords(scope: string, records: ReadonlyMap<string, readonly string[]>): void {
    const old = this.#records.get(scope);
    const table = new Map<string, NameRecord>();
    for (const [rawName, addresses] of records) {
      const name = normalizeName(rawName);
      for (const a of addresses) {
        if (!isIPv4(a)) throw new DnsConfigError(`${rawName}: ${a} is not an IPv4 address`);
      }
      if (table.has(name))
        throw new DnsConfigError(`scope ${scope}: ${rawName} is given twice (names ignore case)`);
      const before = old?.get(name);
      const same =
        before !== undefined &&
        before.addresses.length === addresses.length &&
        before.addresses.every((a, i) => a === addresses[i]);
      table.set(name, {
        addresses: [...addresses],
        next: same ? before.next : 0,
      });
    }
    if (table.size === 0) this.#records.delete(scope);
    else this.#records.set(scope, table);
  }

  /**
   * Says which client subnets belong to which scope, replacing what was said before. A client
   * in several scopes (overlapping subnets, or one address given to several) sees all their
   * names; where two hold the same name, the scope given first wins.
   */
  setScopes(scopes: ReadonlyMap<string, readonly string[]>): void {
    const next: Scope[] = [];
    for (const [name, cidrs] of scopes) {
      const subnets = new BlockList();
      for (const cidr of cidrs) addSubnet(subnets, name, cidr);
      next.push({ name, subnets });
    }
    this.#scopes = next;
  }

  /**
   * The addresses of `name` as seen by `client`, rotated when `rotate` (an A answer: AAAA and
   * other questions for the name must not move the rotation); undefined when the name is not
   * one of the client's scopes' names (the server forwards it then). An empty list means the
   * name is known but has nothing to answer with: a dnsrr service without a healthy task.
   * `client` is the asking address, placed in scopes by their subnets, or the scopes themselves
   * where the server knows who asks without it (a socket inside one task's namespace).
   */
  lookup(client: DnsClient, name: string, rotate: boolean): readonly string[] | undefined {
    for (const scope of this.#scopesOf(client)) {
      const record = this.#records.get(scope)?.get(name);
      if (record === undefined) continue;
      const n = record.addresses.length;
      if (n <= 1 || !rotate) return record.addresses;
      const start = record.next % n;
      record.next = (start + 1) % n;
      return [...record.addresses.slice(start), ...record.addresses.slice(0, start)];
    }
    return undefined;
  }

  *#scopesOf(client: DnsClient): Iterable<string> {
    if (typeof client !== 'string') {
      yield* client.scopes;
      return;
    }
    const type = isIPv6(client) ? 'ipv6' : 'ipv4';
    for (const scope of this.#scopes) if (scope.subnets.check(client, type)) yield scope.name;
  }
}

/** Who asks: a source address, or the scopes of a task whose own socket the question came by. */
export type DnsClient = string | { readonly scopes: readonly string[] };

function addSubnet(list: BlockList, scope: string, cidr: string): void {
  const slash = cidr.indexOf('/');
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (type === undefined)
    throw new DnsConfigError(`scope ${scope}: ${cidr} is not an address or a subnet`);
  const max = type === 'ipv4' ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : cidr.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max)
    throw new DnsConfigError(`scope ${scope}: ${cidr} has a bad prefix length`);
  list.addSubnet(address, prefix, type);
}

/**
 * A name as the table keys it: lower case, no trailing dot. Throws on a name no query could
 * carry, so a typo in what the daemon feeds fails loudly instead of never matching.
 */
export function normalizeName(name: string): string {
  const n = (name.endsWith('.') ? name.slice(0, -1) : name).toLowerCase();
  const labels = n.split('.');
  if (n.length === 0 || n.length > 253 || labels.some((l) => l.length === 0 || l.length > 63))
    throw new DnsConfigError(`${JSON.stringify(name)} is not a DNS name`);
  // Printable ASCII without dots or spaces: what wire.ts can match a query against.
  if (!/^[\x21-\x7e]+$/.test(n))
    throw new DnsConfigError(`${JSON.stringify(name)} holds characters a DNS name cannot`);
  return n;
}
