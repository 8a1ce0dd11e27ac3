import type { Command } from 'commander';
import { addRaftDemoCommand } from './demo-raft.ts';
import { addSwarmDemoCommand } from './demo-swarm.ts';

/** `orca demo` (a one-host swarm serving a web service) and `orca demo raft`. */
export function addDemoCommands(program: Command): void {
  const demo = program
    .command('demo')
    .description('see orca work on this machine: a swarm running a service (default), or Raft');
  addSwarmDemoCommand(demo);
  addRaftDemoCommand(demo);
}
