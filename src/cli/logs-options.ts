// `service logs` flags into a ServiceLogs request, as Docker reads them. `--since` is resolved
// here, against this machine's clock, as Docker's CLI does: "10m" means ten minutes before the
// command was typed, whoever serves it.

import type { ServiceLogsRequest } from '../api/control-wire.ts';
import { goDurationNs } from './service-spec/durations.ts';
import { bad, Problems } from './service-spec/problems.ts';

export interface LogsFlags {
  readonly follow?: boolean;
  readonly tail?: string;
  readonly since?: string;
  readonly timestamps?: boolean;
}

const sinceExamples = '(examples: 2013-01-02T13:23:37Z, 2013-01-02, 42m, 1h30m)';

/** `--tail N|all`: the last N lines of each task; undefined for all of them. */
export function parseTail(text: string): number | undefined {
  if (text === 'all') return undefined;
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    bad(`--tail: "${text}" is not a number of lines >= 0, or all`);
  }
  return Number(text);
}

/**
 * `--since`, as Docker's: a Unix timestamp (`1700000000.5`), a duration before `now` (Go's
 * syntax: `10m`, `1h30m`), an RFC 3339 time, or a date and time without a zone (`2013-01-02`,
 * `2013-01-02T13:23`, `2013-01-02T13:23:37`), which is local time. Returns RFC 3339 in UTC.
 */
export function parseSince(text: string, now: Date): string {
  const at = sinceTime(text, now);
  if (at === null || !Number.isFinite(at.getTime()))
    bad(`--since: "${text}" is not a time ${sinceExamples}`);
  return at.toISOString();
}

function sinceTime(text: string, now: Date): Date | null {
  if (/^\d+(\.\d+)?$/.test(text)) return new Date(Math.floor(Number(text) * 1000));
  const ns = goDurationNs(text);
  if (ns !== null) {
    if (ns < 0n) bad(`--since: "${text}" is a negative duration; give how long ago, as 10m`);
    return new Date(now.getTime() - Number(ns / 1_000_000n));
  }
  const m =
    /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})?)?$/.exec(
      text,
    );
  if (m === null) return null;
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone] = m;
  const ms = frac === '' ? 0 : Math.floor(Number(`0${frac}`) * 1000);
  const fields = [Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)] as const;
  const utc = new Date(Date.UTC(...fields, ms));
  // Date rolls 2013-02-30 over into March: a date that does not exist is refused instead.
  if (
    utc.getUTCFullYear() !== fields[0] ||
    utc.getUTCMonth() !== fields[1] ||
    utc.getUTCDate() !== fields[2] ||
    utc.getUTCHours() !== fields[3] ||
    utc.getUTCMinutes() !== fields[4] ||
    utc.getUTCSeconds() !== fields[5]
  ) {
    return null;
  }
  if (zone === undefined) return new Date(...fields, ms);
  const offsetMin =
    zone === 'Z' || zone === 'z'
      ? 0
      : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4)));
  return new Date(utc.getTime() - offsetMin * 60_000);
}

/** The request for SERVICE|TASK (sent first as a service); every bad flag reported at once. */
export function logsRequest(flags: LogsFlags, now: Date): Omit<ServiceLogsRequest, 'service'> {
  const problems = new Problems();
  const tail = problems.check(() => parseTail(flags.tail ?? 'all'));
  const since =
    flags.since === undefined
      ? undefined
      : problems.check(() => parseSince(flags.since ?? '', now));
  problems.throwIfAny();
  return {
    follow: flags.follow === true,
    timestamps: flags.timestamps === true,
    ...(tail === undefined ? {} : { tail }),
    ...(since === undefined ? {} : { since }),
  };
}
