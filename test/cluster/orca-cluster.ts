// orca daemons on the namespace hosts of netns.ts: each host runs one `orca daemon` with its own
// data dir, control socket and cluster address (its own IP, port 2377), all sharing the
// machine's Docker engine through its socket, or (`engines: 'per-host'`) each with a Docker
// engine of its own started in its namespace, as separate machines have: their containers then
// share nothing but what orca's overlay joins. The CLI runs in the root namespace and reaches a
// daemon through its socket, as a user on that host would. Teardown stops every daemon, removes
// the namespaces and every container the cluster's nodes own (labelled with their node ids).

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { orcaBin, type Run, runOrca } from '../daemon/support/cli.ts';
import { removeNodeContainers, removeOrcaNetworks } from '../daemon/support/daemon.ts';
import { waitFor } from '../support/wait.ts';
import { type Host, NetnsCluster, netnsUnsupported, type Proc } from './netns.ts';

export const CLUSTER_PORT = 2377;

const exec = promisify(execFile);

async function sh(script: string): Promise<void> {
  await exec('bash', ['-o', 'pipefail', '-c', script], { timeout: 60_000 });
}

function engineDir(host: Host): string {
  return join(ENGINES_DIR, host.name);
}

export interface OrcaHost {
  readonly host: Host;
  readonly dataDir: string;
  readonly socket: string;
  /** `-H` for the CLI. */
  readonly controlHost: string;
  /** IP:2377, what others join and dial. */
  readonly clusterAddr: string;
  /** The running daemon; null while stopped or killed. */
  proc: Proc | null;
  /** `docker -H` for the host's engine: its own (per-host engines) or the machine's (''). */
  readonly dockerHost: string;
  /** The host's own dockerd (per-host engines); null otherwise. */
  engine: Proc | null;
}

export interface OrcaClusterOptions {
  hosts: number;
  /** Extra `orca daemon` flags for every host. */
  daemonArgs?: readonly string[];
  /** Extra `orca daemon` flags for one host (its own address, for example). */
  hostArgs?: (host: Host) => readonly string[];
  /** 'shared' (default): every host uses the machine's engine; 'per-host': each its own. */
  engines?: 'shared' | 'per-host';
}

/** Where per-host engines keep their data: beside the machine's engine, on the same kind of disk. */
const ENGINES_DIR = '/var/lib/orca-test-engines';
const TEST_IMAGE = 'orca-test/busybox:1';

export class OrcaCluster {
  readonly net: NetnsCluster;
  readonly nodes: readonly OrcaHost[];
  readonly #daemonArgs: readonly string[];
  readonly #hostArgs: (host: Host) => readonly string[];
  /** Node ids seen, for the container cleanup. */
  readonly #nodeIds = new Set<string>();

  private constructor(
    net: NetnsCluster,
    daemonArgs: readonly string[],
    hostArgs: (host: Host) => readonly string[],
    perHostEngines: boolean,
  ) {
    this.net = net;
    this.#daemonArgs = daemonArgs;
    this.#hostArgs = hostArgs;
    this.nodes = net.hosts.map((host) => {
      const dir = join(net.logDir, `orca-${host.index}`);
      mkdirSync(join(dir, 'run'), { recursive: true });
      return {
        host,
        dataDir: join(dir, 'data'),
        socket: join(dir, 'run', 'orca.sock'),
        controlHost: `unix://${join(dir, 'run', 'orca.sock')}`,
        clusterAddr: `${host.ip}:${CLUSTER_PORT}`,
        proc: null,
        dockerHost: perHostEngines ? `unix://${engineDir(host)}/docker.sock` : '',
        engine: null,
      };
    });
  }

  /** Namespaces for `hosts` hosts and a daemon started on each (no swarm yet). */
  static async start(opts: OrcaClusterOptions): Promise<OrcaCluster> {
    const unsupported = netnsUnsupported();
    if (unsupported) throw new Error(`network namespaces are required: ${unsupported}`);
    const net = await NetnsCluster.create({ hosts: opts.hosts });
    const perHost = opts.engines === 'per-host';
    const cluster = new OrcaCluster(
      net,
      opts.daemonArgs ?? [],
      opts.hostArgs ?? (() => []),
      perHost,
    );
    try {
      if (perHost) await Promise.all(cluster.nodes.map((n) => cluster.#startEngine(n)));
      await Promise.all(cluster.nodes.map((_, i) => cluster.startDaemon(i)));
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  node(i: number): OrcaHost {
    const n = this.nodes[i];
    if (n === undefined) throw new Error(`no host ${i} (the cluster has ${this.nodes.length})`);
    return n;
  }

  /** Starts (or restarts, on the same data dir) host i's daemon; resolves once it answers. */
  async startDaemon(i: number, extra: readonly string[] = []): Promise<void> {
    const n = this.node(i);
    assert.equal(n.proc?.running ?? false, false, `host ${i}'s daemon is already running`);
    rmSync(n.socket, { force: true });
    n.proc = this.net.spawn(n.host, process.execPath, [
      orcaBin,
      'daemon',
      '--data-dir',
      n.dataDir,
      '--socket',
      n.socket,
      '--listen-addr',
      n.clusterAddr,
      '--advertise-addr',
      n.host.ip,
      '--log-format',
      'json',
      '--log-level',
      'debug',
      ...(n.dockerHost === '' ? [] : ['--docker-host', n.dockerHost]),
      ...this.#daemonArgs,
      ...this.#hostArgs(n.host),
      ...extra,
    ]);
    const proc = n.proc;
    await waitFor(
      async () => {
        if (!proc.running) throw new Error(`host ${i}'s daemon exited:\n${proc.describe()}`);
        return (await this.orca(i, 'info', '--format', 'json')).code === 0;
      },
      { timeoutMs: 30_000, what: `host ${i}'s daemon answering on its socket` },
    );
  }

  /** `docker ARGS` against host i's engine; its stdout. */
  async docker(i: number, ...args: string[]): Promise<string> {
    const host = this.node(i).dockerHost;
    const { stdout } = await exec('docker', [...(host === '' ? [] : ['-H', host]), ...args], {
      timeout: 30_000,
    });
    return stdout;
  }

  /** A dockerd of the host's own in its namespace, with the test image loaded. */
  async #startEngine(n: OrcaHost): Promise<void> {
    const dir = engineDir(n.host);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    n.engine = this.net.spawn(
      n.host,
      'dockerd',
      [
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'docker.pid'),
        '-H',
        n.dockerHost,
      ],
      { hostMounts: true },
    );
    const engine = n.engine;
    await waitFor(
      async () => {
        if (!engine.running)
          throw new Error(`host ${n.host.index}'s dockerd exited:\n${engine.describe()}`);
        await exec('docker', ['-H', n.dockerHost, 'info'], { timeout: 5_000 });
        return true;
      },
      { timeoutMs: 60_000, what: `host ${n.host.index}'s dockerd answering` },
    );
    await sh(`docker save ${TEST_IMAGE} | docker -H ${n.dockerHost} load -q`);
  }

  /** Removes a per-host engine's containers and networks, stops it, and clears its data. */
  async #stopEngine(n: OrcaHost): Promise<void> {
    const engine = n.engine;
    n.engine = null;
    if (engine === null) return;
    const dir = engineDir(n.host);
    if (engine.running) {
      await sh(`docker -H ${n.dockerHost} ps -aq | xargs -r docker -H ${n.dockerHost} rm -f`).catch(
        () => {},
      );
      await this.net.stop(engine, 'SIGTERM', 30_000).catch(() => this.net.kill9(engine));
    }
    // Mounts a killed engine left behind would keep its folders busy.
    const mounts = readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(`${dir}/`))
      .reverse();
    for (const m of mounts) await exec('umount', ['-l', m]).catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }

  /** kill -9 of host i's daemon (its containers keep running, as with a crashed dockerd). */
  async kill(i: number): Promise<void> {
    const n = this.node(i);
    if (n.proc !== null) await this.net.kill9(n.proc);
    n.proc = null;
  }

  /** SIGTERM, the clean shutdown. */
  async stopDaemon(i: number): Promise<void> {
    const n = this.node(i);
    if (n.proc !== null) await this.net.stop(n.proc, 'SIGTERM', 20_000);
    n.proc = null;
  }

  /** `orca ARGS` against host i's daemon. */
  orca(i: number, ...args: string[]): Promise<Run> {
    return runOrca(['-H', this.node(i).controlHost, ...args]);
  }

  /** `orca ARGS` against host i's daemon, which must succeed; its stdout. */
  async ok(i: number, ...args: string[]): Promise<string> {
    const r = await this.orca(i, ...args);
    assert.equal(
      r.code,
      0,
      `orca ${args.join(' ')} on host ${i} failed (${r.code}): ${r.stderr}${r.stdout}`,
    );
    return r.stdout;
  }

  async json<T>(i: number, ...args: string[]): Promise<T> {
    return JSON.parse(await this.ok(i, ...args, '--format', 'json')) as T;
  }

  /** `swarm init` on host 0 at its own address; its node id. */
  async init(extra: readonly string[] = []): Promise<string> {
    await this.ok(0, 'swarm', 'init', '--advertise-addr', this.node(0).host.ip, ...extra);
    return this.nodeId(0);
  }

  /** Host i joins host 0's swarm with the token for `role`; its node id and the CLI's output. */
  async join(
    i: number,
    role: 'worker' | 'manager',
    extra: readonly string[] = [],
  ): Promise<{ id: string; out: string }> {
    const token = (await this.ok(0, 'swarm', 'join-token', '-q', role)).trim();
    const out = await this.ok(
      i,
      'swarm',
      'join',
      '--token',
      token,
      '--advertise-addr',
      this.node(i).host.ip,
      ...extra,
      this.node(0).clusterAddr,
    );
    return { id: await this.nodeId(i), out };
  }

  /** Host i's node id, once it is part of a swarm. */
  async nodeId(i: number): Promise<string> {
    const info = await this.json<{ nodeId?: string }>(i, 'info');
    const id = info.nodeId;
    assert.ok(id, `host ${i} is not in a swarm`);
    this.#nodeIds.add(id);
    return id;
  }

  /** Stops every daemon, removes the namespaces and every container of the cluster's nodes. */
  async destroy(): Promise<void> {
    for (const n of this.nodes) {
      if (n.proc?.running) {
        try {
          await this.net.kill9(n.proc);
        } catch {}
      }
      n.proc = null;
    }
    await Promise.all(this.nodes.map((n) => this.#stopEngine(n)));
    await this.net.destroy();
    for (const id of this.#nodeIds) await removeNodeContainers(id);
    // The engine networks the nodes made for orca networks: unused now, and their subnets would
    // clash with the next cluster's networks of the same names.
    await removeOrcaNetworks();
  }
}
