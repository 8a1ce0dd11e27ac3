import { Command, CommanderError } from 'commander';
import { orcaVersion } from '../api/version.ts';
import { InterruptedError, OrcaError } from '../errors.ts';
import { DEFAULT_HOST } from './control-client.ts';

/** A module's top-level commands, added to the program once the module is loaded. */
export interface CommandGroup {
  /** The top-level command names it adds. */
  readonly names: readonly string[];
  readonly load: () => Promise<(program: Command) => void>;
}

const cliGroups: readonly CommandGroup[] = [
  { names: ['swarm'], load: async () => (await import('./swarm.ts')).addSwarmCommands },
  { names: ['node'], load: async () => (await import('./node.ts')).addNodeCommands },
  { names: ['service'], load: async () => (await import('./service.ts')).addServiceCommands },
  { names: ['network'], load: async () => (await import('./network.ts')).addNetworkCommands },
  { names: ['info'], load: async () => (await import('./info.ts')).addInfoCommand },
  { names: ['demo'], load: async () => (await import('./demo.ts')).addDemoCommands },
];

/** The top-level commands of the CLI's own groups: those bin/orca may run from build/cli.cjs. */
export const cliCommandNames: readonly string[] = cliGroups.flatMap((g) => g.names);

/**
 * The top-level command a command line names: its first word that is not a root option (or
 * the value of `-H/--host`). Undefined for a line with none (`orca --help`).
 */
export function namedCommand(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return args[i + 1];
    if (arg === '-H' || arg === '--host') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * The program with every command, or, given the command line (process.argv), with only the
 * module of the command it names: a CLI call then loads a third fewer modules, which is most of
 * its start-up. A line that names no known command (`orca --help`, a typo) gets them all, so
 * that help lists them and commander can suggest the nearest.
 */
export async function buildProgram(
  argv?: readonly string[],
  more: readonly CommandGroup[] = [],
): Promise<Command> {
  const program = new Command('orca')
    .description(
      'orca: a container orchestrator. One program on every host; managers agree through a Raft log.',
    )
    .showHelpAfterError('(run with --help for usage)')
    .option('-H, --host <url>', `the daemon to talk to (default: $ORCA_HOST, else ${DEFAULT_HOST})`)
    .version(`orca version ${orcaVersion}`, '-v, --version', 'print the version and exit')
    .exitOverride();
  const groups = [...cliGroups, ...more];
  const named = argv === undefined ? undefined : namedCommand(argv.slice(2));
  const only = groups.filter((g) => named !== undefined && g.names.includes(named));
  const adders = await Promise.all((only.length > 0 ? only : groups).map((g) => g.load()));
  for (const add of adders) add(program);
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
