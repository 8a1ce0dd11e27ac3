import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Info } from '../api/control-wire.ts';
import { orcaVersion } from '../api/version.ts';
import { OrcaError } from '../errors.ts';
import { networkControl, serviceControl } from '../manager/controlapi/index.ts';
import { ServiceDiscovery } from '../netmesh/sandbox/service-discovery.ts';
import { HostDescriber } from '../worker/host-description.ts';
import { ControlServer } from './control-server.ts';
import type { Logger } from './logger.ts';
import { createMeshDataPath } from './mesh-data-path.ts';
import type { MeshSettings } from './mesh-options.ts';
import { RoutingMesh } from './routing-mesh.ts';
import { Swarm } from './swarm.ts';

function routingMesh(settings: MeshSettings, log: Logger): RoutingMesh {
  const meshLog = log.child({ part: 'mesh' });
  return new RoutingMesh(() => createMeshDataPath({ ...settings, log: meshLog }), meshLog);
}

export interface DaemonOptions {
  readonly dataDir: string;
  readonly socket: string;
  readonly listenAddr: string;
  readonly advertiseAddr?: string;
  readonly dockerHost: string;
  readonly logger: Logger;
  /** How often this node reports its description and usage (default 10 s). */
  readonly nodeReportIntervalMs?: number;
  /** The routing mesh; absent: published ingress ports are not served on this node. */
  readonly mesh?: MeshSettings;
}

export interface RunningDaemon {
  readonly swarm: Swarm;
  stop(): Promise<void>;
}

/**
 * Starts the daemon: takes the data dir, serves the control socket, and resumes the swarm member
 * a previous run created (in the background: the socket answers `info` while Raft elects).
 */
export async function startDaemon(opts: DaemonOptions): Promise<RunningDaemon> {
  const log = opts.logger;
  const unlock = await lockDataDir(opts.dataDir);
  // One for the daemon's life: CPU use is measured between its successive descriptions.
  const host = new HostDescriber({ dockerHost: opts.dockerHost });
  const swarm = new Swarm({
    dataDir: opts.dataDir,
    listenAddr: opts.listenAddr,
    ...(opts.advertiseAddr === undefined ? {} : { advertiseAddr: opts.advertiseAddr }),
    dockerHost: opts.dockerHost,
    logger: log,
    describeHost: () => host.describe(),
    ...(opts.mesh === undefined ? {} : { mesh: routingMesh(opts.mesh, log) }),
    discovery: new ServiceDiscovery({ log: log.child({ part: 'discovery' }) }),
    ...(opts.nodeReportIntervalMs === undefined
      ? {}
      : { nodeReportIntervalMs: opts.nodeReportIntervalMs }),
  });
  let control: ControlServer;
  try {
    control = await ControlServer.start(
      opts.socket,
      {
        SwarmInit: (req) => swarm.init(req),
        SwarmJoin: (req) => swarm.join(req),
        SwarmJoinToken: (req) => swarm.joinToken(req),
        SwarmLeave: async (req) => {
          await swarm.leave(req.force === true);
          return {};
        },
        SwarmUpdate: (req) => swarm.update(req),
        SwarmUnlock: async (req) => {
          await swarm.unlock(req);
          return {};
        },
        SwarmUnlockKey: (req) => swarm.unlockKey(req),
        Info: async (): Promise<Info> => ({
          ...(await swarm.info()),
          dataDir: opts.dataDir,
          dockerHost: opts.dockerHost,
          orcaVersion,
        }),
        NodeList: () => swarm.nodeList(),
        NodeInspect: (req) => swarm.nodeInspect(req.node),
        NodeUpdate: (req) => swarm.nodeUpdate(req),
        NodeRemove: (req) => swarm.nodeRemove(req),
        ...serviceControl(() => swarm.controlStore(), { self: () => swarm.nodeId }),
        ...networkControl(() => swarm.controlStore()),
        ServiceLogs: (req, signal) => swarm.serviceLogs(req, signal),
      },
      log,
    );
    await swarm.open();
  } catch (err) {
    await unlock();
    throw err;
  }
  log.info(
    { socket: opts.socket, dataDir: opts.dataDir, version: orcaVersion, pid: process.pid },
    'orca daemon started',
  );
  return {
    swarm,
    async stop() {
      await control.stop();
      await swarm.close();
      await unlock();
      log.info({}, 'orca daemon stopped');
    },
  };
}

/**
 * One daemon per data dir: `<data-dir>/orca.pid` names the holder. A file whose process is gone
 * (kill -9) is taken over; one whose process lives is refused. Raft's LevelDB lock would catch a
 * second daemon only after `swarm init`; this catches it at start.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new OrcaError(
      'ORCA_DATA_DIR',
      `--data-dir ${dataDir}: cannot create it: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const file = path.join(dataDir, 'orca.pid');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const f = await open(file, 'wx', 0o644);
      await f.writeFile(`${process.pid}\n`);
      await f.close();
      return () => unlink(file).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number((await readFile(file, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new OrcaError(
        'ORCA_DATA_DIR',
        `--data-dir ${dataDir} is in use by another orca daemon (pid ${holder}); stop it, or give this one its own --data-dir`,
      );
    }
    await unlink(file).catch(() => {});
  }
  throw new OrcaError('ORCA_DATA_DIR', `--data-dir ${dataDir}: cannot take ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
