// The daemon's configuration file, as Docker's daemon.json: a JSON object whose keys are the
// daemon's long flag names. A setting may come from the file or from a flag, never both (Docker
// refuses that too: which one wins would be a guess). SIGHUP re-reads the file; what can change
// in a running daemon (the log level) changes, the rest waits for a restart and says so.

import { readFile } from 'node:fs/promises';
import { BadRequestError } from '../errors.ts';

export const DEFAULT_CONFIG_FILE = '/etc/orca/daemon.json';

/** The flags the file may set. */
export const configKeys = [
  'data-dir',
  'socket',
  'listen-addr',
  'advertise-addr',
  'docker-host',
  'node-report-interval',
  'mesh-bind-addr',
  'mesh-data-path',
  'mesh-threads',
  'log-level',
  'log-format',
] as const;

export type ConfigKey = (typeof configKeys)[number];
export type DaemonConfig = Partial<Record<ConfigKey, string>>;

/** What a running daemon can take from a reloaded file without a restart. */
export const reloadableKeys: readonly ConfigKey[] = ['log-level'];

/** Checks the file's text: a JSON object of known keys with string values. */
export function parseConfig(text: string, file: string): DaemonConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new BadRequestError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequestError(`${file}: must hold one JSON object, such as {"log-level": "debug"}`);
  }
  const config: DaemonConfig = {};
  for (const [key, v] of Object.entries(value)) {
    if (!(configKeys as readonly string[]).includes(key)) {
      throw new BadRequestError(`${file}: unknown key "${key}" (known: ${configKeys.join(', ')})`);
    }
    if (typeof v !== 'string') {
      throw new BadRequestError(`${file}: "${key}" must be a string, as its flag's value`);
    }
    config[key as ConfigKey] = v;
  }
  return config;
}

/**
 * Reads the file; a missing file is an empty configuration when it is the default path (most
 * daemons have none), an error when the user named it.
 */
export async function readConfig(file: string, named: boolean): Promise<DaemonConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !named) return {};
    throw new BadRequestError(`--config-file: cannot read ${file}: ${(err as Error).message}`);
  }
  return parseConfig(text, file);
}

/** The settings both the file and a flag give: an error naming them, as Docker. */
export function conflicts(config: DaemonConfig, flagsGiven: readonly ConfigKey[]): ConfigKey[] {
  return flagsGiven.filter((k) => config[k] !== undefined);
}

/** How a reloaded file differs from the one in force: applied now, or after a restart. */
export function reloadPlan(
  before: DaemonConfig,
  after: DaemonConfig,
): { readonly apply: DaemonConfig; readonly needRestart: ConfigKey[] } {
  const apply: DaemonConfig = {};
  const needRestart: ConfigKey[] = [];
  for (const key of configKeys) {
    if (before[key] === after[key]) continue;
    if (reloadableKeys.includes(key)) apply[key] = after[key];
    else needRestart.push(key);
  }
  return { apply, needRestart };
}
