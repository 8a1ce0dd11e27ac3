// Service discovery on one node: the embedded DNS server, answering inside each task's own
// network namespace, and the VIP rules there, both following the dispatcher's discovery table.
// A task's namespace is set up once its container runs (attach) and let go when it stops
// (detach); the table may change at any time and every attached namespace follows it.

import type { WireDiscoveryNetwork } from '../../api/dispatcher-wire.ts';
import { DnsServer, type DnsSockets, type ServiceEndpoint, serviceRecords } from '../dns/index.ts';
import { runNft } from '../nft-run.ts';
import { VxlanOverlay } from '../overlay/vxlan-overlay.ts';
import { openNamespaceDnsSockets } from './namespace-sockets.ts';
import { vipRuleset, vipTargets } from './vip-rules.ts';

/**
 * Where a task's resolver finds orca's, inside the task's namespace. Not 127.0.0.11: the
 * engine's own resolver holds that address in every container on a user-defined network, and
 * asks this one for every name it does not know (container names are the engine's to answer).
 */
export const SANDBOX_DNS_ADDR = '127.0.0.12';

export interface DiscoveryLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface ServiceDiscoveryOptions {
  readonly log: DiscoveryLog;
  /** Resolvers for every other name; default: /etc/resolv.conf's. */
  readonly upstreams?: readonly string[];
  readonly nft?: string;
  readonly nsenter?: string;
  /** Seams for tests: how a namespace gets its DNS sockets and its rules. */
  readonly openSockets?: (pid: number) => Promise<DnsSockets>;
  readonly applyRules?: (pid: number, script: string) => Promise<void>;
  /** Joins this node's engine networks to the other nodes'; default: VXLAN, as root. */
  readonly overlay?: Pick<VxlanOverlay, 'reconcile'>;
}

interface Sandbox {
  readonly pid: number;
  readonly networks: readonly string[];
  /** The ruleset last loaded, the one wanted next, and the load in flight. */
  applied: string;
  wanted: string;
  loading: Promise<void> | null;
  detached: boolean;
}

export class ServiceDiscovery {
  readonly #log: DiscoveryLog;
  readonly #dns = new DnsServer();
  readonly #openSockets: (pid: number) => Promise<DnsSockets>;
  readonly #applyRules: (pid: number, script: string) => Promise<void>;
  readonly #upstreams: readonly string[] | undefined;
  readonly #sandboxes = new Map<string, Sandbox>();
  readonly #attaching = new Map<string, Promise<void>>();
  readonly #overlay: Pick<VxlanOverlay, 'reconcile'>;
  #table: readonly WireDiscoveryNetwork[] = [];
  #peers: readonly string[] = [];
  #scopes = new Set<string>();
  #started: Promise<void> | null = null;
  #closed = false;

  constructor(opts: ServiceDiscoveryOptions) {
    this.#log = opts.log;
    this.#upstreams = opts.upstreams;
    const nsenter = opts.nsenter ?? 'nsenter';
    this.#openSockets =
      opts.openSockets ??
      ((pid) => openNamespaceDnsSockets({ pid, address: SANDBOX_DNS_ADDR, port: 53, nsenter }));
    const nft = opts.nft ?? 'nft';
    this.#applyRules = opts.applyRules ?? ((pid, script) => runNft(nft, script, pid, nsenter));
    this.#overlay = opts.overlay ?? new VxlanOverlay({ log: opts.log });
  }

  /**
   * The dispatcher's whole table (every network's names, every attached task's VIPs) and the
   * other nodes' data-path addresses, where the overlay sends.
   */
  update(table: readonly WireDiscoveryNetwork[], peers: readonly string[] = this.#peers): void {
    this.#table = table;
    this.#peers = peers;
    void this.#joinOverlay();
    const seen = new Set<string>();
    for (const network of table) {
      seen.add(network.network);
      try {
        this.#dns.setRecords(network.network, records(network));
      } catch (err) {
        this.#log.warn({ err, network: network.name }, 'discovery: names of a network refused');
      }
    }
    for (const gone of this.#scopes) if (!seen.has(gone)) this.#dns.setRecords(gone, new Map());
    this.#scopes = seen;
    for (const sandbox of this.#sandboxes.values()) this.#load(sandbox);
  }

  /**
   * Gives the namespace of `pid` (a task's container) orca's DNS and the VIPs of `networks`.
   * Idempotent for the same pid; a new pid under the same key (a restarted daemon finds the
   * task again, or its container was replaced) starts over.
   */
  attach(key: string, pid: number, networks: readonly string[]): Promise<void> {
    const current = this.#sandboxes.get(key);
    if (current !== undefined && current.pid === pid) return current.loading ?? Promise.resolve();
    const inFlight = this.#attaching.get(key);
    if (inFlight !== undefined) return inFlight;
    const attaching = this.#attach(key, pid, networks).finally(() => this.#attaching.delete(key));
    this.#attaching.set(key, attaching);
    return attaching;
  }

  async #attach(key: string, pid: number, networks: readonly string[]): Promise<void> {
    this.detach(key);
    this.#started ??= this.#dns
      .start({
        ...(this.#upstreams === undefined ? {} : { upstreams: this.#upstreams }),
        logger: this.#log,
      })
      .then(
        () => {},
        (err: unknown) => {
          // The next attach starts it again rather than fail on this for the daemon's life.
          this.#started = null;
          throw err;
        },
      );
    await this.#started;
    const sockets = await this.#openSockets(pid);
    if (this.#closed) {
      sockets.udp.close();
      sockets.tcp.close();
      return;
    }
    this.#dns.adopt(key, sockets, networks);
    // The task's engine network may be new on this node: join it to the others first.
    await this.#joinOverlay();
    const sandbox: Sandbox = {
      pid,
      networks: [...networks],
      applied: '',
      wanted: '',
      loading: null,
      detached: false,
    };
    this.#sandboxes.set(key, sandbox);
    this.#load(sandbox);
    await sandbox.loading;
  }

  /** The task's container stopped: its namespace goes with it, and so do orca's sockets there. */
  detach(key: string): void {
    const sandbox = this.#sandboxes.get(key);
    this.#sandboxes.delete(key);
    if (sandbox !== undefined) sandbox.detached = true;
    this.#dns.release(key);
  }

  /** The keys of the attached namespaces. */
  attached(): string[] {
    return [...this.#sandboxes.keys()];
  }

  /** Forgets every namespace and name (the node left the swarm); it can be fed again after. */
  clear(): void {
    for (const key of [...this.#sandboxes.keys()]) this.detach(key);
    this.update([]);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const key of [...this.#sandboxes.keys()]) this.detach(key);
    await this.#dns.stop();
  }

  #joinOverlay(): Promise<void> {
    return this.#overlay.reconcile(
      this.#table.map((n) => n.subnet),
      this.#peers,
    );
  }

  #load(sandbox: Sandbox): void {
    sandbox.wanted = vipRuleset(vipTargets(this.#table, sandbox.networks));
    if (sandbox.wanted === sandbox.applied || sandbox.loading !== null) return;
    sandbox.loading = this.#drain(sandbox).finally(() => {
      sandbox.loading = null;
    });
  }

  /** One load at a time per namespace, the latest wanted ruleset winning. */
  async #drain(sandbox: Sandbox): Promise<void> {
    while (!sandbox.detached && sandbox.wanted !== sandbox.applied) {
      const script = sandbox.wanted;
      try {
        await this.#applyRules(sandbox.pid, script);
        sandbox.applied = script;
      } catch (err) {
        // Most often the container has just stopped and its namespace is gone; detach follows.
        if (!sandbox.detached) {
          const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
          this.#log.warn(
            { err, pid: sandbox.pid },
            missing
              ? 'discovery: nsenter or nft is not installed, so tasks cannot reach virtual IPs (apt-get install util-linux nftables)'
              : 'discovery: could not load the VIP rules',
          );
        }
        return;
      }
    }
  }
}

/** A network's names: each service under its own name and its aliases. */
function records(network: WireDiscoveryNetwork): Map<string, string[]> {
  const endpoints: ServiceEndpoint[] = [];
  for (const s of network.services) {
    for (const name of [s.name, ...s.aliases]) {
      endpoints.push({
        name,
        mode: s.mode,
        ...(s.vip === undefined ? {} : { vip: s.vip }),
        taskAddresses: s.tasks,
      });
    }
  }
  return serviceRecords(endpoints);
}
