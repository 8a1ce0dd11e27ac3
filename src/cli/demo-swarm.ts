// `orca demo`: orca's main job on one machine, as a person would do it by hand. It starts a
// daemon on a scratch data dir and socket, runs `orca swarm init` and `orca service create`
// with a published port (printing each command and its output), then fetches pages through the
// routing mesh to show the replicas answering in turn. The daemon and the service stay until
// Ctrl-C, which removes both.
//
// The image: `--image`, else the local test image when the engine has it (offline machines;
// test/images/build.sh makes it), else busybox from the registry.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import { OrcaError } from '../errors.ts';
import { dockerOptions } from '../worker/docker-runtime.ts';
import { callDaemon } from './control-client.ts';

const orcaBin = fileURLToPath(new URL('../../bin/orca', import.meta.url));
export const localImage = 'orca-test/busybox:1';
const buildScript = fileURLToPath(new URL('../../test/images/build.sh', import.meta.url));
export const registryImage = 'busybox:1.37';
const demoLabel = 'orca.demo';
const httpPort = 8080;

/** Each replica serves a page naming its container, so the answers show who served them. */
const webCommand = [
  'sh',
  '-c',
  `mkdir -p /tmp/www && echo "hello from $(hostname)" > /tmp/www/index.html && exec httpd -f -p ${httpPort} -h /tmp/www`,
];

export interface SwarmDemoOptions {
  readonly image?: string;
  readonly replicas: string;
  readonly dockerHost: string;
  readonly once: boolean;
}

const say = (line: string) => process.stdout.write(`${line}\n`);

function demoError(message: string): OrcaError {
  return new OrcaError('ORCA_DEMO', message);
}

async function pickImage(docker: Docker, wanted: string | undefined): Promise<string> {
  const has = (name: string) =>
    docker
      .getImage(name)
      .inspect()
      .then(
        () => true,
        () => false,
      );
  if (wanted !== undefined) return wanted;
  if (await has(localImage)) return localImage;
  if (await has(registryImage)) return registryImage;
  say(`pulling ${registryImage} (no local ${localImage})`);
  try {
    const stream = await docker.pull(registryImage);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())),
    );
    return registryImage;
  } catch (err) {
    // Offline: the repository's script builds the local image from the host's static busybox.
    say(`pulling failed (${(err as Error).message.trim()}); building ${localImage} instead`);
    const built = await new Promise<boolean>((resolve) => {
      const proc = spawn(buildScript, [], { stdio: ['ignore', 'inherit', 'inherit'] });
      proc.once('error', () => resolve(false));
      proc.once('exit', (code) => resolve(code === 0));
    });
    if (built) return localImage;
    throw demoError(
      `no image to run: the engine has neither ${localImage} nor ${registryImage}, pulling failed and ` +
        `so did ${buildScript} (it needs busybox-static); pass --image with an image that has busybox httpd`,
    );
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

/** Runs `orca ARGS` against the demo's daemon with its output on this terminal, as typed. */
function orca(host: string, args: readonly string[]): Promise<void> {
  say(`\n$ orca ${args.map((a) => (/[\s'"$&|;<>()]/.test(a) ? `'${a}'` : a)).join(' ')}`);
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [orcaBin, ...args], {
      env: { ...process.env, ORCA_HOST: host },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    proc.once('error', reject);
    proc.once('exit', (code) =>
      code === 0 ? resolve() : reject(demoError(`orca ${args[0]} ${args[1] ?? ''} failed`)),
    );
  });
}

async function startDaemon(dir: string, dockerHost: string): Promise<ChildProcess> {
  // Loopback only: a demo should not open a port to the network.
  const socket = join(dir, 'orca.sock');
  const logFile = join(dir, 'daemon.log');
  const port = await freePort();
  const proc = spawn(
    process.execPath,
    [
      orcaBin,
      'daemon',
      '--data-dir',
      join(dir, 'data'),
      '--socket',
      socket,
      '--listen-addr',
      `127.0.0.1:${port}`,
      '--docker-host',
      dockerHost,
      '--mesh-bind-addr',
      '127.0.0.1',
    ],
    // Its own process group: Ctrl-C on the terminal reaches the demo, which removes the service
    // through the daemon before stopping it.
    { stdio: ['ignore', 'ignore', openSync(logFile, 'a')], detached: true },
  );
  say(`starting orca daemon (data and log in ${dir})`);
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (proc.exitCode !== null) throw demoError(`the daemon exited; see ${logFile}`);
    try {
      await callDaemon(`unix://${socket}`, 'Info', {});
      return proc;
    } catch {
      if (Date.now() > deadline) throw demoError(`the daemon did not start; see ${logFile}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/**
 * Pages fetched through the mesh, one new connection each, until every replica has answered
 * (the mesh takes them in turn) or a deadline passes: tasks join the mesh once running.
 */
async function visit(url: string, replicas: number): Promise<boolean> {
  const seen = new Set<string>();
  const deadline = Date.now() + 20_000;
  let shown = 0;
  while (seen.size < replicas && Date.now() < deadline) {
    try {
      const res = await fetch(url, {
        signal: AbortSignal.timeout(3000),
        headers: { connection: 'close' },
      });
      const body = (await res.text()).trim();
      if (!seen.has(body) || shown < replicas) {
        say(`  ${url} -> ${body}`);
        shown++;
      }
      seen.add(body);
    } catch {
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return seen.size >= replicas;
}

async function stopDaemon(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

export async function runSwarmDemo(o: SwarmDemoOptions): Promise<void> {
  const replicas = Number(o.replicas);
  if (!/^\d+$/.test(o.replicas) || replicas < 1 || replicas > 50) {
    throw new OrcaError(
      'ORCA_BAD_REQUEST',
      `--replicas: "${o.replicas}" is not a whole number from 1 to 50`,
    );
  }
  const docker = new Docker(dockerOptions(o.dockerHost));
  try {
    await docker.ping();
  } catch (err) {
    throw demoError(
      `no Docker engine answers at ${o.dockerHost} (${(err as Error).message}): start dockerd, or pass --docker-host`,
    );
  }
  const image = await pickImage(docker, o.image);
  const dir = mkdtempSync(join(tmpdir(), 'orca-demo-'));
  const host = `unix://${join(dir, 'orca.sock')}`;
  let daemon: ChildProcess | null = null;
  const cleanUp = async () => {
    if (daemon !== null) {
      await orca(host, ['service', 'rm', 'web']).catch(() => {});
      // The daemon stops the containers of a removed service; wait until it did.
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const left = await docker.listContainers({
          all: true,
          filters: { label: [`${demoLabel}=${basename(dir)}`] },
        });
        if (left.length === 0) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await stopDaemon(daemon);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    daemon = await startDaemon(dir, o.dockerHost);
    const published = await freePort();
    const url = `http://127.0.0.1:${published}/`;
    await orca(host, ['swarm', 'init']);
    await orca(host, [
      'service',
      'create',
      '--name',
      'web',
      '--replicas',
      String(replicas),
      '--container-label',
      `${demoLabel}=${basename(dir)}`,
      '--stop-grace-period',
      '1s',
      '--publish',
      `${published}:${httpPort}`,
      image,
      ...webCommand,
    ]);
    await orca(host, ['service', 'ps', 'web']);
    say(`\nThe routing mesh spreads connections to port ${published} over the replicas:`);
    const answered = await visit(url, replicas);
    if (!answered) throw demoError('not every replica answered through the mesh');
    if (o.once) {
      await cleanUp();
      say('\nremoved the service and stopped the daemon');
      return;
    }
    say(`
The swarm runs until Ctrl-C. In another shell:
  export ORCA_HOST=${host}
  curl ${url}                # again and again: each replica in turn
  orca service ps web
  docker rm -f $(docker ps -q --filter label=orca.service.name=web | head -1)   # orca replaces it
  orca service scale web=5`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    say('\nremoving the service and stopping the daemon');
    await cleanUp();
  } catch (err) {
    await cleanUp();
    throw err;
  }
}
