import { Command, CommanderError } from 'commander';
import { orcaVersion } from '../api/version.ts';
import { InterruptedError, OrcaError } from '../errors.ts';
import { DEFAULT_HOST } from './control-client.ts';
import { addDemoCommands } from './demo.ts';
import { addInfoCommand } from './info.ts';
import { addNetworkCommands } from './network.ts';
import { addNodeCommands } from './node.ts';
import { addServiceCommands } from './service.ts';
import { addSwarmCommands } from './swarm.ts';

export function buildProgram(): Command {
  const program = new Command('orca')
    .description(
      'orca: a container orchestrator. One program on every host; managers agree through a Raft log.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .option('-H, --host <url>', `the daemon to talk to (default: $ORCA_HOST, else ${DEFAULT_HOST})`)
    .version(`orca version ${orcaVersion}`, '-v, --version', 'print the version and exit')
    .exitOverride();
  addSwarmCommands(program);
  addNodeCommands(program);
  addServiceCommands(program);
  addNetworkCommands(program);
  addInfoCommand(program);
  addDemoCommands(program);
  return program;
}

/** Runs the program; errors become one clear line on stderr and a non-zero exit code. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
      // A line commander could not parse (unknown option, missing argument) is bad input: 2,
      // as orca's own flag checks. Help shown for want of a subcommand keeps commander's code.
      return err.code === 'commander.help' ? err.exitCode : 2;
    }
    if (err instanceof InterruptedError) return err.exitCode;
    if (err instanceof OrcaError) {
      process.stderr.write(`orca: ${err.message}\n`);
      return err.code === 'ORCA_BAD_REQUEST' ? 2 : 1;
    }
    process.stderr.write(
      `orca: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return 1;
  }
}
