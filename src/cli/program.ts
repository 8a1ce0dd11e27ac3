import { Command, CommanderError } from 'commander';
import { OrcaError } from '../errors.ts';
import { addDemoCommand } from './demo.ts';

export function buildProgram(): Command {
  const program = new Command('orca')
    .description(
      'orca: a container orchestrator. One program on every host; managers agree through a Raft log.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  addDemoCommand(program);
  return program;
}

/** Runs the program; errors become one clear line on stderr and a non-zero exit code. */
export async function runProgram(program: Command, argv: readonly string[]): Promise<number> {
  try {
    await program.parseAsync([...argv]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version'
        ? 0
        : err.exitCode || 2;
    }
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
