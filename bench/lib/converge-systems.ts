// The three ways of running N replicas that `bench/converge.ts` compares: orca (its CLI against a
// daemon of its own), Docker Swarm mode (the docker CLI), and the bare Engine API (dockerode,
// no orchestrator: the benchmark itself creates, starts, stops and removes the containers).
// Each system finds its containers by one label; cleanup is both async (the normal path) and
// sync (an 'exit' hook, so that an error or Ctrl-C leaves no container, service or swarm behind).

import { execFile, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { logTail, makeTempDir, removeTempDir, type Spawned, spawnMember, waitFor } from './proc.ts';

const run = promisify(execFile);

export const IMAGE = 'orca-test/busybox:1';
export const CMD = ['sleep', '3600'];

export interface System {
  readonly name: 'orca' | 'swarm' | 'engine';
  /** The label filter (`key=value`) that finds the service's containers. */
  label(service: string): string;
  setup(): Promise<void>;
  /** Each returns when the command (or, for the engine, the work itself) returns. */
  create(service: string, replicas: number, env: string): Promise<void>;
  scale(service: string, replicas: number): Promise<void>;
  update(service: string, envAdd: string): Promise<void>;
  remove(service: string): Promise<void>;
  teardown(): Promise<void>;
}

// ---- sync cleanup on any exit ------------------------------------------------------------------

const labelsToClean = new Set<string>();
let swarmOurs = false;
let exitHooked = false;

function cleanupSync(): void {
  if (swarmOurs) {
    try {
      execFileSync('docker', ['swarm', 'leave', '--force'], { stdio: 'ignore', timeout: 30_000 });
    } catch {}
    swarmOurs = false;
  }
  for (const label of labelsToClean) {
    try {
      const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=${label}`], {
        encoding: 'utf8',
        timeout: 30_000,
      })
        .split('\n')
        .filter(Boolean);
      if (ids.length > 0)
        execFileSync('docker', ['rm', '-f', ...ids], { stdio: 'ignore', timeout: 60_000 });
    } catch {}
  }
  labelsToClean.clear();
}

function track(label: string): void {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', cleanupSync);
  }
  labelsToClean.add(label);
}

export function untrack(label: string): void {
  labelsToClean.delete(label);
}

async function cli(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { env: env ?? process.env, timeout: 120_000 });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`);
  }
}

// ---- orca --------------------------------------------------------------------------------------

export class OrcaSystem implements System {
  readonly name = 'orca' as const;
  readonly #port: number;
  readonly #keep: boolean;
  #dir = '';
  #env: NodeJS.ProcessEnv = process.env;
  #daemon: Spawned | undefined;
  #log = '';

  constructor(port: number, keep: boolean) {
    this.#port = port;
    this.#keep = keep;
  }

  label(service: string): string {
    return `orca.service.name=${service}`;
  }

  #orca(args: string[]): Promise<string> {
    return cli(process.execPath, ['bin/orca', ...args], this.#env);
  }

  async setup(): Promise<void> {
    this.#dir = makeTempDir('orca-bench-converge-', this.#keep);
    const sock = join(this.#dir, 'orca.sock');
    this.#log = join(this.#dir, 'daemon.log');
    this.#env = { ...process.env, ORCA_HOST: `unix://${sock}` };
    this.#daemon = spawnMember(
      process.execPath,
      [
        'bin/orca',
        'daemon',
        '--data-dir',
        join(this.#dir, 'data'),
        '--socket',
        sock,
        '--listen-addr',
        `127.0.0.1:${this.#port}`,
        '--log-level',
        'warn',
      ],
      { logFile: this.#log },
    );
    try {
      await waitFor(
        'orca swarm init',
        30_000,
        async () => {
          const gone = this.#daemon?.gone();
          if (gone) throw new Error(`orca daemon ${gone}`);
          await this.#orca(['swarm', 'init', '--advertise-addr', '127.0.0.1']);
          return true;
        },
        200,
      );
      await waitFor(
        'orca node ready',
        30_000,
        async () => /ready/i.test(await this.#orca(['node', 'ls'])),
        200,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${logTail(this.#log)}`);
    }
  }

  async create(service: string, replicas: number, env: string): Promise<void> {
    track(this.label(service));
    await this.#orca([
      'service',
      'create',
      '--detach',
      '--quiet',
      '--name',
      service,
      '--replicas',
      String(replicas),
      '--init',
      '-e',
      env,
      '--update-parallelism',
      '5',
      '--update-delay',
      '0s',
      IMAGE,
      ...CMD,
    ]);
  }

  async scale(service: string, replicas: number): Promise<void> {
    await this.#orca(['service', 'scale', '--detach', `${service}=${replicas}`]);
  }

  async update(service: string, envAdd: string): Promise<void> {
    await this.#orca([
      'service',
      'update',
      '--detach',
      '--quiet',
      '--env-add',
      envAdd,
      '--update-parallelism',
      '5',
      '--update-delay',
      '0s',
      service,
    ]);
  }

  async remove(service: string): Promise<void> {
    await this.#orca(['service', 'rm', service]);
  }

  async teardown(): Promise<void> {
    const d = this.#daemon;
    if (d && d.gone() === undefined && d.child.pid !== undefined) {
      d.child.kill('SIGTERM');
      const t = setTimeout(() => {
        try {
          process.kill(-d.child.pid!, 'SIGKILL');
        } catch {}
      }, 15_000);
      await d.exited;
      clearTimeout(t);
    }
    this.#daemon = undefined;
    if (this.#dir) removeTempDir(this.#dir);
  }
}

// ---- Docker Swarm mode -------------------------------------------------------------------------

export class SwarmSystem implements System {
  readonly name = 'swarm' as const;

  label(service: string): string {
    return `com.docker.swarm.service.name=${service}`;
  }

  async setup(): Promise<void> {
    const state = (await cli('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).trim();
    if (state !== 'inactive')
      throw new Error(`this engine's swarm state is "${state}", not inactive: not touching it`);
    if (!exitHooked) {
      exitHooked = true;
      process.on('exit', cleanupSync);
    }
    swarmOurs = true;
    await cli('docker', ['swarm', 'init', '--advertise-addr', '127.0.0.1']);
    await waitFor(
      'swarm node ready',
      30_000,
      async () => /ready/i.test(await cli('docker', ['node', 'ls', '--format', '{{.Status}}'])),
      200,
    );
  }

  async create(service: string, replicas: number, env: string): Promise<void> {
    track(this.label(service));
    await cli('docker', [
      'service',
      'create',
      '--detach',
      '--quiet',
      '--no-resolve-image',
      '--name',
      service,
      '--replicas',
      String(replicas),
      '--init',
      '-e',
      env,
      '--update-parallelism',
      '5',
      '--update-delay',
      '0s',
      IMAGE,
      ...CMD,
    ]);
  }

  async scale(service: string, replicas: number): Promise<void> {
    await cli('docker', ['service', 'scale', '--detach', `${service}=${replicas}`]);
  }

  async update(service: string, envAdd: string): Promise<void> {
    await cli('docker', [
      'service',
      'update',
      '--detach',
      '--quiet',
      '--no-resolve-image',
      '--env-add',
      envAdd,
      '--update-parallelism',
      '5',
      '--update-delay',
      '0s',
      service,
    ]);
  }

  async remove(service: string): Promise<void> {
    await cli('docker', ['service', 'rm', service]);
  }

  async teardown(): Promise<void> {
    if (swarmOurs) {
      await cli('docker', ['swarm', 'leave', '--force']);
      swarmOurs = false;
    }
  }
}

// ---- the bare Engine API -----------------------------------------------------------------------

/** Runs `fn` over `items` with at most `limit` calls in flight. */
async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class EngineSystem implements System {
  readonly name = 'engine' as const;
  readonly #docker: Docker;
  /** service -> slot -> container id */
  readonly #slots = new Map<string, Map<number, string>>();
  readonly #env = new Map<string, string[]>();
  readonly updateParallelism: number;

  constructor(docker: Docker, updateParallelism = 5) {
    this.#docker = docker;
    this.updateParallelism = updateParallelism;
  }

  label(service: string): string {
    return `orca.bench.converge=${service}`;
  }

  async setup(): Promise<void> {}

  async #startSlot(service: string, slot: number): Promise<void> {
    const c = await this.#docker.createContainer({
      name: `${service}.${slot}`,
      Image: IMAGE,
      Cmd: CMD,
      Env: this.#env.get(service) ?? [],
      Labels: { 'orca.bench.converge': service },
      HostConfig: { Init: true },
    });
    this.#slots.get(service)!.set(slot, c.id);
    await c.start();
  }

  async #stopSlot(service: string, slot: number): Promise<void> {
    const id = this.#slots.get(service)!.get(slot);
    if (id === undefined) return;
    const c = this.#docker.getContainer(id);
    await c.stop({ t: 10 }).catch(() => undefined);
    await c.remove({ force: true });
    this.#slots.get(service)!.delete(slot);
  }

  /** create: every replica in flight at once (N creates + starts concurrently). */
  async create(service: string, replicas: number, env: string): Promise<void> {
    track(this.label(service));
    this.#slots.set(service, new Map());
    this.#env.set(service, [env]);
    const slots = Array.from({ length: replicas }, (_, i) => i + 1);
    await pool(slots, replicas, (s) => this.#startSlot(service, s));
  }

  /** scale: every added (or removed) replica in flight at once. */
  async scale(service: string, replicas: number): Promise<void> {
    const have = [...this.#slots.get(service)!.keys()].sort((a, b) => a - b);
    if (replicas > have.length) {
      const add = Array.from({ length: replicas - have.length }, (_, i) => have.length + i + 1);
      await pool(add, add.length, (s) => this.#startSlot(service, s));
    } else {
      const drop = have.slice(replicas);
      await pool(drop, drop.length, (s) => this.#stopSlot(service, s));
    }
  }

  /** update: `updateParallelism` slots in flight, each stop-first (stop, remove, create, start). */
  async update(service: string, envAdd: string): Promise<void> {
    const key = envAdd.split('=')[0]!;
    const env = (this.#env.get(service) ?? []).filter((e) => e.split('=')[0] !== key);
    this.#env.set(service, [...env, envAdd]);
    const slots = [...this.#slots.get(service)!.keys()].sort((a, b) => a - b);
    await pool(slots, this.updateParallelism, async (s) => {
      await this.#stopSlot(service, s);
      await this.#startSlot(service, s);
    });
  }

  async remove(service: string): Promise<void> {
    const slots = [...(this.#slots.get(service)?.keys() ?? [])];
    await pool(slots, Math.max(1, slots.length), (s) => this.#stopSlot(service, s));
    this.#slots.delete(service);
  }

  async teardown(): Promise<void> {}
}
