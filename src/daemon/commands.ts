import { isIP } from 'node:net';
import type { Command } from 'commander';
import { goDurationNs } from '../cli/service-spec/durations.ts';
import { BadRequestError } from '../errors.ts';
import { DEFAULT_CLUSTER_PORT, formatHostPort, parseHostPort } from './addr.ts';
import {
  type ConfigKey,
  configKeys,
  conflicts,
  type DaemonConfig,
  DEFAULT_CONFIG_FILE,
  readConfig,
  reloadPlan,
} from './config-file.ts';
import type { LogFormat } from './logger.ts';
import { type MeshDataPathKind, type MeshSettings, meshDataPaths } from './mesh-options.ts';

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

function checkLogFlags(level: string, format: string): LogFormat {
  if (!logLevels.includes(level)) {
    throw new BadRequestError(`--log-level: "${level}" is not one of ${logLevels.join(', ')}`);
  }
  if (format !== 'json' && format !== 'pretty') {
    throw new BadRequestError(`--log-format: "${format}" is not json or pretty`);
  }
  return format;
}

function unixSocketPath(text: string): string {
  const p = text.startsWith('unix://') ? text.slice('unix://'.length) : text;
  if (!p.startsWith('/')) {
    throw new BadRequestError(
      `--socket: "${text}" is not an absolute path (example: /run/orca/orca.sock)`,
    );
  }
  return p;
}

function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1)
      throw new BadRequestError(`${flag}: "${text}" is not a whole number above 0`);
    return n;
  };
}

/** `log-level` → `logLevel`: commander's name for a flag's value. */
function camel(key: ConfigKey): string {
  return key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `--node-report-interval`: at least 100 ms, since every report reads the host and may cost a
 * Raft write; at most an hour, since usage older than that tells the scheduler nothing.
 */
function reportInterval(text: string): number {
  const ns = goDurationNs(text);
  if (ns === null || ns % 1_000_000n !== 0n || ns < 100_000_000n || ns > 3_600_000_000_000n) {
    throw new BadRequestError(
      `--node-report-interval: "${text}" is not a duration from 100ms to 1h in whole milliseconds (examples: 500ms, 10s, 1m)`,
    );
  }
  return Number(ns / 1_000_000n);
}

function meshFlags(bindAddr: string, kind: string, threadsText: string): MeshSettings {
  if (isIP(bindAddr) !== 4) {
    throw new BadRequestError(
      `--mesh-bind-addr: "${bindAddr}" is not an IPv4 address (example: 0.0.0.0)`,
    );
  }
  if (!(meshDataPaths as readonly string[]).includes(kind)) {
    throw new BadRequestError(
      `--mesh-data-path: "${kind}" is not one of ${meshDataPaths.join(', ')}`,
    );
  }
  const threads = Number(threadsText);
  if (!/^\d+$/.test(threadsText) || threads < 1 || threads > 64) {
    throw new BadRequestError(
      `--mesh-threads: "${threadsText}" is not a whole number from 1 to 64`,
    );
  }
  return { bindAddr, kind: kind as MeshDataPathKind, threads };
}

/** The long-running commands: they run in the foreground until SIGTERM or SIGINT. */
export function addDaemonCommands(program: Command): void {
  program
    .command('daemon')
    .description(
      'run the orca daemon in the foreground: the control socket, and the swarm member once `orca swarm init` made one',
    )
    .option(
      '--data-dir <dir>',
      'where the swarm state (Raft log, snapshots) is kept',
      '/var/lib/orca',
    )
    .option(
      '--socket <path>',
      'the control socket the CLI talks to (mode 0660)',
      '/run/orca/orca.sock',
    )
    .option(
      '--listen-addr <host:port>',
      'cluster address (Raft between managers) used by `swarm init` unless it gives its own',
      `0.0.0.0:${DEFAULT_CLUSTER_PORT}`,
    )
    .option(
      '--advertise-addr <host[:port]>',
      'address other nodes dial (default: the listen host, or the first non-loopback IPv4)',
    )
    .option(
      '--docker-host <url>',
      'the container engine (unix:///path or tcp://host:port)',
      'unix:///var/run/docker.sock',
    )
    .option(
      '--node-report-interval <duration>',
      'how often this node reports its resources and its CPU and memory use to the managers',
      '10s',
    )
    .option(
      '--mesh-bind-addr <ip>',
      "where the routing mesh listens on every service's published ingress ports",
      '0.0.0.0',
    )
    .option(
      '--mesh-data-path <kind>',
      'node (Node sockets: connect retry, least-conn, PROXY protocol) or nftables (kernel DNAT, faster)',
      'node',
    )
    .option('--mesh-threads <n>', 'threads of the node data path (SO_REUSEPORT)', '1')
    .option('--log-level <level>', logLevels.join(', '), 'info')
    .option('--log-format <format>', 'json or pretty', 'pretty')
    .option(
      '--config-file <file>',
      "JSON file of settings keyed by flag name, as Docker's daemon.json (a setting comes from the file or a flag, not both)",
      DEFAULT_CONFIG_FILE,
    )
    .addHelpText(
      'after',
      `
Signals: SIGTERM and SIGINT stop the daemon cleanly (a leader hands leadership over first) and
exit 0. SIGHUP re-reads the config file: a new "log-level" applies at once; other changes are
logged as needing a restart; a file that does not parse is logged and changes nothing.

Examples:
  sudo orca daemon
  # a second daemon on the same machine, for a local test swarm
  orca daemon --data-dir /tmp/orca2 --socket /tmp/orca2/orca.sock --listen-addr 127.0.0.1:2378
  orca -H unix:///tmp/orca2/orca.sock swarm init`,
    )
    .action(async (flags: Record<string, string | undefined>, cmd: Command) => {
      const configFile = String(flags.configFile);
      const namedFile = cmd.getOptionValueSource('configFile') === 'cli';
      let config = await readConfig(configFile, namedFile);
      const fromCli = configKeys.filter((k) => cmd.getOptionValueSource(camel(k)) === 'cli');
      const both = conflicts(config, fromCli);
      if (both.length > 0) {
        throw new BadRequestError(
          `set both as a flag and in ${configFile}: ${both.map((k) => `--${k}`).join(', ')}; keep one`,
        );
      }
      const o = { ...flags };
      for (const key of configKeys) {
        const value = config[key];
        if (value !== undefined) o[camel(key)] = value;
      }
      const format = checkLogFlags(String(o.logLevel), String(o.logFormat));
      const socket = unixSocketPath(String(o.socket));
      const listenAddr = formatHostPort(
        parseHostPort(String(o.listenAddr), '--listen-addr', DEFAULT_CLUSTER_PORT),
      );
      if (o.advertiseAddr !== undefined) {
        parseHostPort(o.advertiseAddr, '--advertise-addr', DEFAULT_CLUSTER_PORT);
      }
      const dockerHost = String(o.dockerHost);
      if (!/^(unix:\/\/\/|tcp:\/\/)/.test(dockerHost)) {
        throw new BadRequestError(
          `--docker-host: "${dockerHost}" is neither unix:///path nor tcp://host:port`,
        );
      }
      const nodeReportIntervalMs = reportInterval(String(o.nodeReportInterval));
      const mesh = meshFlags(String(o.meshBindAddr), String(o.meshDataPath), String(o.meshThreads));
      const { createLogger } = await import('./logger.ts');
      const logger = createLogger({ level: String(o.logLevel), format });
      // Loaded here, not at the top: every CLI command would pay for loading the daemon.
      const { startDaemon } = await import('./daemon.ts');
      const daemon = await startDaemon({
        dataDir: String(o.dataDir),
        socket,
        listenAddr,
        ...(o.advertiseAddr === undefined ? {} : { advertiseAddr: o.advertiseAddr }),
        dockerHost,
        logger,
        nodeReportIntervalMs,
        mesh,
      });
      const reload = async () => {
        let next: DaemonConfig;
        try {
          next = await readConfig(configFile, namedFile);
          const both = conflicts(next, fromCli);
          if (both.length > 0) {
            throw new BadRequestError(
              `set both as a flag and in ${configFile}: ${both.map((k) => `--${k}`).join(', ')}`,
            );
          }
          const level = next['log-level'] ?? String(flags.logLevel);
          if (!logLevels.includes(level)) {
            throw new BadRequestError(
              `${configFile}: "log-level": "${level}" is not one of ${logLevels.join(', ')}`,
            );
          }
        } catch (err) {
          logger.error({ err: (err as Error).message }, 'SIGHUP: configuration not reloaded');
          return;
        }
        const { apply, needRestart } = reloadPlan(config, next);
        config = next;
        if ('log-level' in apply) logger.level = apply['log-level'] ?? String(flags.logLevel);
        logger.info(
          { configFile, logLevel: logger.level, changed: Object.keys(apply), needRestart },
          needRestart.length === 0
            ? 'SIGHUP: configuration reloaded'
            : `SIGHUP: configuration reloaded; restart the daemon for ${needRestart.map((k) => `"${k}"`).join(', ')}`,
        );
      };
      const onHup = () => {
        void reload();
      };
      process.on('SIGHUP', onHup);
      const signal = await new Promise<string>((resolve) => {
        process.once('SIGTERM', () => resolve('SIGTERM'));
        process.once('SIGINT', () => resolve('SIGINT'));
      });
      logger.info({ signal }, 'stopping');
      process.off('SIGHUP', onHup);
      await daemon.stop();
    });

  program
    .command('raft-kv')
    .description(
      "run one member of a replicated key-value store on orca's Raft log (tests, benchmarks, demo)",
    )
    .requiredOption('--id <id>', "this member's id, unique in the cluster")
    .requiredOption('--data-dir <dir>', 'where the Raft log, hard state and snapshots are kept')
    .requiredOption('--listen <host:port>', 'Raft transport address (what other members dial)')
    .requiredOption('--client-listen <host:port>', 'HTTP JSON API address for clients')
    .option('--initial-cluster <members>', 'founding members of a new cluster: id=host:port,...')
    .option('--cluster-id <id>', 'cluster id (default: derived from --initial-cluster)')
    .option('--tick-ms <ms>', 'length of one Raft tick', positiveInt('--tick-ms'), 50)
    .option(
      '--election-ticks <n>',
      'ticks without a leader before an election',
      positiveInt('--election-ticks'),
      10,
    )
    .option(
      '--snapshot-every <n>',
      "snapshot and compact the log every n entries (as etcd's --snapshot-count)",
      positiveInt('--snapshot-every'),
      100000,
    )
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--log-format <format>', 'json or pretty', 'pretty')
    .addHelpText(
      'after',
      `
Examples:
  # three members of a new cluster on one machine
  orca raft-kv --id n1 --data-dir /tmp/kv1 --listen 127.0.0.1:7001 --client-listen 127.0.0.1:8001 \\
    --initial-cluster n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003
  curl -s -XPOST 127.0.0.1:8001/v1/put -d '{"key":"a","value":"1"}'
  curl -s -XPOST 127.0.0.1:8002/v1/get -d '{"key":"a"}'
  curl -s 127.0.0.1:8003/v1/status`,
    )
    .action(async (o: Record<string, string | number | undefined>) => {
      const format = checkLogFlags(String(o.logLevel), String(o.logFormat));
      const { createLogger } = await import('./logger.ts');
      const logger = createLogger({ level: String(o.logLevel), format, name: String(o.id) });
      const { parseInitialCluster, startRaftKv } = await import('./raft-kv.ts');
      const server = await startRaftKv({
        id: String(o.id),
        dataDir: String(o.dataDir),
        listen: String(o.listen),
        clientListen: String(o.clientListen),
        ...(o.initialCluster === undefined
          ? {}
          : { initialCluster: parseInitialCluster(String(o.initialCluster)) }),
        ...(o.clusterId === undefined ? {} : { clusterId: String(o.clusterId) }),
        tickMs: Number(o.tickMs),
        electionTicks: Number(o.electionTicks),
        snapshotEvery: Number(o.snapshotEvery),
        logger,
      });
      process.stdout.write(
        `ready ${JSON.stringify({ id: o.id, raft: o.listen, client: server.clientAddr })}\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      logger.info({}, 'stopping');
      await server.stop();
    });
}
