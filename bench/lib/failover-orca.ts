// orca as the system of `npm run bench:failover`, with its default timings (Raft election on a
// 100 ms tick, dispatcher heartbeat 2 s): five daemons on loopback addresses 127.0.0.3X, port
// 2577, each with its own data dir and socket, sharing the machine's Docker engine. Host 0
// inits, 1 and 2 join as managers, 3 and 4 as workers. A host's kill is kill -9 of its daemon
// and, for a worker, of its containers at the same instant (a host that dies takes its
// containers with it; on a shared engine they would otherwise live on). Updates are sent
// through the control API in process, as the CLI sends them (inspect, then update with the
// version read), so that a CLI process start, about 0.1 s for Node and 0.02 s for Docker's Go
// CLI, is not part of either figure.

import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { callDaemon } from '../../src/cli/control-client.ts';
import { listRunning } from './converge-watch.ts';
import {
  type FailoverSystem,
  firstAcknowledged,
  REPLICAS,
  SERVICE,
  SERVICE_ARGS,
  type SystemOptions,
  type TrialResult,
  UPDATE_PROBE,
} from './failover-systems.ts';
import {
  Fatal,
  kill9,
  logTail,
  makeTempDir,
  removeTempDir,
  type Spawned,
  spawnMember,
  waitFor,
} from './proc.ts';

const run = promisify(execFile);
const BIN = resolve(fileURLToPath(new URL('../../bin/orca', import.meta.url)));
const PORT = 2577;
const MANAGERS = [0, 1, 2] as const;
const WORKERS = [3, 4] as const;
const RECOVER_MS = 120_000;

const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

interface Host {
  readonly ip: string;
  readonly socket: string;
  readonly dataDir: string;
  readonly log: string;
  daemon: Spawned | null;
  nodeId: string;
}

interface InfoJson {
  nodeId: string;
  raft: { leader: string | null; voters: string[]; learners: string[] } | null;
}

export class OrcaFailover implements FailoverSystem {
  readonly name = 'orca' as const;
  readonly #opts: SystemOptions;
  readonly #docker: Docker;
  #dir = '';
  #hosts: Host[] = [];

  constructor(opts: SystemOptions, docker: Docker) {
    this.#opts = opts;
    this.#docker = docker;
  }

  async setup(): Promise<void> {
    this.#dir = makeTempDir('orca-bench-failover-', this.#opts.keep);
    this.#hosts = [0, 1, 2, 3, 4].map((i) => ({
      ip: `127.0.0.3${i}`,
      socket: join(this.#dir, `host${i}.sock`),
      dataDir: join(this.#dir, `host${i}`),
      log: join(this.#dir, `host${i}.log`),
      daemon: null,
      nodeId: '',
    }));
    await Promise.all(this.#hosts.map((_, i) => this.#start(i)));
    const first = this.#hosts[0]!;
    await this.#orca(0, ['swarm', 'init', '--advertise-addr', first.ip]);
    const token = async (role: string) =>
      (await this.#orca(0, ['swarm', 'join-token', '-q', role])).trim();
    const [managerToken, workerToken] = [await token('manager'), await token('worker')];
    for (let i = 1; i < this.#hosts.length; i++) {
      const t = MANAGERS.includes(i as 0 | 1 | 2) ? managerToken : workerToken;
      const h = this.#hosts[i]!;
      await this.#orca(i, [
        'swarm',
        'join',
        '--token',
        t,
        '--advertise-addr',
        h.ip,
        `${first.ip}:${PORT}`,
      ]);
    }
    for (const [i, h] of this.#hosts.entries()) h.nodeId = (await this.#info(i)).nodeId;
    await this.#waitHealthy();
    await this.#orca(0, ['service', 'create', '--detach', '--quiet', ...SERVICE_ARGS]);
    await this.#restore();
  }

  async leaderFailoverTrial(trial: number): Promise<TrialResult> {
    const leader = await this.#leader();
    const survivors = MANAGERS.filter((m) => m !== leader);
    const t0 = performance.now();
    await kill9(this.#hosts[leader]!.daemon!);
    this.#hosts[leader]!.daemon = null;
    try {
      const ack = await firstAcknowledged({
        attempt: async (seq) => {
          const m = survivors[seq % survivors.length]!;
          const host = `unix://${this.#hosts[m]!.socket}`;
          try {
            const current = await callDaemon(host, 'ServiceInspect', { service: SERVICE });
            const container = current.spec.task.container;
            const env = container.env.filter((e) => !e.startsWith('BENCH_FAILOVER='));
            await callDaemon(host, 'ServiceUpdate', {
              service: SERVICE,
              version: current.meta.version,
              spec: {
                ...current.spec,
                task: {
                  ...current.spec.task,
                  container: { ...container, env: [...env, `BENCH_FAILOVER=${trial}.${seq}`] },
                },
              },
            });
          } catch (err) {
            throw new Error(`host ${m}: ${(err as Error).message}`);
          }
        },
        ...UPDATE_PROBE,
      });
      const ms = ack.at - t0;
      return {
        ms,
        note:
          `killed host ${leader} (leader); update ${ack.seq + 1} of ${ack.started} acknowledged by ` +
          `host ${survivors[ack.seq % survivors.length]} after ${sec(ms)} (the call took ` +
          `${ack.callMs.toFixed(0)} ms); failed attempts: ${JSON.stringify(ack.errors)}`,
      };
    } finally {
      await this.#bringBack(leader);
    }
  }

  async workerLossTrial(trial: number): Promise<TrialResult> {
    const victim = WORKERS[trial % WORKERS.length]!;
    const survivor = WORKERS.find((w) => w !== victim)!;
    const victimId = this.#hosts[victim]!.nodeId;
    const own = await this.#docker.listContainers({
      filters: { label: [`orca.node.id=${victimId}`] },
    });
    const t0 = performance.now();
    await Promise.all([
      kill9(this.#hosts[victim]!.daemon!),
      ...own.map((c) =>
        this.#docker
          .getContainer(c.Id)
          .kill()
          .catch(() => {}),
      ),
    ]);
    this.#hosts[victim]!.daemon = null;
    try {
      const survivorLabel = `orca.node.id=${this.#hosts[survivor]!.nodeId}`;
      await waitFor(
        `all ${REPLICAS} replicas running on host ${survivor}`,
        RECOVER_MS,
        async () => (await this.#running(survivorLabel)) === REPLICAS,
        50,
      );
      const ms = performance.now() - t0;
      return {
        ms,
        note: `killed host ${victim} (worker); all ${REPLICAS} replicas on host ${survivor} after ${sec(ms)}`,
      };
    } finally {
      await this.#bringBack(victim);
    }
  }

  async teardown(): Promise<void> {
    await Promise.all(
      this.#hosts.map(async (h) => {
        if (h.daemon !== null) await kill9(h.daemon);
        h.daemon = null;
      }),
    );
    for (const h of this.#hosts) {
      if (h.nodeId === '') continue;
      const own = await this.#docker.listContainers({
        all: true,
        filters: { label: [`orca.node.id=${h.nodeId}`] },
      });
      await Promise.all(
        own.map((c) =>
          this.#docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => {}),
        ),
      );
    }
    if (this.#dir !== '') removeTempDir(this.#dir);
    this.#hosts = [];
  }

  async #start(i: number): Promise<void> {
    const h = this.#hosts[i]!;
    h.daemon = spawnMember(
      process.execPath,
      [
        BIN,
        'daemon',
        '--data-dir',
        h.dataDir,
        '--socket',
        h.socket,
        '--listen-addr',
        `${h.ip}:${PORT}`,
        '--advertise-addr',
        h.ip,
        '--log-level',
        'warn',
      ],
      { logFile: h.log },
    );
    const daemon = h.daemon;
    await waitFor('orca daemon answering', 30_000, async () => {
      const gone = daemon.gone();
      if (gone) throw new Fatal(`orca host ${i} ${gone}:\n${logTail(h.log)}`);
      await this.#info(i);
      return true;
    });
  }

  async #orca(i: number, args: string[]): Promise<string> {
    try {
      const { stdout } = await run(
        process.execPath,
        [BIN, '-H', `unix://${this.#hosts[i]!.socket}`, ...args],
        {
          timeout: 60_000,
        },
      );
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`orca ${args.join(' ')} on host ${i}: ${e.stderr?.trim() || e.message}`);
    }
  }

  #info(i: number): Promise<InfoJson> {
    return callDaemon(`unix://${this.#hosts[i]!.socket}`, 'Info', {}) as Promise<InfoJson>;
  }

  /** The host whose daemon leads, as every live manager sees it. */
  async #leader(): Promise<number> {
    const found = await waitFor(
      'an agreed leader',
      RECOVER_MS,
      async () => {
        const live = MANAGERS.filter((m) => this.#hosts[m]!.daemon !== null);
        const seen = await Promise.all(live.map(async (m) => (await this.#info(m)).raft?.leader));
        const leader = seen[0];
        if (!leader || seen.some((s) => s !== leader)) return undefined;
        const index = this.#hosts.findIndex((h) => h.nodeId === leader);
        // Wrapped: host 0 would read as "not yet".
        return index >= 0 ? { index } : undefined;
      },
      100,
    );
    return found.index;
  }

  /** Three voters agreed on a leader, every node ready. */
  async #waitHealthy(): Promise<void> {
    await this.#leader();
    await waitFor(
      'three voters and every node ready',
      RECOVER_MS,
      async () => {
        const raft = (await this.#info(0)).raft;
        if (raft?.voters.length !== 3 || raft.learners.length > 0) return undefined;
        const nodes = await callDaemon(`unix://${this.#hosts[0]!.socket}`, 'NodeList', {});
        return nodes.nodes.length === 5 && nodes.nodes.every((n) => n.status.state === 'ready');
      },
      250,
    );
  }

  /** Running replicas with `label` too (the engine ANDs label filters): one list call. */
  async #running(label: string): Promise<number> {
    const filters = { label: [`orca.service.name=${SERVICE}`, label], status: ['running'] };
    return (await this.#docker.listContainers({ filters })).length;
  }

  /** Starts a killed host's daemon again and waits until the cluster and service are as before. */
  async #bringBack(i: number): Promise<void> {
    const t = performance.now();
    await this.#start(i);
    await this.#waitHealthy();
    await this.#restore();
    this.#opts.log(
      `  orca: host ${i} back, cluster healthy, replicas spread after ${sec(performance.now() - t)}`,
    );
  }

  /**
   * Waits until the service's update is done and REPLICAS run, then spreads them two per worker
   * if they are not (orca, like Swarm, never moves a running task back to a node that returned):
   * scaled to 0 and back, as for Swarm.
   */
  async #restore(): Promise<void> {
    const host = `unix://${this.#hosts[0]!.socket}`;
    for (let attempt = 1; ; attempt++) {
      const counts = await waitFor(
        'replicas settled',
        RECOVER_MS,
        async () => {
          const svc = await callDaemon(host, 'ServiceInspect', { service: SERVICE });
          const state = svc.updateStatus?.state;
          if (state === 'paused' || state?.startsWith('rollback')) {
            throw new Fatal(`orca: the service's update is ${state}`);
          }
          if (state === 'updating') return undefined;
          const counts = await Promise.all(
            WORKERS.map((w) => this.#running(`orca.node.id=${this.#hosts[w]!.nodeId}`)),
          );
          const all = await listRunning(this.#docker, `orca.service.name=${SERVICE}`);
          return all.length === REPLICAS && counts.reduce((a, b) => a + b, 0) === REPLICAS
            ? counts
            : undefined;
        },
        250,
      );
      if (counts.every((n) => n === REPLICAS / WORKERS.length)) return;
      if (attempt === 3) throw new Error(`replicas still not spread: ${counts.join('/')}`);
      this.#opts.log(
        `  orca: replicas ${counts.join('/')} over the workers; scaling to 0 and back`,
      );
      await this.#orca(0, ['service', 'scale', '--detach', `${SERVICE}=0`]);
      await waitFor(
        'replicas stopped',
        RECOVER_MS,
        async () => (await listRunning(this.#docker, `orca.service.name=${SERVICE}`)).length === 0,
        250,
      );
      await this.#orca(0, ['service', 'scale', '--detach', `${SERVICE}=${REPLICAS}`]);
    }
  }
}
