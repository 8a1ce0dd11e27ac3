import type { Command } from 'commander';
import { addRaftDemoCommand } from './demo-raft.ts';

/** `orca demo` (a one-host swarm serving a web service) and `orca demo raft`. */
export function addDemoCommands(program: Command): void {
  const demo = program
    .command('demo')
    .description('see orca work on this machine: a swarm running a service (default), or Raft')
    .addHelpText(
      'after',
      `
Examples:
  orca demo                      # the swarm demo: a web service on every replica, until Ctrl-C
  orca demo swarm --once         # the same, then clean up and exit
  orca demo raft --writes 500    # three Raft members, a leader killed with -9`,
    );
  demo
    .command('swarm', { isDefault: true })
    .description(
      'start a one-host swarm here and run a web service you can reach (Ctrl-C removes it)',
    )
    .option(
      '--image <image>',
      'image with busybox httpd (default: orca-test/busybox:1 if the engine has it, else busybox:1.37)',
    )
    .option('--replicas <n>', 'replicas of the web service', '3')
    .option('--docker-host <url>', 'the Docker engine to run on', 'unix:///var/run/docker.sock')
    .option('--once', 'show the service answering, then remove everything and exit', false)
    .addHelpText(
      'after',
      `
Examples:
  orca demo                      # runs until Ctrl-C; try orca service ps web in another shell
  orca demo --replicas 5 --once`,
    )
    .action(async (o) => {
      // Loaded on use: the engine client is not something every CLI command should load.
      const { runSwarmDemo } = await import('./demo-swarm.ts');
      await runSwarmDemo(o);
    });
  addRaftDemoCommand(demo);
}
