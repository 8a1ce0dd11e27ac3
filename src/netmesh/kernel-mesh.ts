// The routing mesh's kernel data path: published ports forwarded by nftables DNAT, so that no
// byte of a forwarded connection passes through orca's process. The ruleset itself comes from
// nft-ruleset.ts; this module checks that nft can load it, loads it in one transaction per
// apply(), and owns the one host-wide setting it may change (route_localnet, loopback only).

import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { KernelMeshUnavailableError } from '../errors.ts';
import type { ListenerFailure, MeshDataPath, MeshListener } from './data-path.ts';
import {
  buildRuleset,
  DEFAULT_MASQUERADE_MARK,
  DEFAULT_TABLE,
  isLoopbackV4,
  removeTableScript,
  tableNameProblem,
} from './nft-ruleset.ts';
import { firstLines, NFT_TIMEOUT_MS, runNft } from './nft-run.ts';

export interface KernelMeshLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface KernelMeshOptions {
  /**
   * The IPv4 address published ports answer on. 0.0.0.0: every local address except
   * 127.0.0.0/8. A 127.x address serves clients on this node only, and makes the mesh set
   * net.ipv4.conf.all.route_localnet=1 (logged), which DNAT from loopback needs.
   */
  readonly bindAddr: string;
  /** The nftables table (family ip) orca owns; default `orca_mesh`. One per data path. */
  readonly table?: string;
  /** The nft program; default `nft` on PATH. */
  readonly nft?: string;
  /** The mark bit that asks postrouting to masquerade; default 0x4000, as kube-proxy. */
  readonly masqueradeMark?: number;
  readonly logger?: KernelMeshLog;
}

const ROUTE_LOCALNET = '/proc/sys/net/ipv4/conf/all/route_localnet';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/**
 * Checks at once that nft is there, permitted, and that the kernel accepts every kind of rule
 * the mesh writes (a dry run of a sample ruleset), so a node without them learns it at start
 * and not on the first published port. Throws KernelMeshUnavailableError naming what is
 * missing.
 */
export function createKernelMesh(options: KernelMeshOptions): MeshDataPath {
  const table = options.table ?? DEFAULT_TABLE;
  const nft = options.nft ?? 'nft';
  const masqueradeMark = options.masqueradeMark ?? DEFAULT_MASQUERADE_MARK;
  const { bindAddr, logger } = options;
  if (!isIPv4(bindAddr)) {
    throw new KernelMeshUnavailableError(
      `bind address ${bindAddr} is not an IPv4 address (the kernel data path has no IPv6 yet)`,
    );
  }
  const badTable = tableNameProblem(table);
  if (badTable) throw new KernelMeshUnavailableError(badTable);
  if (!Number.isInteger(masqueradeMark) || masqueradeMark <= 0 || masqueradeMark > 0xffffffff) {
    throw new KernelMeshUnavailableError(`masquerade mark ${masqueradeMark} is not a 32-bit mark`);
  }
  const rulesetOptions = { table, bindAddr, masqueradeMark };
  probeNft(nft, buildRuleset(SAMPLE_LISTENERS, rulesetOptions).script);
  if (isLoopbackV4(bindAddr)) enableRouteLocalnet(bindAddr, logger);
  else warnIfNotForwarding(logger);
  return new KernelMesh(nft, rulesetOptions, logger);
}

class KernelMesh implements MeshDataPath {
  readonly #nft: string;
  readonly #options: Parameters<typeof buildRuleset>[1];
  readonly #log: KernelMeshLog | undefined;
  // One nft transaction at a time, in call order: the last apply() wins, as the daemon expects.
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #approximated = new Set<string>();

  constructor(nft: string, options: Parameters<typeof buildRuleset>[1], log?: KernelMeshLog) {
    this.#nft = nft;
    this.#options = options;
    this.#log = log;
  }

  apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    if (this.#closed) return Promise.reject(new Error('kernel mesh is closed'));
    return this.#serial(() => this.#apply(listeners));
  }

  close(): Promise<void> {
    if (this.#closed) return this.#queue.then(() => {});
    this.#closed = true;
    // Established flows keep their conntrack translation after this: the kernel forwards them
    // until they end; only new connections stop being served (docs).
    return this.#serial(() => runNft(this.#nft, removeTableScript(this.#options.table)));
  }

  async #apply(listeners: readonly MeshListener[]): Promise<readonly ListenerFailure[]> {
    const ruleset = buildRuleset(listeners, this.#options);
    this.#noteApproximations(ruleset.served);
    try {
      await runNft(this.#nft, ruleset.script);
      return ruleset.failures;
    } catch (err) {
      const message = `nft refused the ruleset: ${(err as Error).message}`;
      this.#log?.warn({ table: this.#options.table, err: message }, 'kernel mesh apply failed');
      // The old table would keep forwarding these ports to old backends and shadow whatever
      // data path the daemon falls back to, so it goes too.
      await runNft(this.#nft, removeTableScript(this.#options.table)).catch((cleanup: Error) => {
        this.#log?.warn(
          { table: this.#options.table, err: cleanup.message },
          'kernel mesh could not remove its table after a failed apply',
        );
      });
      return [
        ...ruleset.failures,
        ...ruleset.served.map((l) => ({ protocol: l.protocol, port: l.port, message })),
      ];
    }
  }

  #noteApproximations(served: readonly MeshListener[]): void {
    for (const l of served) {
      if (l.lb === 'round-robin' || l.backends.length < 2) continue;
      const key = `${l.protocol}/${l.port}/${l.lb}`;
      if (this.#approximated.has(key)) continue;
      this.#approximated.add(key);
      this.#log?.info(
        { protocol: l.protocol, port: l.port, lb: l.lb },
        l.lb === 'p2c'
          ? 'kernel mesh picks a random backend for p2c: the kernel keeps no load to compare'
          : 'kernel mesh uses round robin for least-conn: the kernel keeps no connection counts',
      );
    }
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => {});
    return next;
  }
}

// Every kind of rule the mesh can write: numgen maps, a single DNAT target, fib, masquerade
// and the reject chains.
const SAMPLE_LISTENERS: readonly MeshListener[] = [
  {
    protocol: 'tcp',
    port: 1,
    lb: 'round-robin',
    proxyProtocol: false,
    backends: [
      { id: 'a', host: '192.0.2.1', port: 1 },
      { id: 'b', host: '192.0.2.2', port: 1 },
    ],
  },
  {
    protocol: 'udp',
    port: 1,
    lb: 'p2c',
    proxyProtocol: false,
    backends: [
      { id: 'a', host: '192.0.2.1', port: 1 },
      { id: 'b', host: '192.0.2.2', port: 1 },
    ],
  },
  {
    protocol: 'tcp',
    port: 2,
    lb: 'round-robin',
    proxyProtocol: false,
    backends: [{ id: 'a', host: '192.0.2.1', port: 1 }],
  },
  { protocol: 'tcp', port: 3, lb: 'round-robin', proxyProtocol: false, backends: [] },
  { protocol: 'udp', port: 3, lb: 'round-robin', proxyProtocol: false, backends: [] },
];

function probeNft(nft: string, script: string): void {
  try {
    // -c: the kernel checks the whole transaction and commits nothing.
    execFileSync(nft, ['-c', '-f', '-'], {
      input: script,
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: NFT_TIMEOUT_MS,
    });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    const stderr = e.stderr?.toString('utf8').trim() ?? '';
    if (e.code === 'ENOENT') {
      throw new KernelMeshUnavailableError(
        `${nft} was not found (install nftables: apt-get install nftables)`,
        { cause: err },
      );
    }
    if (/Operation not permitted|Permission denied/i.test(stderr + e.message)) {
      throw new KernelMeshUnavailableError(
        `${nft} is not permitted to change the ruleset (it needs root or CAP_NET_ADMIN)`,
        { cause: err },
      );
    }
    throw new KernelMeshUnavailableError(
      `the kernel refused a dry run of the mesh ruleset (needs nf_tables with nat, fib, numgen ` +
        `and masquerade): ${firstLines(stderr || e.message)}`,
      { cause: err },
    );
  }
}

function enableRouteLocalnet(bindAddr: string, logger: KernelMeshLog | undefined): void {
  let before: string;
  try {
    before = readFileSync(ROUTE_LOCALNET, 'utf8').trim();
    if (before !== '0') return;
    writeFileSync(ROUTE_LOCALNET, '1\n');
  } catch (err) {
    throw new KernelMeshUnavailableError(
      `bind address ${bindAddr} is loopback, which needs net.ipv4.conf.all.route_localnet=1, ` +
        `and it could not be set: ${(err as Error).message}`,
      { cause: err },
    );
  }
  // Left set on close(): other programs may have come to rely on it since, as with kube-proxy.
  logger?.warn(
    { sysctl: 'net.ipv4.conf.all.route_localnet', from: before, to: '1', bindAddr },
    'kernel mesh set route_localnet=1 so that DNAT can send loopback clients to other addresses; it stays set',
  );
}

function warnIfNotForwarding(logger: KernelMeshLog | undefined): void {
  let value: string;
  try {
    value = readFileSync(IP_FORWARD, 'utf8').trim();
  } catch {
    return;
  }
  if (value !== '0') return;
  logger?.warn(
    { sysctl: 'net.ipv4.ip_forward', value },
    'kernel mesh: ip_forward is off, so clients on other hosts reach only backends on this node; ' +
      'orca does not change it (sysctl -w net.ipv4.ip_forward=1)',
  );
}
