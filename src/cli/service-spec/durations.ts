import { bad } from './problems.ts';

// Go's time.ParseDuration, as every Docker duration flag: a sequence of decimal numbers each with
// a unit. Orca keeps durations in whole milliseconds, so finer values are refused rather than
// silently rounded.

const unitNs: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign, as Go accepts
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** One week: no delay, window, monitor or timeout of Swarm's makes sense beyond it. */
export const maxDurationMs = 7 * 24 * 3600 * 1000;

const examples = '(examples: 300ms, 10s, 1m30s, 1h)';

/** Parses a Go duration into milliseconds: >= 0, whole milliseconds, at most `maxDurationMs`. */
export function parseDuration(text: string, flag: string): number {
  const ns = goDurationNs(text);
  if (ns === null) bad(`${flag}: "${text}" is not a duration ${examples}`);
  if (ns < 0n) bad(`${flag}: "${text}" is not a duration >= 0`);
  if (ns % 1_000_000n !== 0n) bad(`${flag}: "${text}" is not a whole number of milliseconds`);
  const ms = ns / 1_000_000n;
  if (ms > BigInt(maxDurationMs)) bad(`${flag}: "${text}" is more than 168h`);
  return Number(ms);
}

/** Go's grammar exactly (sign, "0" alone, fractions, repeated units); null when it rejects. */
export function goDurationNs(text: string): bigint | null {
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return null;
  let total = 0n;
  const part = /^(\d*)(?:\.(\d*))?([^\d.]+)/;
  while (s !== '') {
    const m = part.exec(s);
    if (m === null) return null;
    const whole = m[1] as string;
    const frac = m[2] ?? '';
    const unit = unitNs[m[3] as string];
    if ((whole === '' && frac === '') || unit === undefined) return null;
    total += BigInt(whole || '0') * unit;
    if (frac !== '') total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    s = s.slice(m[0].length);
  }
  return negative ? -total : total;
}

/** The shortest Go-style text for a duration in ms, for messages and help (5000 -> "5s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const rest = ms % 60_000;
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${rest > 0 ? `${rest / 1000}s` : ''}`;
}
