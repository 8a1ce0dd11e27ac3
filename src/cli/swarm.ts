import type { Command } from 'commander';
import { InvalidFlagsError } from '../errors.ts';
import { hostOf } from './common.ts';
import { callDaemon } from './control-client.ts';

export function addSwarmCommands(program: Command): void {
  const swarm = program
    .command('swarm')
    .description('manage the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca swarm init --advertise-addr 10.0.0.5
  orca swarm leave --force`,
    );

  swarm
    .command('init')
    .description('create a swarm with this node as its first manager')
    .option(
      '--advertise-addr <host[:port]>',
      "address other nodes dial (default: the daemon's --advertise-addr, the listen host, or the first non-loopback IPv4)",
    )
    .option(
      '--listen-addr <host:port>',
      "cluster address to listen on (default: the daemon's --listen-addr, 0.0.0.0:2377)",
    )
    .option('--task-history-limit <n>', 'retained tasks per slot', '5')
    .addHelpText(
      'after',
      `
Examples:
  orca swarm init
  orca swarm init --advertise-addr 10.0.0.5 --task-history-limit 10`,
    )
    .action(async (o: Record<string, string | undefined>, cmd: Command) => {
      const limit = Number(o.taskHistoryLimit);
      if (!/^\d+$/.test(String(o.taskHistoryLimit)) || !Number.isSafeInteger(limit)) {
        throw new InvalidFlagsError([
          `--task-history-limit: "${o.taskHistoryLimit}" is not a whole number of 0 or more`,
        ]);
      }
      const res = await callDaemon(hostOf(cmd), 'SwarmInit', {
        taskHistoryLimit: limit,
        ...(o.advertiseAddr === undefined ? {} : { advertiseAddr: o.advertiseAddr }),
        ...(o.listenAddr === undefined ? {} : { listenAddr: o.listenAddr }),
      });
      process.stdout.write(`Swarm initialized: current node (${res.nodeId}) is now a manager.\n`);
    });

  swarm
    .command('leave')
    .description('leave the swarm (a manager needs --force: it removes its copy of the state)')
    .option('-f, --force', 'leave even as a manager; the last manager leaving erases the swarm')
    .addHelpText(
      'after',
      `
Examples:
  orca swarm leave --force`,
    )
    .action(async (o: { force?: boolean }, cmd: Command) => {
      await callDaemon(hostOf(cmd), 'SwarmLeave', { force: o.force === true });
      process.stdout.write('Node left the swarm.\n');
    });
}
