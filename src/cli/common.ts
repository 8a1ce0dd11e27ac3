import type { Command } from 'commander';
import { InvalidFlagsError, OrcaError } from '../errors.ts';
import { resolveHost } from './control-client.ts';

/** The daemon this command talks to, from the global -H/--host or ORCA_HOST. */
export function hostOf(cmd: Command): string {
  const { host } = cmd.optsWithGlobals() as { host?: string };
  return resolveHost(host);
}

export type OutputFormat = 'table' | 'json';

export function outputFormat(value: string | undefined, fallback: OutputFormat): OutputFormat {
  const f = value ?? fallback;
  if (f !== 'table' && f !== 'json') {
    throw new InvalidFlagsError([`--format: "${f}" is not one of table, json`]);
  }
  return f;
}

/** For repeatable flags; no default, so that help does not print `(default: [])`. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The output flags `service ps` and `node ps` share (`--no-trunc` reads as `trunc: false`). */
export interface TaskListFlags {
  readonly quiet?: boolean;
  readonly trunc?: boolean;
  readonly format?: string;
}

export function taskListOutput(o: TaskListFlags): { quiet: boolean; trunc: boolean } {
  return { quiet: o.quiet === true, trunc: o.trunc !== false };
}

/** `inspect --format json|pretty` and `--pretty`, as Docker's inspect commands: JSON by default. */
export interface InspectFlags {
  readonly format?: string;
  readonly pretty?: boolean;
  readonly quiet?: boolean;
}

export function inspectFormat(o: InspectFlags): 'json' | 'pretty' {
  const format = o.format ?? (o.pretty === true ? 'pretty' : 'json');
  const problems: string[] = [];
  if (format !== 'json' && format !== 'pretty') {
    problems.push(`--format: "${format}" is not one of json, pretty`);
  } else if (o.pretty === true && format !== 'pretty') {
    problems.push('--pretty cannot be used with --format json');
  }
  if (problems.length > 0) throw new InvalidFlagsError(problems);
  return format as 'json' | 'pretty';
}

/**
 * Runs `one` for each argument, as Docker's rm and scale: every argument is tried, each failure
 * printed, and the command fails at the end if any did. `noun`: what the arguments name, plural.
 */
export async function forEachRef<T>(
  refs: readonly T[],
  noun: string,
  one: (ref: T) => Promise<void>,
): Promise<void> {
  let failed = 0;
  let last: unknown;
  for (const ref of refs) {
    try {
      await one(ref);
    } catch (err) {
      if (!(err instanceof OrcaError)) throw err;
      failed++;
      last = err;
      if (refs.length > 1) process.stderr.write(`orca: ${err.message}\n`);
    }
  }
  if (failed === 1 && refs.length === 1) throw last;
  if (failed > 0) {
    throw new OrcaError('ORCA_PARTIAL', `${failed} of ${refs.length} ${noun} failed (see above)`);
  }
}
