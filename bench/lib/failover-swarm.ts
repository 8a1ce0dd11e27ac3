// Docker Swarm mode as the reference of `npm run bench:failover`, with Swarm's default timings
// (Raft election timeout 10 s with its 1 s tick, node heartbeat period 5 s). The service runs
// busybox `sleep` under an init, so that its tasks stop at once, on the workers only.

import type Docker from 'dockerode';
import { listRunning, waitUntil } from './converge-watch.ts';
import { DockerCliError } from './docker-engine.ts';
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
import { Fatal, waitFor } from './proc.ts';
import { MANAGERS, SwarmCluster, WORKERS } from './swarm-cluster.ts';

const LABEL = `com.docker.swarm.service.name=${SERVICE}`;
const RECOVER_MS = 120_000;

const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

export class SwarmFailover implements FailoverSystem {
  readonly name = 'swarm' as const;
  readonly #opts: SystemOptions;
  #cluster: SwarmCluster | undefined;

  constructor(opts: SystemOptions) {
    this.#opts = opts;
  }

  get #c(): SwarmCluster {
    if (!this.#cluster) throw new Error('swarm: not set up');
    return this.#cluster;
  }

  async setup(): Promise<void> {
    this.#cluster = await SwarmCluster.start(this.#opts);
    await this.#c.docker(0, [
      'service',
      'create',
      '--detach',
      '--quiet',
      '--no-resolve-image',
      ...SERVICE_ARGS,
    ]);
    await this.#restore();
  }

  async leaderFailoverTrial(trial: number): Promise<TrialResult> {
    const c = this.#c;
    const leader = await c.leader();
    const survivors = MANAGERS.filter((m) => m !== leader);
    const t0 = c.kill9(leader);
    try {
      const ack = await firstAcknowledged({
        attempt: async (seq, signal) => {
          const m = survivors[seq % survivors.length]!;
          try {
            await c.docker(
              m,
              [
                'service',
                'update',
                '--detach',
                '--quiet',
                '--no-resolve-image',
                '--env-add',
                `BENCH_FAILOVER=${trial}.${seq}`,
                SERVICE,
              ],
              { signal, timeoutMs: UPDATE_PROBE.attemptTimeoutMs },
            );
          } catch (err) {
            throw new Error(
              `engine ${m}: ${err instanceof DockerCliError ? err.reason : (err as Error).message}`,
            );
          }
        },
        ...UPDATE_PROBE,
      });
      const ms = ack.at - t0;
      const acked = survivors[ack.seq % survivors.length];
      return {
        ms,
        note:
          `killed engine ${leader} (leader); update ${ack.seq + 1} of ${ack.started} ` +
          `acknowledged by engine ${acked} after ${sec(ms)} (the call took ` +
          `${ack.callMs.toFixed(0)} ms); failed attempts: ` +
          JSON.stringify(ack.errors),
      };
    } finally {
      await this.#bringBack(leader);
    }
  }

  async workerLossTrial(trial: number): Promise<TrialResult> {
    const c = this.#c;
    // Each worker in turn, so that neither one's figures dominate.
    const victim = WORKERS[trial % WORKERS.length]!;
    const survivor = WORKERS.find((w) => w !== victim)!;
    const t0 = c.kill9(victim);
    try {
      const ms = await waitUntil(
        c.engines[survivor]!.api,
        LABEL,
        t0,
        RECOVER_MS,
        `all ${REPLICAS} replicas running on engine ${survivor}`,
        (ids) => ids.length === REPLICAS,
      );
      return {
        ms,
        note: `killed engine ${victim} (worker); all ${REPLICAS} replicas on engine ${survivor} after ${sec(ms)}`,
      };
    } finally {
      await this.#bringBack(victim);
    }
  }

  async teardown(): Promise<void> {
    this.#cluster?.destroy();
    this.#cluster = undefined;
  }

  /** Restarts a killed engine and waits until the swarm and the service are as before. */
  async #bringBack(i: number): Promise<void> {
    const t = performance.now();
    await this.#c.restart(i, RECOVER_MS);
    await this.#c.waitHealthy(RECOVER_MS);
    await this.#restore();
    this.#opts.log(
      `  swarm: engine ${i} back, swarm healthy, replicas spread after ${sec(performance.now() - t)}`,
    );
  }

  /**
   * Waits until every replica runs the service's current spec and, when they are not spread two
   * per worker, spreads them again. Swarm never moves a running task back to a node that
   * returned, so after a worker's loss all replicas stay on the other one: scaling to 0 and back
   * places them afresh, and Swarm's spread strategy then puts half on each worker.
   */
  async #restore(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const counts = await waitFor('replicas settled', RECOVER_MS, () => this.#settled(), 250);
      if (counts.every((n) => n === REPLICAS / WORKERS.length)) return;
      if (attempt === 3)
        throw new Error(`replicas still not spread over the workers: ${counts.join('/')}`);
      this.#opts.log(
        `  swarm: replicas ${counts.join('/')} over the workers; scaling to 0 and back`,
      );
      await this.#c.docker(this.#c.anyManager(), ['service', 'scale', '--detach', `${SERVICE}=0`]);
      await waitFor(
        'replicas stopped',
        RECOVER_MS,
        async () => (await this.#counts()).every((n) => n === 0),
        250,
      );
      await this.#c.docker(this.#c.anyManager(), [
        'service',
        'scale',
        '--detach',
        `${SERVICE}=${REPLICAS}`,
      ]);
    }
  }

  /** Running replicas per worker engine. */
  #counts(): Promise<number[]> {
    return Promise.all(
      WORKERS.map(async (w) => (await listRunning(this.#c.engines[w]!.api, LABEL)).length),
    );
  }

  /**
   * The running replicas per worker once no update is in progress and exactly REPLICAS run, each
   * with the service's current environment; undefined before.
   */
  async #settled(): Promise<number[] | undefined> {
    const out = await this.#c.docker(this.#c.anyManager(), [
      'service',
      'inspect',
      SERVICE,
      '--format',
      '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}|{{json .Spec.TaskTemplate.ContainerSpec.Env}}',
    ]);
    const [state = '', envJson = 'null'] = out.trim().split('|');
    if (state === 'paused' || state.startsWith('rollback'))
      throw new Fatal(`swarm: the service's update is ${state}`);
    if (state === 'updating') return undefined;
    const env = (JSON.parse(envJson) as string[] | null) ?? [];
    const counts: number[] = [];
    for (const w of WORKERS) {
      const api = this.#c.engines[w]!.api;
      const ids = await listRunning(api, LABEL);
      if (!(await allHaveEnv(api, ids, env))) return undefined;
      counts.push(ids.length);
    }
    return counts.reduce((a, b) => a + b, 0) === REPLICAS ? counts : undefined;
  }
}

async function allHaveEnv(
  api: Docker,
  ids: readonly string[],
  env: readonly string[],
): Promise<boolean> {
  for (const id of ids) {
    try {
      const have = (await api.getContainer(id).inspect()).Config.Env ?? [];
      if (!env.every((e) => have.includes(e))) return false;
    } catch {
      return false; // gone between the list and the inspect
    }
  }
  return true;
}
