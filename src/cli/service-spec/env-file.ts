import { bad } from './problems.ts';

// Docker's env-file format (docker/cli pkg/kvfile): one KEY=VALUE per line; leading whitespace
// and a UTF-8 BOM are dropped; empty lines and lines starting with # are skipped; the value is
// taken as-is, quotes and trailing spaces included (Docker has declined to strip quotes, and a
// file must mean the same to both); a bare KEY takes its value from the environment and is
// left out when the variable is not set.

export type LookupEnv = (key: string) => string | undefined;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Parses the bytes of an env file; `file` is the name as the user wrote it, for messages. */
export function parseEnvFile(
  bytes: Uint8Array,
  file: string,
  lookup: LookupEnv,
  flag = '--env-file',
): string[] {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    bad(`${flag}: ${file} is not valid UTF-8`);
  }
  if (text.startsWith('\uFEFF')) text = text.slice(1);
  const out: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '').replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const key = eq === -1 ? line : line.slice(0, eq);
    if (key === '') bad(`${flag}: ${file} line ${i + 1}: "${line}" has no variable name`);
    if (/[ \t]/.test(key)) {
      bad(`${flag}: ${file} line ${i + 1}: "${key}" has whitespace in the variable name`);
    }
    if (eq !== -1) {
      out.push(line);
      return;
    }
    const value = lookup(key);
    if (value !== undefined) out.push(`${key}=${value}`);
  });
  return out;
}

/**
 * One `-e`/`--env`/`--env-add` value: KEY=VALUE as given, or a bare KEY that takes its value from
 * the environment. A bare KEY that is not set stays bare, as Docker passes it: it unsets KEY
 * (the engine drops such entries), and `mergeEnv` leaves it out after it has done so.
 */
export function parseEnvFlag(text: string, flag: string, lookup: LookupEnv): string {
  const eq = text.indexOf('=');
  const key = eq === -1 ? text : text.slice(0, eq);
  if (key === '') bad(`${flag}: "${text}" has no variable name (expected KEY=VALUE or KEY)`);
  if (/\s/.test(key)) bad(`${flag}: "${text}" has whitespace in the variable name`);
  if (eq !== -1) return text;
  const value = lookup(key);
  return value === undefined ? key : `${key}=${value}`;
}

export function envKey(entry: string): string {
  const eq = entry.indexOf('=');
  return eq === -1 ? entry : entry.slice(0, eq);
}

/**
 * Later entries win and move to the end, as Docker merges --env-file and --env; a bare KEY
 * removes KEY.
 */
export function mergeEnv(entries: readonly string[]): string[] {
  const byKey = new Map<string, string>();
  for (const entry of entries) {
    byKey.delete(envKey(entry));
    byKey.set(envKey(entry), entry);
  }
  return [...byKey.values()].filter((e) => e.includes('='));
}

/** `--label`/`--container-label`: KEY=VALUE, or KEY alone for an empty value (Docker's). */
export function parseLabel(text: string, flag: string): readonly [string, string] {
  const eq = text.indexOf('=');
  const key = eq === -1 ? text : text.slice(0, eq);
  if (key.trim() === '') bad(`${flag}: "${text}" has no label name (expected KEY=VALUE or KEY)`);
  return [key, eq === -1 ? '' : text.slice(eq + 1)];
}
