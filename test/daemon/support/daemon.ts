// An `orca daemon` run as a separate process, as a user (or systemd) runs it: started on its own
// data dir, socket and ports, stopped with a signal, killed with -9 and started again on the
// same data dir.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../../support/wait.ts';
import { freePort, orcaBin } from './cli.ts';

const exec = promisify(execFile);

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface TestDaemonOptions {
  /** Where its data dir and socket live. */
  readonly dir: string;
  /** The engine it drives; a socket nobody answers on gives a daemon without containers. */
  readonly dockerHost?: string;
}

export class TestDaemon {
  readonly dataDir: string;
  readonly socket: string;
  readonly host: string;
  readonly #dockerHost: string | undefined;
  #listen = '';
  #proc: ChildProcess | null = null;
  #exited: Promise<Exit> = Promise.resolve({ code: null, signal: null });
  /** Everything the current process logged (JSON lines). */
  stderr = '';

  constructor(opts: TestDaemonOptions) {
    this.dataDir = path.join(opts.dir, 'data');
    this.socket = path.join(opts.dir, 'run', 'orca.sock');
    this.host = `unix://${this.socket}`;
    this.#dockerHost = opts.dockerHost;
  }

  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts the daemon (on the ports of its first start) and waits until it serves its socket. */
  async start(extra: readonly string[] = []): Promise<void> {
    if (this.#listen === '') this.#listen = `127.0.0.1:${await freePort()}`;
    const args = [
      orcaBin,
      'daemon',
      '--data-dir',
      this.dataDir,
      '--socket',
      this.socket,
      '--listen-addr',
      this.#listen,
      '--log-format',
      'json',
      ...(this.#dockerHost === undefined ? [] : ['--docker-host', this.#dockerHost]),
      ...extra,
    ];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    this.stderr = '';
    proc.stderr?.on('data', (c: Buffer) => {
      this.stderr += c.toString('utf8');
    });
    this.#exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );
    await waitFor(
      () => {
        if (proc.exitCode !== null || proc.signalCode !== null) {
          throw new Error(`daemon exited: ${this.stderr}`);
        }
        return this.stderr.includes('"msg":"orca daemon started"');
      },
      { what: `daemon on ${this.socket} started` },
    );
  }

  /** Sends `signal` and waits for the process to end. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<Exit> {
    const proc = this.#proc;
    if (proc === null) return { code: null, signal: null };
    if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    const exit = await this.#exited;
    this.#proc = null;
    return exit;
  }
}

/** Removes every container a swarm node of these tests left behind (after hooks). */
export async function removeNodeContainers(nodeId: string): Promise<void> {
  if (nodeId === '') return;
  const { stdout } = await exec('docker', [
    'ps',
    '-aq',
    '--filter',
    `label=orca.node.id=${nodeId}`,
  ]).catch(() => ({ stdout: '' }));
  const ids = stdout.split('\n').filter((l) => l.trim() !== '');
  if (ids.length > 0) await exec('docker', ['rm', '-f', ...ids]).catch(() => {});
}

/** Removes the engine networks nodes made for orca networks (those still in use stay). */
export async function removeOrcaNetworks(): Promise<void> {
  const { stdout } = await exec('docker', [
    'network',
    'ls',
    '-q',
    '--filter',
    'label=orca.network.id',
  ]).catch(() => ({ stdout: '' }));
  for (const id of stdout.split('\n').filter((l) => l.trim() !== '')) {
    await exec('docker', ['network', 'rm', id]).catch(() => {});
  }
}

/** The node id `orca swarm init` printed. */
export function initNodeId(initOutput: string): string {
  const id = /current node \(([0-9a-z]+)\) is now a manager/.exec(initOutput)?.[1];
  if (id === undefined) throw new Error(`no node id in: ${initOutput}`);
  return id;
}
