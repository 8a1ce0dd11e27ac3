// A ServiceLogs request as the socket delivers it: any JSON. The CLI checked its flags, but other
// clients may not have, and a bad `since` or `tail` would otherwise reach every worker.

import type { WireLogOptions } from '../../api/dispatcher-wire.ts';
import { InvalidFlagsError } from '../../errors.ts';

export type LogTarget =
  | { readonly kind: 'service'; readonly ref: string }
  | { readonly kind: 'task'; readonly ref: string };

export interface LogQuery {
  readonly target: LogTarget;
  readonly options: WireLogOptions;
}

const rfc3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** The request checked, every problem named by its field at once (ORCA_BAD_REQUEST). */
export function parseLogsRequest(value: unknown): LogQuery {
  const req = (typeof value === 'object' && value !== null ? value : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const given = (field: string) => req[field] !== undefined && req[field] !== '';
  let target: LogTarget | null = null;
  if (given('service') === given('task')) {
    problems.push('service, task: give exactly one of them');
  } else {
    const kind = given('service') ? 'service' : 'task';
    const ref = req[kind];
    if (typeof ref === 'string') target = { kind, ref };
    else problems.push(`${kind}: must be a string`);
  }
  for (const flag of ['follow', 'timestamps']) {
    if (req[flag] !== undefined && typeof req[flag] !== 'boolean') {
      problems.push(`${flag}: must be true or false`);
    }
  }
  const tail = req.tail;
  if (tail !== undefined && (typeof tail !== 'number' || !Number.isSafeInteger(tail) || tail < 0)) {
    problems.push(`tail: ${JSON.stringify(tail)} is not a whole number >= 0`);
  }
  const since = req.since;
  if (
    since !== undefined &&
    (typeof since !== 'string' || !rfc3339.test(since) || Number.isNaN(Date.parse(since)))
  ) {
    problems.push(`since: ${JSON.stringify(since)} is not an RFC 3339 time`);
  }
  if (problems.length > 0 || target === null) throw new InvalidFlagsError(problems);
  return {
    target,
    options: {
      follow: req.follow === true,
      timestamps: req.timestamps === true,
      ...(typeof tail === 'number' ? { tail } : {}),
      ...(typeof since === 'string' ? { since } : {}),
    },
  };
}
