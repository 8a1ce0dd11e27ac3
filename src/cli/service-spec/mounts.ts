import { isAbsolute, resolve } from 'node:path';
import type { Mount } from '../../api/objects.ts';
import { bad } from './problems.ts';

// Docker's --mount: comma-separated key=value fields, CSV-quoted where a value holds a comma.
// type defaults to volume; readonly/ro may stand alone. Docker's per-type options (volume-*,
// bind-*, tmpfs-*, consistency) are refused by name rather than dropped: orca's Mount has no
// place for them yet, and a silently ignored option is worse than an error.

const unsupported = [
  'consistency',
  'bind-propagation',
  'bind-nonrecursive',
  'bind-recursive',
  'volume-subpath',
  'volume-nocopy',
  'volume-label',
  'volume-driver',
  'volume-opt',
  'image-subpath',
  'tmpfs-size',
  'tmpfs-mode',
];

const expected = 'type=bind|volume|tmpfs,source=...,target=/path[,readonly]';

/** Docker's volume names: two or more of [a-zA-Z0-9_.-], starting with a letter or digit. */
const volumeNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Go's strconv.ParseBool, which Docker uses for readonly=. */
function parseGoBool(text: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return null;
}

/** Splits one CSV record as Go's encoding/csv does for a single line. */
export function splitCsvLine(text: string, flag: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) bad(`${flag}: "${text}" has an unclosed quote`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i];
        i++;
      }
      if (i < text.length && text[i] !== ',') bad(`${flag}: "${text}" has text after a quote`);
    } else {
      const end = text.indexOf(',', i);
      field = end === -1 ? text.slice(i) : text.slice(i, end);
      if (field.includes('"')) bad(`${flag}: "${text}" has a quote inside a field`);
      i = end === -1 ? text.length : end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

/**
 * Parses one `--mount` value. A bind source starting with `./` (or `.`) is made absolute against
 * `cwd`, as Docker's CLI does; the daemon sees only absolute paths.
 */
export function parseMount(text: string, flag: string, cwd: string): Mount {
  let type = 'volume';
  let source: string | undefined;
  let target: string | undefined;
  let readOnly = false;
  for (const field of splitCsvLine(text, flag)) {
    const eq = field.indexOf('=');
    const key = (eq === -1 ? field : field.slice(0, eq)).toLowerCase();
    const value = eq === -1 ? undefined : field.slice(eq + 1);
    if (value === undefined) {
      if (key === 'readonly' || key === 'ro') {
        readOnly = true;
        continue;
      }
      bad(`${flag}: "${field}" in "${text}" is not key=value (expected ${expected})`);
    }
    switch (key) {
      case 'type':
        type = value.toLowerCase();
        break;
      case 'source':
      case 'src':
        source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        target = value;
        break;
      case 'readonly':
      case 'ro': {
        const b = parseGoBool(value);
        if (b === null) bad(`${flag}: "${field}" in "${text}" is not ${key}=true or ${key}=false`);
        readOnly = b;
        break;
      }
      default:
        if (unsupported.includes(key)) {
          bad(`${flag}: "${key}" in "${text}" is a Docker mount option orca does not support yet`);
        }
        bad(`${flag}: "${key}" in "${text}" is not a mount option (expected ${expected})`);
    }
  }
  if (type !== 'bind' && type !== 'volume' && type !== 'tmpfs') {
    bad(`${flag}: type "${type}" in "${text}" is not one of bind, volume, tmpfs`);
  }
  if (target === undefined || target === '') bad(`${flag}: "${text}" has no target (target=/path)`);
  if (!target.startsWith('/'))
    bad(`${flag}: target "${target}" in "${text}" is not an absolute path`);
  if (source === '') source = undefined;
  if (type === 'bind') {
    if (source === undefined) bad(`${flag}: "${text}" is a bind mount without a source`);
    if (source === '.' || source.startsWith('./')) source = resolve(cwd, source);
    if (!isAbsolute(source)) {
      bad(`${flag}: bind source "${source}" in "${text}" is not an absolute path (or ./relative)`);
    }
  } else if (type === 'tmpfs') {
    if (source !== undefined) bad(`${flag}: "${text}" is a tmpfs mount, which takes no source`);
  } else if (source !== undefined && !volumeNameRe.test(source)) {
    bad(
      `${flag}: volume name "${source}" in "${text}" is not [a-zA-Z0-9][a-zA-Z0-9_.-]+` +
        (source.startsWith('/') ? ' (for a host path use type=bind)' : ''),
    );
  }
  return { type, ...(source === undefined ? {} : { source }), target, readOnly };
}
