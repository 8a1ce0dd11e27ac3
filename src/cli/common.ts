import type { Command } from 'commander';
import { InvalidFlagsError } from '../errors.ts';
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
