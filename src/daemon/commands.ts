import type { Command } from 'commander';
import { createLogger, type LogFormat } from './logger.ts';
import { BadRequestError, parseInitialCluster, startRaftKv } from './raft-kv.ts';

function positiveInt(flag: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1)
      throw new BadRequestError(`${flag}: "${text}" is not a whole number above 0`);
    return n;
  };
}

/** The long-running commands: they run in the foreground until SIGTERM or SIGINT. */
export function addDaemonCommands(program: Command): void {
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
      const format = o.logFormat as LogFormat;
      if (format !== 'json' && format !== 'pretty') {
        throw new BadRequestError(`--log-format: "${String(format)}" is not json or pretty`);
      }
      const logger = createLogger({ level: String(o.logLevel), format, name: String(o.id) });
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
