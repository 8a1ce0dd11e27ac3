// One extra Docker engine as a "host" of a benchmark cluster on this machine. It shares nothing
// with the machine's main engine (whose containers belong to other tests) or with its siblings:
// its own data root, exec root (containerd, shims, netns mounts), API socket, pidfile, config
// file, and its own Linux bridges. It is started with --iptables=false --ip-masq=false so that it
// never touches the main engine's firewall rules, and never with --bridge=none, which on start
// deletes the main engine's docker0.

import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { killHost, unmountUnder } from './host-kill.ts';
import { Fatal, logTail, type Spawned, spawnMember, waitFor } from './proc.ts';

const run = promisify(execFile);

/** A failed docker CLI call; `reason` is the CLI's own message, without the command line. */
export class DockerCliError extends Error {
  readonly reason: string;
  constructor(engine: number, args: readonly string[], reason: string) {
    super(`engine ${engine}: docker ${args.join(' ')}: ${reason}`);
    this.reason = reason;
  }
}

export interface EngineSpec {
  index: number;
  /** Its folder: data root, exec root, socket, pidfile, config and log all live in it. */
  dir: string;
  /** The Linux bridge of its default `bridge` network, with `bridgeCidr` as its address. */
  bridge: string;
  bridgeCidr: string;
  /** The Linux bridge docker creates for its `docker_gwbridge` network, and that network's subnet. */
  gwBridge: string;
  gwSubnet: string;
}

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export class ExtraEngine {
  readonly spec: EngineSpec;
  readonly sock: string;
  readonly log: string;
  /** The Engine API of this engine, for polls that should not pay a CLI start each time. */
  readonly api: Docker;
  #daemon: Spawned | undefined;
  #created = false;
  #gwMade = false;

  constructor(spec: EngineSpec) {
    this.spec = spec;
    this.sock = join(spec.dir, 'docker.sock');
    this.log = join(spec.dir, 'dockerd.log');
    this.api = new Docker({ socketPath: this.sock });
  }

  get running(): boolean {
    return this.#daemon !== undefined && this.#daemon.gone() === undefined;
  }

  /** Starts dockerd on its data root (the first time: creates its folder and bridges too). */
  async start(): Promise<void> {
    if (!this.#created) this.#create();
    const { dir, bridge } = this.spec;
    this.#daemon = spawnMember(
      'dockerd',
      [
        '--config-file',
        join(dir, 'daemon.json'),
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '-H',
        `unix://${this.sock}`,
        '--pidfile',
        join(dir, 'docker.pid'),
        '--iptables=false',
        '--ip-masq=false',
        '--bridge',
        bridge,
      ],
      { logFile: this.log },
    );
    const daemon = this.#daemon;
    await waitFor(
      `engine ${this.spec.index} answering on ${this.sock}`,
      60_000,
      async () => {
        const gone = daemon.gone();
        if (gone)
          throw new Fatal(`engine ${this.spec.index}: dockerd ${gone}\n${logTail(this.log)}`);
        await this.api.ping();
        return true;
      },
      100,
    );
    if (!this.#gwMade) await this.#makeGwBridge();
  }

  #create(): void {
    const { dir, bridge, bridgeCidr } = this.spec;
    mkdirSync(dir, { recursive: true });
    // An empty config file of its own, so that a daemon.json of the main engine never applies.
    writeFileSync(join(dir, 'daemon.json'), '{}\n');
    // Marked as created before the bridge exists: a half-made bridge is removed on teardown too.
    this.#created = true;
    ip(['link', 'add', bridge, 'type', 'bridge']);
    ip(['addr', 'add', bridgeCidr, 'dev', bridge]);
    ip(['link', 'set', bridge, 'up']);
  }

  /**
   * Swarm mode attaches every node to a bridge network named docker_gwbridge and creates it, with
   * a Linux bridge of that same name, when it is missing. The main engine of this machine already
   * has a Linux bridge docker_gwbridge; made in advance, this engine's network gets its own.
   */
  async #makeGwBridge(): Promise<void> {
    await this.docker([
      'network',
      'create',
      '--driver',
      'bridge',
      '--subnet',
      this.spec.gwSubnet,
      '-o',
      `com.docker.network.bridge.name=${this.spec.gwBridge}`,
      '-o',
      'com.docker.network.bridge.enable_icc=false',
      '-o',
      'com.docker.network.bridge.enable_ip_masquerade=false',
      'docker_gwbridge',
    ]);
    this.#gwMade = true;
  }

  /** The docker CLI against this engine; rejects with the CLI's own message. */
  async docker(
    args: string[],
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    try {
      const { stdout } = await run('docker', ['-H', `unix://${this.sock}`, ...args], {
        timeout: opts.timeoutMs ?? 60_000,
        signal: opts.signal,
        killSignal: 'SIGKILL',
      });
      return stdout;
    } catch (err) {
      const e = err as { stderr?: string; message: string; killed?: boolean; name?: string };
      const why =
        e.name === 'AbortError'
          ? 'abandoned: no answer in time'
          : e.killed
            ? `no answer in ${opts.timeoutMs ?? 60_000} ms`
            : e.stderr?.trim() || e.message;
      throw new DockerCliError(this.spec.index, args, why);
    }
  }

  /**
   * kill -9 of the whole host: dockerd, its containerd, shims and containers at once, then its
   * mounts undone, as after a power cut. Returns performance.now() from just before the kill.
   */
  kill9(): number {
    const pid = this.#daemon?.child.pid;
    const t0 = killHost(this.spec.dir, pid === undefined ? [] : [pid]);
    this.#daemon = undefined;
    unmountUnder(this.spec.dir);
    return t0;
  }

  /** Everything of this engine gone except its folder. Synchronous, for exit hooks. */
  destroy(): void {
    if (!this.#created) return;
    this.kill9();
    for (const link of [this.spec.bridge, this.spec.gwBridge]) {
      if (linkExists(link)) ip(['link', 'del', link]);
    }
    this.#created = false;
  }
}
